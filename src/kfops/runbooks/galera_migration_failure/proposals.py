"""What the galera-migration-failure ladder proposes for each cause.

Restoring a database is never executed by kfops: it is the runbook's answer, written out as the
exact mariadb-operator Restore to apply, with the backup's name and age. Only two narrow actions
are executable behind the gate: re-running a failed migration Job when the schema is clean, and
ending the one session that blocks a DDL (high risk: two approvers).
"""

from __future__ import annotations

from kfops.diagnostics.galera.backups import CRONJOB, Backup, retention_text
from kfops.diagnostics.galera.nodes import ClusterState
from kfops.diagnostics.galera.sessions import Holder
from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.kubeflow.migration_jobs import MigrationJob
from kfops.model import Mode, Proposal, ProposalInput, Risk
from kfops.runbooks.galera_migration_failure.probes import (
    BACKUPS,
    CLUSTER,
    JOBS,
    MIGRATIONS,
    SCHEMAS,
    SESSIONS,
)

#: causes whose damage is in the data or schema: the runbook's answer is a restore
RESTORE_CAUSES = ("migration-dirty", "mlmd-schema-mismatch", "kfp-half-upgraded", "schema-diverged")
MAX_KILLS = 3


_SCALE_DOWN = (
    "Scale the writers to zero: kubectl -n kubeflow scale deploy ml-pipeline "
    "metadata-grpc-deployment "
    "ml-pipeline-persistenceagent --replicas=0"
)
_RERUN_AFTER = (
    "Re-run the migration with a clean Job (kfops proposes job.rerun once the schema is clean), "
    "then scale the writers back up."
)


def _no_backup(why: tuple[str, ...]) -> Proposal:
    return Proposal(
        action="galera.restore-backup",
        target="galera",
        title="No good backup found: take one now, then repair forward by hand",
        risk=Risk.HIGH,
        mode=Mode.MANUAL,
        rationale=why,
        steps=(
            "Take a logical backup of the damaged schemas before changing anything "
            "(mariadb-dump --single-transaction --routines <schema>).",
            "Repair forward: finish or undo the half-applied migration by hand, comparing with the "
            "migration's up/down files.",
            "Then schedule backups (mariadb-operator Backup with spec.schedule) and a restore drill.",
        ),
    )


def _restore_manifest(backup: Backup, name: str) -> tuple[str, ...]:
    """The mariadb-operator Restore, and for a scheduled Backup why it names a time.

    A scheduled Backup holds one file per run; the operator restores the file whose date is closest
    to ``targetRecoveryTime``, or the newest when it is unset (mariadb-operator
    ``pkg/backup`` GetBackupTargetFile) — which may be a run taken after the migration broke the
    schema. So a scheduled run is pinned by its Job's start time.
    """
    pinned = backup.run_started or backup.completed if backup.schedule else None
    target = f"  targetRecoveryTime: {pinned:%Y-%m-%dT%H:%M:%SZ}\n" if pinned else ""
    manifest = (
        "kubectl apply -f - <<'EOF'\n"
        "apiVersion: k8s.mariadb.com/v1alpha1\n"
        "kind: Restore\n"
        f"metadata:\n  name: {name}\n  namespace: {backup.namespace}\n"
        f"spec:\n  mariaDbRef:\n    name: {backup.mariadb}\n  backupRef:\n    name: {backup.name}\n"
        f"{target}"
        "EOF"
    )
    if not pinned:
        return (manifest,)
    return (
        manifest,
        f"targetRecoveryTime picks the file of run {backup.run or 'the last successful run'}: the "
        "operator restores the file closest to it, and without it the newest, which may be from "
        "after the migration. The run is younger than the Backup's maxRetention "
        f"({retention_text(backup.retention)}), so its file has not been deleted by a later run.",
    )


def _restore_by_hand(backup: Backup) -> tuple[str, ...]:
    """A CronJob of one's own: kfops cannot know the tool's restore command, only which run."""
    run = f"Job {backup.namespace}/{backup.run}" if backup.run else "its last successful run"
    return (
        f"Restore the dump made by {run} of CronJob {backup.namespace}/{backup.name} "
        f"(image {backup.image or 'unknown'}) with that tool's own restore procedure — not a newer "
        "run: those were taken after the migration broke the schema.",
    )


