"""The galera-migration-failure ladder assembled: rungs in order, causes in order, proposals."""

from __future__ import annotations

from kfops.diagnostics.context import ProbeContext
from kfops.model import Cause, Ladder
from kfops.runbooks.causes import answered, summary_of
from kfops.runbooks.galera_migration_failure.cluster_rungs import (
    MEMBERSHIP,
    NODES,
    REACHABLE,
    REPLICATION,
    select_targets,
)
from kfops.runbooks.galera_migration_failure.kube_rungs import BACKUP, MIGRATION_JOB
from kfops.runbooks.galera_migration_failure.proposals import propose
from kfops.runbooks.galera_migration_failure.schema_rungs import (
    DDL,
    MIGRATION_STATE,
    MLMD_SCHEMA,
    PRIMARY_KEYS,
    SCHEMA,
)

CAUSES = (
    Cause(
        "quorum-lost",
        "the cluster lost quorum: no Primary component, every query fails",
        answered("galera-membership", "non-primary", "split"),
        summary_of("galera-membership", "Galera lost quorum"),
    ),
    Cause(
        "migration-dirty",
        "a migration stopped half-way (golang-migrate dirty, Flyway failed)",
        answered("galera-migrations", "dirty"),
        summary_of("galera-migrations", "A schema migration failed mid-upgrade"),
    ),
    Cause(
        "mlmd-schema-mismatch",
        "MLMD's schema version does not match the deployed metadata server",
        answered("mlmd-schema", "behind", "ahead"),
        summary_of("mlmd-schema", "MLMD's schema does not match its server"),
    ),
    Cause(
        "kfp-half-upgraded",
        "KFP's schema upgrade stopped half-way",
        answered("galera-migrations", "kfp-half-upgraded"),
        summary_of("galera-migrations", "KFP's schema upgrade stopped half-way"),
    ),
    Cause(
        "schema-diverged",
        "the nodes' schemas differ (RSU DDL on some nodes, or an ignored apply error)",
        answered("galera-schema", "diverged"),
        summary_of("galera-schema", "The nodes' schemas have diverged"),
    ),
    Cause(
        "ddl-blocked",
        "a migration's DDL is blocked by, or blocking, other sessions",
        answered("galera-ddl", "blocked", "long-ddl"),
        summary_of("galera-ddl", "A DDL is blocked or blocking"),
    ),
    Cause(
        "migration-job-failed",
        "the migration Job failed, but left no dirty state behind",
        lambda found: (
            found.branch("migration-job") == "failed"
            and found.branch("galera-migrations") in ("clean", "none")
        ),
        summary_of("migration-job", "The migration Job failed"),
        confidence="medium",
    ),
    Cause(
        "node-down",
        "a Galera node is down; the rest keeps quorum",
        answered("galera-membership", "node-missing"),
        summary_of("galera-membership", "A Galera node is down"),
    ),
    Cause(
        "node-not-synced",
        "a Galera node is not Synced",
        answered("galera-membership", "not-synced"),
        summary_of("galera-membership", "A Galera node is not Synced"),
        confidence="medium",
    ),
    Cause(
        "tables-without-primary-key",
        "tables without a primary key, which Galera cannot replicate safely",
        answered("galera-primary-keys", "missing"),
        summary_of("galera-primary-keys", "Tables without a primary key"),
        confidence="medium",
    ),
)


def _check_target(ctx: ProbeContext, name: str) -> None:
    """The target is the cluster kfops was pointed at; there is nothing else to look up."""


LADDER = Ladder(
    id="galera-migration-failure",
    title="Schema migration failed mid-upgrade on MariaDB Galera",
    meaning="A schema migration (KFP's startup upgrade, MLMD, Model Registry, Katib or a migration Job) "
    "failed part-way on the MariaDB Galera cluster behind Kubeflow: the schema is dirty, diverged "
    "between nodes or blocked by a lock, or the cluster itself lost a node or quorum.",
    impact="Pipelines, metadata and the model registry stop: their servers crash-loop on start-up "
    "migrations or time out on locks; a long TOI DDL blocks every write in the cluster. It is the "
    "worst day: the way back is the last good backup, which is why backups and restore drills exist.",
    target_input="galera-node",
    subject="the Galera cluster",
    rungs=(
        REACHABLE,
        MEMBERSHIP,
        REPLICATION,
        DDL,
        SCHEMA,
        MIGRATION_STATE,
        MLMD_SCHEMA,
        MIGRATION_JOB,
        PRIMARY_KEYS,
        BACKUP,
    ),
    causes=CAUSES,
    propose=propose,
    check_target=_check_target,
    sweep=NODES,
    select_targets=select_targets,
    aliases=("galera", "galera-migration", "db-migration"),
    usage="Run `kfops diagnose galera-migration-failure --galera-node HOST:PORT …` (one per node; or set "
    "`galera_nodes`, or `galera_mariadb` to discover them from a mariadb-operator MariaDB) with the "
    "read-only user in `KFOPS_GALERA_USER` / `KFOPS_GALERA_PASSWORD` — never as arguments. "
    "`--schema NAME …` limits "
    "the schema rungs to those schemas (default: every non-system schema). Add `--verbose` for the evidence "
    "and the exact SQL. The database user needs only `GRANT SELECT, PROCESS ON *.*`.",
    # the Galera alerts of the mysqld_exporter mixin
    alerts=("MySQLGaleraNotReady", "MySQLGaleraOutOfSync", "MySQLGaleraDonorFallingBehind"),
    mitigation=(
        "Stop the writers (scale the KFP API server, persistence agent, metadata server and the "
        "migration Job "
        "to zero) so the damage does not grow.",
        "If the cluster lost quorum, bootstrap only the most advanced node; if a node is down, bring it back "
        "before any migration.",
        "If a DDL is blocked, end the session holding the metadata lock (galera.kill-query, two approvers).",
        "If the schema is dirty, diverged or half-upgraded: restore the last good backup that predates the "
        "migration (mariadb-operator Restore), then re-run a clean migration Job.",
        "Only force golang-migrate's version after repairing the schema by hand, never instead of it.",
    ),
)
