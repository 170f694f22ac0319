"""The probes of the galera-migration-failure ladder: each read named once, shared by the rungs."""

from __future__ import annotations

from kfops.diagnostics.context import ProbeContext
from kfops.diagnostics.galera.backups import Backups, read_backups
from kfops.diagnostics.galera.migrations import MigrationReport, read_migrations
from kfops.diagnostics.galera.nodes import ClusterState, read_cluster
from kfops.diagnostics.galera.schema import SchemaReport, read_schemas
from kfops.diagnostics.galera.sessions import SessionReport, read_sessions
from kfops.diagnostics.kubeflow.migration_jobs import MigrationJobs, read_migration_jobs
from kfops.diagnostics.kubeflow.mlmd import MlmdExpectation, read_mlmd_expectation
from kfops.model import Facts, Observed, Probe


def _configured(ctx: ProbeContext) -> Observed:
    return Observed(ctx.galera.nodes() if ctx.galera is not None else ())


CONFIGURED = Probe("galera-configured", "the node list (settings, --galera-node, or discovery)", _configured)
CLUSTER = Probe(
    "galera-cluster", "SHOW GLOBAL STATUS LIKE 'wsrep%' and wsrep variables on every node", read_cluster
)
SESSIONS = Probe(
    "galera-sessions",
    "information_schema.PROCESSLIST, INNODB_TRX and METADATA_LOCK_INFO on every node",
    read_sessions,
)
SCHEMAS = Probe(
    "galera-schemas", "information_schema SCHEMATA, TABLES, COLUMNS, STATISTICS on every node", read_schemas
)
MIGRATIONS = Probe(
    "galera-migrations",
    "schema_migrations, flyway_schema_history, alembic_version, MLMDEnv in each schema (one healthy node)",
    read_migrations,
)
JOBS = Probe(
    "migration-jobs",
    "GET /apis/batch/v1/namespaces/{app namespace}/jobs, its pods and the failed pod's log",
    read_migration_jobs,
)
MLMD = Probe(
    "mlmd-expectation",
    "GET /apis/apps/v1/namespaces/{app namespace}/deployments/metadata-grpc-deployment",
    read_mlmd_expectation,
)
BACKUPS = Probe(
    "galera-backups",
    "GET /apis/k8s.mariadb.com/v1alpha1/namespaces/{ns}/backups and the Jobs of the scheduled ones; "
    "with settings.galera_backup_cronjob, that CronJob and its Jobs",
    read_backups,
)


def cluster_of(f: Facts) -> ClusterState:
    value: ClusterState = f[CLUSTER]
    return value


def sessions_of(f: Facts) -> SessionReport:
    value: SessionReport = f[SESSIONS]
    return value


def schemas_of(f: Facts) -> SchemaReport:
    value: SchemaReport = f[SCHEMAS]
    return value


def migrations_of(f: Facts) -> MigrationReport:
    value: MigrationReport = f[MIGRATIONS]
    return value


def jobs_of(f: Facts) -> MigrationJobs:
    value: MigrationJobs = f[JOBS]
    return value


def mlmd_of(f: Facts) -> MlmdExpectation:
    value: MlmdExpectation = f[MLMD]
    return value


def backups_of(f: Facts) -> Backups:
    value: Backups = f[BACKUPS]
    return value
