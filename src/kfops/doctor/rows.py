"""A doctor's answer: one row per check, with a fix for each failure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfops.render.redact import redact_text


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"  # works, but something a ladder uses is missing: its rungs will say NO_DATA
    FAIL = "FAIL"  # kfops cannot do part of its job: exit 1
    SKIPPED = "SKIPPED"  # not configured, or not checkable because an earlier check failed


@dataclass(frozen=True)
class Row:
    group: str  # "kubernetes", "ladder gpu-node-down", "playbooks", "prometheus" …
    check: str
    status: Level
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "check": self.check,
            "status": self.status.value,
            "detail": redact_text(self.detail),
            "fix": redact_text(self.fix),
        }


def exit_code(rows: list[Row]) -> int:
    """0 when nothing failed (WARN does not fail), 1 when any check failed."""
    return 1 if any(r.status is Level.FAIL for r in rows) else 0
