"""Rungs about what the migration did to the database: DDL in flight or blocked, schemas that
diverged between nodes, the migration tools' bookkeeping, MLMD's version, tables without a key."""

from __future__ import annotations

from kfops.diagnostics.galera.sessions import SessionReport
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.galera_migration_failure.probes import (
    CLUSTER,
    MIGRATIONS,
    MLMD,
    SCHEMAS,
    SESSIONS,
    cluster_of,
    migrations_of,
    mlmd_of,
    schemas_of,
    sessions_of,
)


# ---------------------------------------------------------------- galera-ddl
def _osu(f: Facts) -> str:
    methods = sorted({f"{n.name}={n.osu_method}" for n in cluster_of(f).readable if n.osu_method})
    return "wsrep_OSU_method " + (", ".join(methods) or "unknown")


def _blocked_say(f: Facts) -> str:
    report: SessionReport = sessions_of(f)
    ddl = [w for w in report.waiters if w.ddl]
    others = len(report.waiters) - len(ddl)
    parts = []
    if ddl:
        parts.append("DDL waiting: " + "; ".join(w.describe() for w in ddl[:3]))
    if others:
        parts.append(f"{others} more sessions wait behind it")
    if report.holders:
        holders = "; ".join(
            f"{h.session.describe()} [{'exact, ' if h.how == 'metadata_lock_info' else 'likely: '}{h.how}"
            + (f": {h.lock}]" if h.lock else "]")
            for h in report.holders[:3]
        )
        parts.append(f"held by {holders}")
    else:
        parts.append("holder not identified (install the metadata_lock_info plugin to see it)")
    return "; ".join(parts) + f" ({_osu(f)})"


DDL = Rung(
    id="galera-ddl",
    question="Is a DDL statement running long, or waiting for a metadata lock, and who holds it?",
    probes=(SESSIONS, CLUSTER),
    branches=(
        Branch(
            "unreadable",
            Status.ERROR,
            "no node's processlist could be read",
            lambda f: (
                not cluster_of(f).readable or len(sessions_of(f).unreadable) == len(cluster_of(f).nodes)
            ),
            lambda f: "no node's processlist could be read (see galera-reachable)",
        ),
        Branch(
            "blocked",
            Status.FAIL,
            "sessions wait for a metadata lock: a migration's ALTER queues behind an open transaction, "
            "and every later query on the table queues behind the ALTER",
            lambda f: bool(sessions_of(f).waiters),
            _blocked_say,
        ),
        Branch(
            "long-ddl",
            Status.FAIL,
            "a DDL has run longer than galera_long_ddl_s: under TOI nothing commits cluster-wide meanwhile",
            lambda f: bool(sessions_of(f).long_ddl),
            lambda f: (
                "long DDL: " + "; ".join(s.describe() for s in sessions_of(f).long_ddl[:3]) + f" ({_osu(f)})"
            ),
        ),
    ),
    default=Branch(
        "none",
        Status.OK,
        "no DDL is running long or waiting",
        lambda f: True,
        lambda f: f"no DDL running long or waiting for a lock ({_osu(f)})",
    ),
)


# ---------------------------------------------------------------- galera-schema
SCHEMA = Rung(
    id="galera-schema",
    question="Do all nodes have the same tables, columns and indexes?",
    probes=(SCHEMAS,),
    branches=(
        Branch(
            "unknown",
            Status.SKIPPED,
            "fewer than two nodes could be read, so there is nothing to compare",
            lambda f: len(schemas_of(f).nodes) < 2,
            lambda f: f"only {len(schemas_of(f).nodes)} node(s) could be read: no comparison possible",
        ),
        Branch(
            "diverged",
            Status.FAIL,
            "the nodes' schemas differ: a DDL ran on some nodes only (RSU, or an ignored apply error)",
            lambda f: bool(schemas_of(f).differences),
            lambda f: (
                "schemas differ between nodes: "
                + "; ".join(d.describe() for d in schemas_of(f).differences[:5])
                + (
                    f" (+{len(schemas_of(f).differences) - 5} more)"
                    if len(schemas_of(f).differences) > 5
                    else ""
                )
            ),
        ),
        Branch(
            "no-schemas",
            Status.NO_DATA,
            "no application schema found",
            lambda f: not schemas_of(f).schemas,
            lambda f: (
                "no application schema found (searched every non-system schema, or those named with --schema)"
            ),
        ),
    ),
    default=Branch(
        "same", Status.OK, "every node has the same schema", lambda f: True, lambda f: _same_say(f)
    ),
)


def _same_say(f: Facts) -> str:
    report = schemas_of(f)
    tables = len(report.reference.tables) if report.reference else 0
    return f"{len(report.nodes)} nodes agree on {tables} tables in {', '.join(report.schemas)}"


# ---------------------------------------------------------------- galera-migrations
def _entries(f: Facts) -> str:
    m = migrations_of(f)
    parts = [e.describe() for e in m.entries] + [k.describe() for k in m.kfp]
    return "; ".join(parts)


