"""Runs: one diagnosis, every request it answered, and where its results were posted.

Kept in memory for the bot and appended to a JSON-lines file in the state directory, so
`kfops status <run-id>` (terminal or Slack) finds a run after the fact.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kfops.bot.requests import DiagnosisRequest
from kfops.model import Diagnosis


@dataclass
class Run:
    run_id: str
    ladder: str
    target: str | None
    status: str = "queued"  # queued | running | done | failed
    requests: list[DiagnosisRequest] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    error: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    links: dict[str, str] = field(default_factory=dict)  # "slack": permalink/ts, "pagerduty": incident

    def summary(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "ladder": self.ladder,
            "target": self.target or "*",
            "status": self.status,
            "verdicts": [d.conclusion.verdict.value for d in self.diagnoses],
            "causes": [d.conclusion.cause for d in self.diagnoses],
            "summaries": [d.conclusion.summary for d in self.diagnoses],
            "requests": len(self.requests),
            "sources": sorted({r.source for r in self.requests}),
            "error": self.error,
            "createdAt": self.created_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "links": self.links,
        }


class RunStore:
    def __init__(self, path: Path | None = None, keep: int = 1000) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._keep = keep
        self.path = path.expanduser() if path else None

    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.run_id] = run
            if len(self._runs) > self._keep:
                self._runs.pop(next(iter(self._runs)))

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def persist(self, run: Run) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(run.summary(), sort_keys=True) + "\n")

    def lookup(self, run_id: str) -> dict[str, Any] | None:
        """A run's summary: from memory, else the newest persisted record."""
        run = self.get(run_id)
        if run is not None:
            return run.summary()
        if self.path is None or not self.path.exists():
            return None
        found = None
        for line in self.path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("runId") == run_id:
                found = record
        return found
