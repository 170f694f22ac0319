"""PromReader over the recorded query results of a snapshot (`prometheus/*.yaml`).

Format (docs/snapshots.md): a list of entries `{query, type: instant|range, result}` where
`result` is what Prometheus' HTTP API returned in `data.result` (a vector or a matrix). Answers
are looked up by the exact PromQL text. A query the snapshot did not record answers NO_DATA (an
empty result), and says so in its query string; capture-time failures are replayed from the
snapshot's `faults` (verb `query`, resource `prometheus`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from kfops.clients.errors import ReaderError, SnapshotError
from kfops.clients.protocols import Fetched, Sample, Series
from kfops.clients.snapshot.kube import FAULT_ERRORS
from kfops.clients.snapshot.store import SnapshotStore

#: prometheus/series.yaml holds the series a test Prometheus is filled with to produce the
#: answers (docs/snapshots.md), not answers: the reader never treats it as recorded queries
SERIES_STEM = "series"


class SnapshotPromReader:
    def __init__(self, store: SnapshotStore, answers: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        self.store = store
        self._answers = answers

    @classmethod
    def open(cls, store: SnapshotStore) -> SnapshotPromReader | None:
        """The snapshot's Prometheus, or None when it recorded none (the source is then absent)."""
        folder = store.root / "prometheus"
        if not folder.is_dir():
            return None
        answers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for path in sorted(folder.glob("*.y*ml")):
            if path.stem == SERIES_STEM:
                continue
            answers.update(_load(path))
        return cls(store, answers)

    def describe(self) -> str:
        return f"Prometheus answers recorded in {self.store.root / 'prometheus'}"

    def query(self, promql: str) -> Fetched:
        result = self._answer("instant", promql)
        samples = [Sample(dict(r.get("metric") or {}), float(r["value"][1])) for r in result]
        return Fetched(samples, f"PromQL {promql}", self.store.meta.captured_at)

    def query_range(self, promql: str, minutes: float, step_s: float) -> Fetched:
        result = self._answer("range", promql)
        series = [
            Series(dict(r.get("metric") or {}), tuple((float(t), float(v)) for t, v in r.get("values") or ()))
            for r in result
        ]
        return Fetched(
            series, f"PromQL {promql} [{minutes:g}m, step {step_s:g}s]", self.store.meta.captured_at
        )

    def _answer(self, kind: str, promql: str) -> list[dict[str, Any]]:
        query = f"PromQL {promql}"
        for fault in self.store.meta.faults:
            if fault.matches("query", "prometheus", None):
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                error: type[ReaderError] | None = FAULT_ERRORS.get(fault.error)
                if error:
                    raise error(query, fault.message or fault.error, verb="query", resource="prometheus")
        return self._answers.get((kind, promql), [])


def _load(path: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from exc
    if not isinstance(entries, list):
        raise SnapshotError(f"{path}: expected a list of {{query, type, result}} entries")
    answers = {}
    for entry in entries:
        if not isinstance(entry, dict) or "query" not in entry or "result" not in entry:
            raise SnapshotError(f"{path}: every entry needs query and result (got {entry!r:.80})")
        kind = str(entry.get("type", "instant"))
        if kind not in ("instant", "range"):
            raise SnapshotError(f"{path}: type must be instant or range, not {kind!r}")
        answers[(kind, str(entry["query"]))] = list(entry["result"] or [])
    return answers