def _restore(backup: Backup | None, inp: ProposalInput, why: tuple[str, ...]) -> Proposal:
    if backup is None:
        return _no_backup(why)
    assert backup.completed is not None
    name = f"restore-{backup.name}"[:63]
    restore = _restore_by_hand(backup) if backup.source == CRONJOB else _restore_manifest(backup, name)
    watch = (
        (f"Watch it: kubectl -n {backup.namespace} get restore {name} -w (Complete=True)",)
        if backup.source != CRONJOB
        else ()
    )
    run = f" run {backup.run}" if backup.run else ""
    return Proposal(
        action="galera.restore-backup",
        target=f"{backup.source.lower()}/{backup.namespace}/{backup.name}",
        title=f"Restore from {backup.source} {backup.name}{run} "
        f"(completed {age(backup.completed, inp.facts.now)} ago) — by hand",
        risk=Risk.HIGH,
        mode=Mode.MANUAL,
        rationale=why,
        preconditions=(
            "the applications writing to the database are scaled to zero (KFP api-server, persistence "
            "agent, metadata-grpc, the migration Job)",
            f"everything written after {backup.completed:%Y-%m-%d %H:%M}Z is lost or must be replayed",
        ),
        steps=(_SCALE_DOWN, *restore, *watch, _RERUN_AFTER),
        rollback="none: a restore replaces the data; keep a dump of the damaged state first",
        params={
            "backup": backup.name,
            "namespace": backup.namespace,
            "mariadb": backup.mariadb,
            **({"run": backup.run} if backup.run else {}),
        },
    )


def _force_version(inp: ProposalInput, why: tuple[str, ...]) -> list[Proposal]:
    out = []
    for entry in inp.facts[MIGRATIONS].failed():
        if entry.tool != "golang-migrate":
            continue
        try:
            previous = int(entry.version) - 1
        except ValueError:
            continue
        out.append(
            Proposal(
                action="galera.force-migration-version",
                target=f"schema/{entry.schema}",
                title=f"Clear golang-migrate's dirty flag on {entry.schema} (version {entry.version})"
                " — by hand",
                risk=Risk.HIGH,
                mode=Mode.MANUAL,
                rationale=why,
                preconditions=(
                    f"you have checked by hand which statements of migration {entry.version} were applied "
                    "and undone them (or finished them)",
                ),
                steps=(
                    "WARNING: forcing the version only edits the bookkeeping row; it does not repair the "
                    "schema. Forcing past a half-applied migration leaves the damage in place for ever.",
                    f"If migration {entry.version} is fully undone: "
                    'migrate -database "$DSN" -path <migrations> '
                    f"force {previous}",
                    'If it was completed by hand: migrate -database "$DSN" -path <migrations> '
                    f"force {entry.version}",
                    "Then re-run the migration Job.",
                ),
                params={"schema": entry.schema, "version": entry.version},
            )
        )
    return out


def _rerun(job: MigrationJob, inp: ProposalInput, why: tuple[str, ...]) -> Proposal:
    # the schemas whose tool refuses to run half-way (golang-migrate dirty, a failed Flyway row)
    tracked = (
        sorted({e.schema for e in inp.facts[MIGRATIONS].entries if e.tool in ("golang-migrate", "flyway")})
        if inp.facts.get(MIGRATIONS)
        else []
    )
    # only a schema the Job names (in its name or labels) is the one it migrates: checking an
    # unrelated schema's bookkeeping would refuse, or allow, for the wrong reason
    named = " ".join((job.name, *job.labels.values())).lower()
    tracked = [s for s in tracked if s.lower() in named or s.lower().replace("_", "-") in named]
    params: dict[str, object] = {"namespace": job.namespace, "job": job.name, "uid": job.uid}
    if len(tracked) == 1 and inp.facts.get(CLUSTER) is not None:
        params["galeraNodes"] = [n.address for n in inp.facts[CLUSTER].nodes]
        params["schema"] = tracked[0]
    return Proposal(
        action="job.rerun",
        target=f"job/{job.namespace}/{job.name}",
        title=f"Re-run migration Job {job.ref} from its own template",
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            f"Job {job.ref} (uid {job.uid}) is still failed",
            "the schema is not half-migrated (kfops re-checks golang-migrate's dirty flag and Flyway's "
            "newest row on every node before executing)",
        ),
        rollback="the new Job only re-runs the same migration; if it fails again, restore from backup",
        params=params,
    )


def _kill(holder: Holder, why: tuple[str, ...]) -> Proposal:
    s = holder.session
    connection = not s.info  # idle in a transaction: only ending the session releases its locks
    verb = "KILL CONNECTION" if connection else "KILL QUERY"
    what = f"'{s.info[:80]}'" if s.info else "idle session holding an open transaction"
    return Proposal(
        action="galera.kill-query",
        target=f"galera/{s.node}/{s.id}",
        title=f"{verb} {s.id} on {s.node}: {what}, {s.seconds}s old ({s.user})",
        risk=Risk.HIGH,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            f"thread {s.id} on {s.node} is still the same session ({s.user}) running the same statement",
        ),
        rollback="none: the killed transaction is rolled back; its client must retry",
        params={
            "node": s.node,
            "threadId": s.id,
            "connection": connection,
            "user": s.user,
            "db": s.db,
            "info": s.info,
            "seconds": s.seconds,
            "state": s.state,
        },
    )


