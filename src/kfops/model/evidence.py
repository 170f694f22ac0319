"""Evidence: what was observed, with the exact query that observed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kfops.model.status import Source

#: JSON-safe data: what json.dumps accepts without a custom encoder.
JSON = Any


@dataclass(frozen=True)
class Evidence:
    """One observation backing a finding.

    ``query`` is the exact request that produced it (an API path with its selectors, a PromQL
    expression, an SQL statement), so a human can repeat it by hand at 3 a.m.
    """

    source: Source
    query: str
    summary: str
    observed_at: datetime
    data: JSON = None
    window: str | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Observed:
    """A probe's result: the value rungs decide on, plus the evidence behind it."""

    value: Any
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
