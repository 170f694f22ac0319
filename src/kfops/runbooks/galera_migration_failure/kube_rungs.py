"""Rungs about the Kubernetes side: the migration Job (or init container) and the last good backup."""

from __future__ import annotations

from datetime import datetime

from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.wording import counted
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
def _started(f: Facts) -> datetime | None:
    return jobs_of(f).started if f.get(JOBS) is not None else None


def _backup_say(f: Facts) -> str:
    backups = backups_of(f)
    started = _started(f)
    good = backups.last_good(started)
    if good is None:
        return ""
    text = good.describe(f.now)
    if started and good.completed:
        text += f", {age(good.completed, started)} before the migration started"
    return text


def _listings(f: Facts) -> str:
    backups = backups_of(f)
    where = [f"mariadb-operator Backups in {backups.namespace}"] if backups.installed else []
    if backups.cronjob:
        where.append(f"CronJob {backups.cronjob} (settings.galera_backup_cronjob)")
    return " and ".join(where)


def _none_say(f: Facts) -> str:
    backups, started = backups_of(f), _started(f)
    text = f"no completed backup from before the migration in {_listings(f)}"
    after, failed, expired = backups.last_good(), backups.failed(), backups.expired(started)
    if expired:
        text += (
            f"; {counted(len(expired), 'run')} from before it are past maxRetention and their files are "
            f"deleted, newest: {expired[0].describe(f.now)}"
        )
    if after is not None and started is not None:
        text += "; the newest good one was taken after it started and holds the damaged schema: "
        text += after.describe(f.now)
    if failed:
        text += f"; {counted(len(failed), 'failed backup')}, newest: {failed[0].describe(f.now)}"
    return text + " — take a backup of the damaged state before touching the schema"


BACKUP = Rung(
    id="galera-backup",
    question="Is there a good backup from before the migration started, and how old is it?",
    probes=(BACKUPS, JOBS),
    branches=(
        Branch(
            "no-listing",
            Status.NO_DATA,
            "no backup listing: neither mariadb-operator Backups nor settings.galera_backup_cronjob",
            lambda f: not backups_of(f).installed and not backups_of(f).cronjob,
            lambda f: (
                "mariadb-operator Backups are not installed here and settings.galera_backup_cronjob "
                "names no backup CronJob; check your backup tool by hand before any repair"
            ),
        ),
        Branch(
            "cronjob-missing",
            Status.NO_DATA,
            "settings.galera_backup_cronjob names a CronJob that does not exist",
            lambda f: bool(backups_of(f).cronjob) and not backups_of(f).cronjob_found,
            lambda f: (
                f"CronJob {backups_of(f).cronjob} (settings.galera_backup_cronjob) does not exist — "
                "fix the setting, and check your backups by hand before any repair"
            ),
        ),
        Branch(
            "none",
            Status.WARN,
            "no completed backup from before the migration: a restore has nothing to restore",
            lambda f: backups_of(f).last_good(_started(f)) is None,
            _none_say,
        ),
    ),
    default=Branch("good", Status.OK, "a good backup predates the migration", lambda f: True, _backup_say),
)