def _bootstrap(cluster: ClusterState, why: tuple[str, ...]) -> Proposal:
    readable = sorted(cluster.readable, key=lambda n: n.last_committed, reverse=True)
    best = readable[0] if readable else None
    advanced = (
        f"{best.label} has the highest wsrep_last_committed ({best.last_committed}) "
        "of the nodes kfops could read"
        if best
        else "no node could be read"
    )
    return Proposal(
        action="galera.bootstrap",
        target="galera",
        title="Restore quorum: bootstrap the most advanced node — by hand, after checking the others "
        "are down",
        risk=Risk.HIGH,
        mode=Mode.MANUAL,
        rationale=why,
        preconditions=("the unreachable nodes are really down (not partitioned and still writing)",),
        steps=(
            advanced + ".",
            "On every node that is down, read grastate.dat (seqno, safe_to_bootstrap) or run "
            "mariadbd --wsrep-recover and note the 'Recovered position' seqno.",
            "Bootstrap only the node with the highest seqno: if it is running non-Primary, "
            "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES' on it; if all are down, set "
            "safe_to_bootstrap: 1 in its grastate.dat and start it with --wsrep-new-cluster.",
            "With mariadb-operator, let spec.galera.recovery do this (check status.galeraRecovery); do not "
            "bootstrap a second node — that makes two clusters.",
            "Start the others normally; they rejoin by IST or SST.",
        ),
    )


def _rejoin(cluster: ClusterState, why: tuple[str, ...]) -> Proposal:
    gone = [n.address for n in cluster.unreadable] or ["the missing node"]
    return Proposal(
        action="galera.rejoin-node",
        target="galera/" + ",".join(gone),
        title=f"Bring {', '.join(gone)} back: it rejoins by IST/SST — by hand",
        risk=Risk.MEDIUM,
        mode=Mode.MANUAL,
        rationale=why,
        steps=(
            f"Find why {', '.join(gone)} is down: its pod's events and previous log "
            "(kubectl logs --previous).",
            "Start it normally (never with --wsrep-new-cluster): it rejoins the Primary component by "
            "IST, or SST "
            "when the gap is beyond the gcache.",
            "Do not run migrations until the cluster is back to its expected size.",
        ),
    )


def _resync(inp: ProposalInput, why: tuple[str, ...]) -> Proposal:
    report = inp.facts[SCHEMAS]
    return Proposal(
        action="galera.resync-node",
        target="galera",
        title="Make the diverged node(s) consistent again by a full state transfer — by hand",
        risk=Risk.HIGH,
        mode=Mode.MANUAL,
        rationale=why,
        steps=(
            "Differences: " + "; ".join(d.describe() for d in report.differences[:5]),
            "Decide which schema is right (the migration's target). If the change was an RSU DDL meant for "
            "every node, run the same statement with wsrep_OSU_method=RSU on each remaining node, "
            "one at a time.",
            "Otherwise force a full SST of the wrong node: stop it, move its grastate.dat away, start it; it "
            "copies a Synced node's data.",
        ),
    )


def _add_keys(inp: ProposalInput, why: tuple[str, ...]) -> Proposal:
    tables = [f"{s}.{t}" for s, t in inp.facts[SCHEMAS].without_primary_key()]
    return Proposal(
        action="galera.add-primary-key",
        target="galera",
        title=f"Add a primary key to {len(tables)} table(s) — by the schema's owner",
        risk=Risk.MEDIUM,
        mode=Mode.MANUAL,
        rationale=why,
        steps=tuple(
            f"ALTER TABLE {t} ADD COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY "
            "(or a natural key; ship it as a migration, not by hand)"
            for t in tables[:8]
        ),
    )


def propose(inp: ProposalInput) -> tuple[Proposal, ...]:
    found, facts = inp.findings, inp.facts
    cause = inp.cause
    out: list[Proposal] = []
    if cause == "quorum-lost":
        out.append(_bootstrap(facts[CLUSTER], found.fingerprints("galera-membership", "galera-reachable")))
    elif cause in ("node-down",):
        out.append(_rejoin(facts[CLUSTER], found.fingerprints("galera-membership", "galera-reachable")))
    elif cause == "ddl-blocked":
        why = found.fingerprints("galera-ddl")
        holders = facts[SESSIONS].holders if facts.get(SESSIONS) else ()
        out.extend(_kill(h, why) for h in holders[:MAX_KILLS])
        if not holders:
            out.extend(_kill(Holder(s, "running DDL"), why) for s in facts[SESSIONS].long_ddl[:MAX_KILLS])
    elif cause == "tables-without-primary-key":
        out.append(_add_keys(inp, found.fingerprints("galera-primary-keys")))
    if cause in RESTORE_CAUSES or cause == "migration-job-failed":
        why = found.fingerprints(
            "galera-migrations", "mlmd-schema", "galera-schema", "migration-job", "galera-backup"
        )
        backups = facts.get(BACKUPS)
        jobs = facts.get(JOBS)
        started = jobs.started if jobs is not None else None
        if cause == "migration-dirty":
            out.extend(_force_version(inp, why))
        if cause == "schema-diverged":
            out.append(_resync(inp, why))
        if cause == "migration-job-failed" and jobs is not None:
            out.extend(_rerun(j, inp, why) for j in jobs.failed()[:2])
        if cause in RESTORE_CAUSES and backups is not None:
            out.append(_restore(backups.last_good(started), inp, why))
    return tuple(out)
