"""Proposal: a remediation offered by a diagnosis (a value; executing it is the gate's job)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kfops.model.evidence import JSON
from kfops.model.finding import fingerprint
from kfops.model.status import Mode, Risk


@dataclass(frozen=True)
class Proposal:
    action: str  # e.g. "node.cordon"
    target: str  # e.g. "node/gpu-a100-3"
    title: str
    risk: Risk
    mode: Mode
    rationale: tuple[str, ...]  # fingerprints of the findings that justify it
    preconditions: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()  # for manual proposals: exactly what a human runs
    rollback: str = ""
    params: dict[str, JSON] = field(default_factory=dict)
    expires_at: datetime | None = None

    @property
    def id(self) -> str:
        """Stable across re-runs of the same diagnosis, so a human can refer to it."""
        return fingerprint(self.action, self.target, repr(sorted(self.params.items())))[:12]
