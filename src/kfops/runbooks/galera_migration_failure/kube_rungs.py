"""Rungs about the Kubernetes side: the migration Job (or init container) and the last good backup."""

from __future__ import annotations

from kfops.diagnostics.kube.timefmt import age
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.galera_migration_failure.probes import BACKUPS, JOBS, backups_of, jobs_of


# ---------------------------------------------------------------- migration-job
def _failed_say(f: Facts) -> str:
    parts = []
    for job in jobs_of(f).failed()[:3]:
        when = f" {age(job.finished or job.started, f.now)} ago" if (job.finished or job.started) else ""
        error = (
            f": {job.error_class} — {job.error_meaning}; log of {job.pod}: '{job.error_line}'"
            if job.error_class
            else ""
        )
        parts.append(f"Job {job.ref} failed{when} ({job.message or 'no message'}){error}")
    for init in jobs_of(f).init_failures[:3]:
        parts.append(
            f"init container {init.container} of {init.pod} {init.reason}: "
            f"{init.error_class} — '{init.error_line}'"
        )
    return "; ".join(parts)


MIGRATION_JOB = Rung(
    id="migration-job",
    question="Did a schema-migration Job or init container fail, and with which error class?",
    probes=(JOBS,),
    branches=(
        Branch(
            "failed",
            Status.FAIL,
            "a migration Job or init container failed; its log names the error class",
            lambda f: bool(jobs_of(f).failed() or jobs_of(f).init_failures),
            _failed_say,
        ),
        Branch(
            "running",
            Status.OK,
            "a migration Job is running",
            lambda f: bool(jobs_of(f).running()),
            lambda f: "; ".join(
                f"Job {j.ref} running for {age(j.started, f.now)}" for j in jobs_of(f).running()
            ),
        ),
        Branch(
            "none",
            Status.NO_DATA,
            "no migration Job found",
            lambda f: not jobs_of(f).jobs,
            lambda f: (
                "no migration Job found (Job names or labels with migrat, schema, upgrade, flyway, "
                "alembic, liquibase, or label kfops.dev/migration=true)"
            ),
        ),
    ),
    default=Branch(
        "succeeded",
        Status.OK,
        "every migration Job succeeded",
        lambda f: True,
        lambda f: "; ".join(f"Job {j.ref} {j.state}" for j in jobs_of(f).jobs[:5]),
    ),
)


# ---------------------------------------------------------------- galera-backup
def _backup_say(f: Facts) -> str:
    backups = backups_of(f)
    started = jobs_of(f).started if f.get(JOBS) is not None else None
    good = backups.last_good(started)
    if good is None:
        return ""
    text = good.describe(f.now)
    if started:
        text += f", {age(good.completed, started)} before the migration started"
    return text


BACKUP = Rung(
    id="galera-backup",
    question="Is there a good backup from before the migration started, and how old is it?",
    probes=(BACKUPS, JOBS),
    branches=(
        Branch(
            "not-installed",
            Status.NO_DATA,
            "no mariadb-operator Backup CRD",
            lambda f: not backups_of(f).installed,
            lambda f: (
                "mariadb-operator Backups are not installed here; check your backup tool by hand "
                "before any repair"
            ),
        ),
        Branch(
            "none",
            Status.WARN,
            "no completed backup from before the migration: a restore has nothing to restore",
            lambda f: backups_of(f).last_good(jobs_of(f).started) is None,
            lambda f: (
                f"no completed Backup in {backups_of(f).namespace} from before the migration — "
                "take one before touching the schema"
            ),
        ),
    ),
    default=Branch("good", Status.OK, "a good backup predates the migration", lambda f: True, _backup_say),
)
