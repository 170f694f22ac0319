"""The last good backup from before the migration (domain.md §5.7).

Restoring it is the runbook's answer to a migration that failed half-way, so its name, its age
and whether it predates the migration are what the on-call engineer needs first. Two listings:

- **mariadb-operator Backups.** A one-shot Backup reports its Job through the ``Complete``
  condition, and a *failed* Job is also ``Complete=True`` — with reason ``JobFailed``
  (mariadb-operator ``pkg/condition/complete.go``); only reason ``JobComplete`` is a backup.
  A scheduled Backup (``spec.schedule``) runs a CronJob of its own name and namespace (the batch
  controller builds it from the Backup's object key). Its condition says only
  whether the newest run succeeded, and its transition time is when that first became so — not
  when the last backup was taken — so each run is read from the Jobs that CronJob made.
- **``settings.galera_backup_cronjob``**: a CronJob (``NAMESPACE/NAME``) running a team's own
  backup tool, for clusters without mariadb-operator. Its Jobs are the listing; its
  ``status.lastSuccessfulTime`` covers a run whose Job is no longer kept.

A run counts when its Job is ``Complete``; its ``completionTime`` is when the backup was whole.
A scheduled run older than the Backup's ``spec.maxRetention`` (30 days when unset) no longer
counts: each run of the schedule deletes the files older than that, so its file is gone — and a
Restore pinned to it would get the closest remaining file instead, possibly one taken after the
migration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kfops.clients.errors import NotFound
from kfops.clients.resources import BACKUPS, CRONJOBS, JOBS
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.kube.timefmt import age, parse_duration, parse_time
from kfops.diagnostics.wording import counted
from kfops.model import Evidence, Observed, Source

#: sorts a run that has not started (no startTime yet) last
_NEVER = datetime.min.replace(tzinfo=UTC)
#: where a backup is listed: a mariadb-operator Backup, or the CronJob settings name
OPERATOR, CRONJOB = "Backup", "CronJob"
#: a Backup's spec.maxRetention when unset (mariadb-operator api/v1alpha1 backup_types.go)
DEFAULT_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Backup:
    """One backup that exists (or failed to): a one-shot Backup, or one run of a schedule."""

    namespace: str
    name: str  # the Backup, or the configured CronJob
    mariadb: str  # the MariaDB it backs up; "" for a CronJob of one's own
    completed: datetime | None  # when the backup was whole; None: failed or not finished
    failed: bool
    source: str = OPERATOR
    schedule: str = ""  # the cron schedule of a scheduled Backup or CronJob; "" for a one-shot
    run: str = ""  # the Job of one scheduled run ("" when no Job of it is kept)
    run_started: datetime | None = None  # that Job's startTime (targetRecoveryTime of a restore)
    image: str = ""  # the CronJob's backup tool, for the restore steps
    #: the Backup's spec.maxRetention (scheduled mariadb-operator Backups; None: not known)
    retention: timedelta | None = None
    #: the run is older than `retention`: its file has been deleted by a later run
    expired: bool = False

    def describe(self, now: datetime) -> str:
        what = f"{self.source} {self.namespace}/{self.name}" + (f" of {self.mariadb}" if self.mariadb else "")
        if self.schedule:
            what += f" (schedule {self.schedule!r})"
            if self.run:
                what += f", run {self.run},"
            elif self.completed:
                what += ", last successful run (its Job no longer kept),"
            else:
                what += ": no run of it is kept"
                return what
        if self.completed:
            gone = f" (past maxRetention {retention_text(self.retention)}: its file is deleted)"
            gone = gone if self.expired else ""
            return f"{what} completed {age(self.completed, now)} ago{gone}"
        return what + (" failed" if self.failed else " not complete")


@dataclass(frozen=True)
class Backups:
    installed: bool  # the mariadb-operator Backup CRD answered
    namespace: str
    items: tuple[Backup, ...]
    cronjob: str = ""  # settings.galera_backup_cronjob, NAMESPACE/NAME
    cronjob_found: bool = True

    def last_good(self, before: datetime | None = None) -> Backup | None:
        """The newest backup that completed (before `before`) and whose file is still kept."""
        good = [
            b
            for b in self.items
            if b.completed and not b.expired and (before is None or b.completed <= before)
        ]
        return max(good, key=lambda b: b.completed or _NEVER) if good else None

    def expired(self, before: datetime | None = None) -> tuple[Backup, ...]:
        """Runs that completed (before `before`) but are past their Backup's maxRetention."""
        return tuple(
            b for b in self.items if b.expired and b.completed and (before is None or b.completed <= before)
        )

    def failed(self) -> tuple[Backup, ...]:
        """The backups that failed, newest first."""
        failed = (b for b in self.items if b.failed)
        return tuple(sorted(failed, key=lambda b: b.run_started or _NEVER, reverse=True))


