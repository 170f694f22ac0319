"""Read-only probes of a MariaDB Galera cluster: membership, sessions, schemas, migrations."""
