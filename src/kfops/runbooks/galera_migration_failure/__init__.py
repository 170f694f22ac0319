"""The galera-migration-failure ladder: a schema migration failed mid-upgrade on MariaDB Galera."""

from kfops.runbooks.galera_migration_failure.ladder import LADDER

__all__ = ["LADDER"]
