"""The last good backup: mariadb-operator Backup objects and their Complete condition (domain.md §5.7).

Restoring from it is the runbook's answer to a migration that failed half-way, so its name and
age — and whether it predates the migration — are what the on-call engineer needs first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kfops.clients.errors import NotFound
from kfops.clients.resources import BACKUPS
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.kube.timefmt import age, parse_time
from kfops.model import Observed


@dataclass(frozen=True)
class Backup:
    namespace: str
    name: str
    mariadb: str
    completed: datetime | None  # Complete=True since
    failed: bool

    def describe(self, now: datetime) -> str:
        if self.completed:
            ago = age(self.completed, now)
            return f"Backup {self.namespace}/{self.name} of {self.mariadb} completed {ago} ago"
        return f"Backup {self.namespace}/{self.name} of {self.mariadb} " + (
            "failed" if self.failed else "not complete"
        )


@dataclass(frozen=True)
class Backups:
    installed: bool  # the Backup CRD answered
    namespace: str
    items: tuple[Backup, ...]

    def last_good(self, before: datetime | None = None) -> Backup | None:
        good = [b for b in self.items if b.completed and (before is None or b.completed <= before)]
        return max(good, key=lambda b: b.completed or datetime.min) if good else None


def backup_namespace(ctx: ProbeContext) -> str:
    if ctx.settings.galera_backup_namespace:
        return ctx.settings.galera_backup_namespace
    ref = ctx.settings.galera_mariadb.split("/")
    if len(ref) in (2, 3):
        return ref[-2]
    return ctx.settings.galera_app_namespace


def _backup(raw: dict[str, object]) -> Backup:
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    assert isinstance(meta, dict) and isinstance(spec, dict) and isinstance(status, dict)
    completed, failed = None, False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Complete":
            if condition.get("status") == "True":
                completed = parse_time(condition.get("lastTransitionTime"))
            elif condition.get("reason") == "JobFailed":
                failed = True
    return Backup(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        mariadb=str((spec.get("mariaDbRef") or {}).get("name", "")),
        completed=completed,
        failed=failed,
    )


def read_backups(ctx: ProbeContext) -> Observed:
    namespace = backup_namespace(ctx)
    try:
        fetched = ctx.kube.list(BACKUPS, namespace)
    except NotFound:
        return Observed(Backups(False, namespace, ()))
    items = tuple(_backup(b) for b in fetched.value)
    good = Backups(True, namespace, items).last_good()
    summary = f"{len(items)} Backups in {namespace}" + (
        f"; last good: {good.describe(ctx.now)}" if good else "; none completed"
    )
    return Observed(Backups(True, namespace, items), (kube_evidence(fetched, summary),))
