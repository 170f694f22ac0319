"""Events about one object, newest first, inside a time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.resources import EVENTS
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.kube.timefmt import age, parse_time
from kfops.model import Observed


@dataclass(frozen=True)
class EventFacts:
    type: str  # Normal | Warning
    reason: str
    message: str
    count: int
    first: datetime | None
    last: datetime | None

    def describe(self, now: datetime) -> str:
        times = f" ×{self.count}" if self.count > 1 else ""
        return f"{self.reason}{times} {age(self.last, now)} ago: {self.message}".strip()


def event_facts(event: dict[str, Any]) -> EventFacts:
    metadata = event.get("metadata") or {}
    series = event.get("series") or {}
    last = (
        parse_time(event.get("lastTimestamp"))
        or parse_time(series.get("lastObservedTime"))
        or parse_time(event.get("eventTime"))
        or parse_time(metadata.get("creationTimestamp"))
    )
    return EventFacts(
        type=str(event.get("type", "")),
        reason=str(event.get("reason", "")),
        message=str(event.get("message", "")).strip(),
        count=int(event.get("count") or series.get("count") or 1),
        first=parse_time(event.get("firstTimestamp")) or last,
        last=last,
    )


def read_events_about(ctx: ProbeContext, kind: str, name: str, window: timedelta) -> Observed:
    """Events whose involvedObject is kind/name, in every namespace, newest first."""
    fetched = ctx.kube.list(EVENTS, field_selector=f"involvedObject.kind={kind},involvedObject.name={name}")
    cutoff = ctx.now - window
    events = sorted(
        (e for e in map(event_facts, fetched.value) if e.last is None or e.last >= cutoff),
        key=lambda e: e.last or ctx.now,
        reverse=True,
    )
    hours = window.total_seconds() / 3600
    summary = f"{len(events)} events about {kind} {name} in the last {hours:g}h"
    return Observed(tuple(events), (kube_evidence(fetched, summary),))
