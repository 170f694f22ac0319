"""Diagnosis: one run of a ladder against one target, and its conclusion."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kfops.model.finding import Finding
from kfops.model.proposal import Proposal
from kfops.model.status import Status, Verdict


@dataclass(frozen=True)
class Conclusion:
    verdict: Verdict
    summary: str
    cause: str | None = None
    confidence: str | None = None  # high | medium | low, for problems


@dataclass(frozen=True)
class ProbeStats:
    """Request accounting: what the diagnosis cost its sources."""

    requests: int = 0  # requests sent upstream (after memoisation)
    memo_hits: int = 0  # reads answered by an earlier identical read
    errors: int = 0
    bytes: int = 0
    slowest_request_s: float = 0.0


@dataclass(frozen=True)
class Diagnosis:
    run_id: str
    ladder: str
    ladder_title: str
    target: str
    source: str  # where it read from: "cluster https://… (context …)" or "snapshot DIR"
    started_at: datetime
    finished_at: datetime
    findings: tuple[Finding, ...]
    conclusion: Conclusion
    proposals: tuple[Proposal, ...] = ()
    stats: ProbeStats = field(default_factory=ProbeStats)
    deadline_exceeded: bool = False
    inputs: tuple[tuple[str, str], ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings whose probes failed: the self-health a diagnosis must show prominently."""
        return tuple(f for f in self.findings if f.status is Status.ERROR)

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
