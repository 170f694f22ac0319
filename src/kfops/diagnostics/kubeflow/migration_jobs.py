"""Schema-migration Jobs and init containers in Kubernetes, and what their logs say went wrong.

A Job counts as a migration when its name or labels say so (migrat, schema, upgrade, flyway,
alembic, liquibase) or it carries ``kfops.dev/migration: "true"``; an init container likewise
by its name. The last log lines of the newest failed pod are classified into the error classes
an SRE acts on differently (duplicate column: half-applied; lock wait timeout / deadlock: a
blocker; WSREP not ready: the cluster; max_allowed_packet: server configuration).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from kfops.clients.errors import ReaderError
from kfops.clients.resources import JOBS, PODS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.kube.pods import PodFacts, pod_facts
from kfops.diagnostics.kube.timefmt import parse_time
from kfops.model import Evidence, Observed

MIGRATION_WORDS = re.compile(r"migrat|schema|upgrade|flyway|alembic|liquibase|db-init|dbinit", re.IGNORECASE)
MIGRATION_LABEL = "kfops.dev/migration"

#: (class, what it means, log pattern) — first match wins; MySQL error numbers in brackets
ERROR_CLASSES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "dirty",
        "golang-migrate refuses to run on a dirty version",
        re.compile(r"Dirty database version|database is dirty", re.I),
    ),
    (
        "duplicate-column",
        "the migration was already partly applied (1060/1061/1050)",
        re.compile(r"Duplicate column|Duplicate key name|already exists|Error 106[01]|Error 1050", re.I),
    ),
    (
        "lock-wait-timeout",
        "a lock was held too long by another session (1205)",
        re.compile(r"Lock wait timeout exceeded|Error 1205", re.I),
    ),
    (
        "deadlock",
        "a certification conflict or deadlock aborted it (1213)",
        re.compile(r"Deadlock found|Error 1213", re.I),
    ),
    (
        "wsrep-not-ready",
        "the node was not part of a Primary component (1047)",
        re.compile(r"WSREP has not yet prepared|Unknown command|Error 1047", re.I),
    ),
    (
        "max-allowed-packet",
        "a statement exceeded max_allowed_packet (1153)",
        re.compile(r"max_allowed_packet|packet bigger|Error 1153", re.I),
    ),
    (
        "mlmd-version",
        "MLMD's schema version does not match the library",
        re.compile(r"MLMD database version \d+ is (greater|older)", re.I),
    ),
    ("read-only", "the node refused writes (read-only, 1290)", re.compile(r"read-only|Error 1290", re.I)),
    (
        "access-denied",
        "the migration user was refused (1045/1142)",
        re.compile(r"Access denied|command denied", re.I),
    ),
    (
        "unreachable",
        "the database could not be reached",
        re.compile(r"Can't connect to MySQL|connection refused|no such host|i/o timeout", re.I),
    ),
)


def classify_log(text: str) -> tuple[str, str, str]:
    """(class, meaning, the line that matched), or ("unknown", …, last non-empty line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for name, meaning, pattern in ERROR_CLASSES:
        for line in reversed(lines):
            if pattern.search(line):
                return name, meaning, line[:300]
    return "unknown", "no known error class in the last log lines", (lines[-1][:300] if lines else "")


@dataclass(frozen=True)
class MigrationJob:
    namespace: str
    name: str
    uid: str
    state: str  # failed | running | succeeded
    started: datetime | None
    finished: datetime | None
    message: str
    error_class: str = ""
    error_meaning: str = ""
    error_line: str = ""
    pod: str = ""  # the failed pod whose log was read
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class InitFailure:
    pod: str
    container: str
    reason: str
    error_class: str
    error_line: str


@dataclass(frozen=True)
class MigrationJobs:
    jobs: tuple[MigrationJob, ...]
    init_failures: tuple[InitFailure, ...]

    def failed(self) -> tuple[MigrationJob, ...]:
        return tuple(j for j in self.jobs if j.state == "failed")

    def running(self) -> tuple[MigrationJob, ...]:
        return tuple(j for j in self.jobs if j.state == "running")

    @property
    def started(self) -> datetime | None:
        """When the (latest) failed or running migration started: what a backup must predate."""
        times = [j.started for j in self.failed() + self.running() if j.started]
        return max(times) if times else None


def _is_migration(job: dict[str, object]) -> bool:
    meta = job.get("metadata") or {}
    assert isinstance(meta, dict)
    labels = meta.get("labels") or {}
    if str(labels.get(MIGRATION_LABEL, "")).lower() == "true":
        return True
    return bool(MIGRATION_WORDS.search(str(meta.get("name", "")))) or any(
        MIGRATION_WORDS.search(f"{k}={v}") for k, v in labels.items()
    )


def _state(status: dict[str, object]) -> str:
    conditions = status.get("conditions") or []
    assert isinstance(conditions, list)
    for condition in conditions:
        if condition.get("status") == "True" and condition.get("type") in ("Failed", "FailureTarget"):
            return "failed"
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
    # no terminal condition yet: the Job controller has not finished it (pods active or pending)
    return "running"


def _failed_at(status: dict[str, object]) -> datetime | None:
    """When a Job failed: its Failed condition's transition (completionTime is set only on success)."""
    for condition in status.get("conditions") or []:  # type: ignore[attr-defined]
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


def _failed_message(status: dict[str, object]) -> str:
    for condition in status.get("conditions") or []:  # type: ignore[attr-defined]
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
    return ""


def _log_of(ctx: ProbeContext, pod: PodFacts, evidence: list[Evidence]) -> tuple[str, str, str]:
    crashed = next(
        (c for c in pod.containers if c.reason in ("Error", "CrashLoopBackOff") or c.last_exit_code), None
    )
    container = crashed or next((c for c in pod.containers if not c.init), None)
    if container is None:
        return "unknown", "", ""
    previous = container.reason == "CrashLoopBackOff"
    try:
        fetched = ctx.kube.pod_log(pod.namespace, pod.name, container.name, previous=previous, tail_lines=50)
    except ReaderError as exc:
        evidence.append(failure_evidence(exc, ctx.now))
        return "unknown", "", ""
    found = classify_log(str(fetched.value or ""))
    evidence.append(kube_evidence(fetched, f"{pod.name}/{container.name}: {found[0]} — {found[2]}"))
    return found


def read_migration_jobs(ctx: ProbeContext) -> Observed:
    namespace = ctx.settings.galera_app_namespace
    listed = ctx.kube.list(JOBS, namespace)
    evidence: list[Evidence] = []
    migrations = [j for j in listed.value if _is_migration(j)]
    pods_fetched = ctx.kube.list(PODS, namespace)
    pods = [pod_facts(p) for p in pods_fetched.value]
    #: when each pod started (status.startTime): the newest attempt is the one whose log matters
    started_at = {
        ((p.get("metadata") or {}).get("name")): parse_time((p.get("status") or {}).get("startTime"))
        for p in pods_fetched.value
    }
    jobs: list[MigrationJob] = []
    for raw in migrations:
        meta, status = raw.get("metadata") or {}, raw.get("status") or {}
        state = _state(status)
        job = MigrationJob(
            namespace=str(meta.get("namespace", namespace)),
            name=str(meta.get("name")),
            uid=str(meta.get("uid", "")),
            state=state,
            started=parse_time(status.get("startTime")),
            finished=parse_time(status.get("completionTime")) or _failed_at(status),
            message=_failed_message(status),
            labels=dict(meta.get("labels") or {}),
        )
        if state == "failed":
            mine = sorted(
                (
                    p
                    for p in pods
                    if p.labels.get("job-name") == job.name
                    or p.labels.get("batch.kubernetes.io/job-name") == job.name
                ),
                key=lambda p: (started_at.get(p.name) or datetime.min.replace(tzinfo=UTC), p.name),
            )
            if mine:
                cls, meaning, line = _log_of(ctx, mine[-1], evidence)
                job = replace(job, error_class=cls, error_meaning=meaning, error_line=line, pod=mine[-1].name)
        jobs.append(job)
    inits: list[InitFailure] = []
    for pod in pods:
        for c in pod.containers:
            if c.init and MIGRATION_WORDS.search(c.name) and (c.failing or c.last_exit_code):
                cls, _, line = _log_of(ctx, pod, evidence)
                inits.append(InitFailure(pod.ref, c.name, c.reason or c.last_reason, cls, line))
    summary = (
        f"{len(migrations)} migration Jobs in {namespace} "
        f"({sum(j.state == 'failed' for j in jobs)} failed, "
        f"{sum(j.state == 'running' for j in jobs)} running)"
    )
    evidence.insert(0, kube_evidence(listed, summary, data=[f"{j.name}: {j.state}" for j in jobs]))
    evidence.insert(
        1, kube_evidence(pods_fetched, f"{len(inits)} failing migration init containers in {namespace}")
    )
    return Observed(MigrationJobs(tuple(jobs), tuple(inits)), tuple(evidence))