def backup_namespace(ctx: ProbeContext) -> str:
    if ctx.settings.galera_backup_namespace:
        return ctx.settings.galera_backup_namespace
    ref = ctx.settings.galera_mariadb.split("/")
    if len(ref) in (2, 3):
        return ref[-2]
    return ctx.settings.galera_app_namespace


def _conditions(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("type")): c for c in (raw.get("status") or {}).get("conditions") or []}


def retention_text(retention: timedelta | None) -> str:
    """A retention as the operator's users write it ("720h"); "not known" without one."""
    if not retention:
        return "not known"
    hours = retention.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{retention.total_seconds() / 60:g}m"


def _retention(spec: dict[str, Any]) -> timedelta:
    """spec.maxRetention, a Go duration ("720h", "168h0m0s"); the operator's default when unset."""
    seconds = parse_duration(str(spec.get("maxRetention") or ""))
    return timedelta(seconds=seconds) if seconds else DEFAULT_RETENTION


def _cron(schedule: object) -> str:
    """A Backup's ``spec.schedule.cron``, or a CronJob's ``spec.schedule`` string."""
    return str(schedule.get("cron", "")) if isinstance(schedule, dict) else str(schedule or "")


def _operator_backup(raw: dict[str, Any]) -> Backup:
    """A mariadb-operator Backup as listed; for a one-shot Backup, also whether it is good."""
    meta, spec = raw.get("metadata") or {}, raw.get("spec") or {}
    complete = _conditions(raw).get("Complete") or {}
    done = complete.get("status") == "True"
    good = done and complete.get("reason") == "JobComplete"
    schedule = _cron(spec.get("schedule"))
    return Backup(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        mariadb=str((spec.get("mariaDbRef") or {}).get("name", "")),
        completed=parse_time(complete.get("lastTransitionTime")) if good and not schedule else None,
        failed=done and complete.get("reason") == "JobFailed" and not schedule,
        schedule=schedule,
        retention=_retention(spec) if schedule else None,
    )


def _owned_by_cronjob(job: dict[str, Any], cronjob: str) -> bool:
    owners = (job.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("kind") == "CronJob" and o.get("name") == cronjob for o in owners)


def _runs(jobs: Iterable[dict[str, Any]], cronjob: str, listed_as: Backup, now: datetime) -> list[Backup]:
    """One Backup per Job the CronJob made, newest first; the listing's own fields kept, and
    whether each run is past the listing's retention at `now`."""
    runs = []
    for job in jobs:
        if not _owned_by_cronjob(job, cronjob):
            continue
        conditions, status = _conditions(job), job.get("status") or {}
        good = (conditions.get("Complete") or {}).get("status") == "True"
        started = parse_time(status.get("startTime"))
        completed = parse_time(status.get("completionTime")) if good else None
        taken = started or completed
        retention = listed_as.retention
        runs.append(
            replace(
                listed_as,
                completed=completed,
                failed=(conditions.get("Failed") or {}).get("status") == "True",
                run=str((job.get("metadata") or {}).get("name", "")),
                run_started=started,
                expired=bool(retention and taken and now - taken > retention),
            )
        )
    return sorted(runs, key=lambda b: b.run_started or _NEVER, reverse=True)


