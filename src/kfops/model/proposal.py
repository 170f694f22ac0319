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

    def to_dict(self) -> dict[str, JSON]:
        """The proposal as JSON-safe data: for the diagnosis document and for approval records."""
        return {
            "id": self.id,
            "action": self.action,
            "target": self.target,
            "title": self.title,
            "risk": self.risk.value,
            "mode": self.mode.value,
            "rationale": list(self.rationale),
            "preconditions": list(self.preconditions),
            "steps": list(self.steps),
            "rollback": self.rollback,
            "params": self.params,
            "expiresAt": self.expires_at.isoformat().replace("+00:00", "Z") if self.expires_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Proposal:
        return cls(
            action=data["action"],
            target=data["target"],
            title=data["title"],
            risk=Risk(data["risk"]),
            mode=Mode(data.get("mode", "approve")),
            rationale=tuple(data.get("rationale") or ()),
            preconditions=tuple(data.get("preconditions") or ()),
            steps=tuple(data.get("steps") or ()),
            rollback=data.get("rollback", ""),
            params=dict(data.get("params") or {}),
        )

    @property
    def id(self) -> str:
        """Stable across re-runs of the same diagnosis, so a human can refer to it."""
        return fingerprint(self.action, self.target, repr(sorted(self.params.items())))[:12]
