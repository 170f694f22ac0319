"""Finding: a rung's result."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kfops.model.evidence import Evidence
from kfops.model.status import Status


def fingerprint(*parts: str) -> str:
    """A stable short hash: the same rung on the same subject gives the same fingerprint.

    Used to deduplicate alerts and to update a Slack thread in place.
    """
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    rung: str
    question: str
    status: Status
    summary: str
    evidence: tuple[Evidence, ...]
    branch: str
    subject: str
    doc: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rung, self.subject)