def _image(cronjob: dict[str, Any]) -> str:
    template = ((cronjob.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
    containers = ((template.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image", ""))


class _Jobs:
    """The Jobs of a namespace, listed once however many schedules live there."""

    def __init__(self, ctx: ProbeContext, evidence: list[Evidence]) -> None:
        self._ctx, self._evidence = ctx, evidence
        self._by_namespace: dict[str, list[dict[str, Any]]] = {}

    def of(self, namespace: str) -> list[dict[str, Any]]:
        if namespace not in self._by_namespace:
            fetched = self._ctx.kube.list(JOBS, namespace)
            self._by_namespace[namespace] = list(fetched.value)
            jobs = counted(len(fetched.value), "Job")
            self._evidence.append(kube_evidence(fetched, f"{jobs} in {namespace} (the runs of schedules)"))
        return self._by_namespace[namespace]


def _absent(error: NotFound, summary: str, ctx: ProbeContext) -> Evidence:
    """What a 404 showed: a listing that is not there is evidence too, not a failed read."""
    return Evidence(Source.KUBE, error.query, summary, ctx.now)


def _operator_backups(ctx: ProbeContext, namespace: str, jobs: _Jobs, evidence: list[Evidence]) -> Backups:
    try:
        fetched = ctx.kube.list(BACKUPS, namespace)
    except NotFound as exc:
        evidence.append(_absent(exc, "mariadb-operator's Backup CRD is not installed", ctx))
        return Backups(False, namespace, ())
    evidence.append(kube_evidence(fetched, f"{counted(len(fetched.value), 'Backup')} in {namespace}"))
    items: list[Backup] = []
    for raw in fetched.value:
        listed = _operator_backup(raw)
        runs = _runs(jobs.of(namespace), listed.name, listed, ctx.now) if listed.schedule else []
        items.extend(runs or [listed])
    return Backups(True, namespace, tuple(items))


def _cronjob_backups(
    ctx: ProbeContext, ref: str, jobs: _Jobs, evidence: list[Evidence]
) -> tuple[Backup, ...] | None:
    """The runs of settings.galera_backup_cronjob, or None when that CronJob does not exist."""
    namespace, _, name = ref.partition("/")
    try:
        fetched = ctx.kube.get(CRONJOBS, name, namespace)
    except NotFound as exc:
        evidence.append(_absent(exc, f"CronJob {ref} (settings.galera_backup_cronjob) does not exist", ctx))
        return None
    cronjob = fetched.value
    schedule = _cron((cronjob.get("spec") or {}).get("schedule"))
    evidence.append(kube_evidence(fetched, f"CronJob {ref}, schedule {schedule!r}"))
    listed = Backup(namespace, name, "", None, False, CRONJOB, schedule, image=_image(cronjob))
    runs = _runs(jobs.of(namespace), name, listed, ctx.now)
    last = parse_time((cronjob.get("status") or {}).get("lastSuccessfulTime"))
    if last and not any(r.completed and r.completed >= last for r in runs):
        # the Job of the newest success is no longer kept (successfulJobsHistoryLimit)
        runs.append(replace(listed, completed=last))
    return tuple(runs or [listed])


def read_backups(ctx: ProbeContext) -> Observed:
    evidence: list[Evidence] = []
    jobs = _Jobs(ctx, evidence)
    backups = _operator_backups(ctx, backup_namespace(ctx), jobs, evidence)
    ref = ctx.settings.galera_backup_cronjob
    if ref:
        runs = _cronjob_backups(ctx, ref, jobs, evidence)
        backups = Backups(
            backups.installed, backups.namespace, backups.items + (runs or ()), ref, runs is not None
        )
    good = backups.last_good()
    summary = f"{counted(len(backups.items), 'backup')} listed" + (
        f"; last good: {good.describe(ctx.now)}" if good else "; none completed"
    )
    if evidence:
        evidence[0] = replace(evidence[0], summary=f"{evidence[0].summary}; {summary}")
    return Observed(backups, tuple(evidence))