MIGRATION_STATE = Rung(
    id="galera-migrations",
    question="What do the migration tools' bookkeeping tables say: clean, dirty or failed?",
    probes=(MIGRATIONS,),
    branches=(
        Branch(
            "dirty",
            Status.FAIL,
            "golang-migrate is dirty or Flyway recorded a failed migration: the migration stopped half-way",
            lambda f: bool(migrations_of(f).failed()),
            lambda f: "; ".join(e.describe() for e in migrations_of(f).failed()),
        ),
        Branch(
            "kfp-half-upgraded",
            Status.FAIL,
            "KFP's UUID columns are partly shrunk: its 2.15 upgrade stopped half-way",
            lambda f: any(k.generation == "half-upgraded" for k in migrations_of(f).kfp),
            lambda f: "; ".join(
                k.describe() for k in migrations_of(f).kfp if k.generation == "half-upgraded"
            ),
        ),
        Branch(
            "unreadable",
            Status.ERROR,
            "a bookkeeping table could not be read: a dirty or failed migration cannot be ruled out",
            lambda f: bool(migrations_of(f).unreadable),
            lambda f: (
                "could not read " + "; ".join(f"{s}.{t} ({why})" for s, t, why in migrations_of(f).unreadable)
            ),
        ),
        Branch(
            "none",
            Status.NO_DATA,
            "no migration bookkeeping found",
            lambda f: not migrations_of(f).entries and not migrations_of(f).kfp,
            lambda f: (
                "no schema_migrations, flyway_schema_history, alembic_version, MLMDEnv or KFP tables in "
                + (", ".join(migrations_of(f).schemas) or "any schema")
            ),
        ),
    ),
    default=Branch("clean", Status.OK, "every migration recorded as complete", lambda f: True, _entries),
)


# ---------------------------------------------------------------- mlmd-schema
def _mlmd_versions(f: Facts) -> list[tuple[str, int]]:
    out = []
    for entry in migrations_of(f).mlmd():
        try:
            out.append((entry.schema, int(entry.version)))
        except ValueError:
            continue
    return out


def _mlmd_say(f: Facts) -> str:
    expected = mlmd_of(f)
    found = ", ".join(f"{s}: {v}" for s, v in _mlmd_versions(f))
    return (
        f"MLMD schema version {found}; the deployed metadata server ({expected.image or '?'}) "
        f"expects {expected.expected} ({expected.source})"
    )


MLMD_SCHEMA = Rung(
    id="mlmd-schema",
    question="Does MLMD's schema version match what the deployed metadata server expects?",
    probes=(MIGRATIONS, MLMD),
    branches=(
        Branch(
            "unreadable",
            Status.ERROR,
            "MLMDEnv exists but could not be read",
            lambda f: mlmd_of(f).deployed and any(t == "MLMDEnv" for _, t, _ in migrations_of(f).unreadable),
            lambda f: (
                "could not read "
                + "; ".join(f"{s}.{t} ({why})" for s, t, why in migrations_of(f).unreadable if t == "MLMDEnv")
            ),
        ),
        Branch(
            "not-applicable",
            Status.SKIPPED,
            "no MLMDEnv table, or no metadata server deployed",
            lambda f: not _mlmd_versions(f) or not mlmd_of(f).deployed,
            lambda f: "no MLMD schema (MLMDEnv) found or no metadata-grpc-deployment: not applicable",
        ),
        Branch(
            "behind",
            Status.FAIL,
            "the database is older than the server expects: the upgrade did not finish",
            lambda f: any(v < mlmd_of(f).expected for _, v in _mlmd_versions(f)),
            lambda f: _mlmd_say(f) + " — the schema upgrade did not finish",
        ),
        Branch(
            "ahead",
            Status.FAIL,
            "the database is newer than the server: a rollback of the server without the database",
            lambda f: any(v > mlmd_of(f).expected for _, v in _mlmd_versions(f)),
            lambda f: _mlmd_say(f) + " — the server was rolled back but the database was not",
        ),
    ),
    default=Branch("match", Status.OK, "versions match", lambda f: True, _mlmd_say),
)


# ---------------------------------------------------------------- galera-primary-keys
def _no_pk(f: Facts) -> list[str]:
    return [f"{s}.{t}" for s, t in schemas_of(f).without_primary_key()]


PRIMARY_KEYS = Rung(
    id="galera-primary-keys",
    question="Does every table have a primary key (Galera cannot replicate tables without one safely)?",
    probes=(SCHEMAS,),
    branches=(
        Branch(
            "unknown",
            Status.SKIPPED,
            "no node could be read",
            lambda f: not schemas_of(f).nodes,
            lambda f: "no node's tables could be read (see galera-reachable)",
        ),
        Branch(
            "missing",
            Status.WARN,
            "tables without a primary key: row events apply by full scans and may diverge",
            lambda f: bool(_no_pk(f)),
            lambda f: f"{len(_no_pk(f))} tables without a primary key: {', '.join(_no_pk(f)[:8])}",
        ),
    ),
    default=Branch(
        "all-keyed",
        Status.OK,
        "every table has a primary key",
        lambda f: True,
        lambda f: f"every table in {', '.join(schemas_of(f).schemas) or 'no schema'} has a primary key",
    ),
)
