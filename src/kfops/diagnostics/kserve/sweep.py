"""Without a target: which InferenceServices are down now, or have flapped in the window.

"Down" comes from the API (Ready not True now, not stopped on purpose); "flapping" from the
kube-state-metrics history (Ready changed more than settings.kserve_flap_changes times in
settings.kserve_flap_window_min), which only Prometheus has. Down comes before flapping, then
the most flaps first; a handful are examined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kfops.clients.resources import INFERENCESERVICES
from kfops.diagnostics.context import ProbeContext, kube_evidence, prom_evidence
from kfops.diagnostics.kserve.isvc import InferenceService, isvc_facts
from kfops.diagnostics.prometheus import kserve_queries as q
from kfops.diagnostics.prometheus.gpu import PromAbsent
from kfops.model import Observed

#: how many InferenceServices a sweep examines (a storm of them shares a cause: the worst say it)
MAX_EXAMINED = 3


@dataclass(frozen=True)
class Candidate:
    ref: str
    down: bool
    flaps: float | None  # Ready changes in the window (None: unknown)
    why: str


@dataclass(frozen=True)
class Inventory:
    services: tuple[InferenceService, ...]


def read_inventory(ctx: ProbeContext) -> Observed:
    fetched = ctx.kube.list(INFERENCESERVICES)
    services = tuple(isvc_facts(i) for i in fetched.value)
    down = sum(not s.ready_now and not s.stopped for s in services)
    said = f"{len(services)} InferenceServices in all namespaces, {down} not Ready"
    return Observed(Inventory(services), (kube_evidence(fetched, said),))


@dataclass(frozen=True)
class Flapping:
    flaps: dict[str, float]  # "namespace/name" → Ready changes in the window
    window_min: float
    more_than: int


def read_flapping(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    window, more_than = ctx.settings.kserve_flap_window_min, ctx.settings.kserve_flap_changes
    fetched = ctx.prom.query(q.flapping_services(window, more_than))
    flaps = {
        f"{s.labels.get('namespace', '')}/{s.labels.get('name', '')}": s.value
        for s in fetched.value
        if s.labels.get("namespace") and s.labels.get("name") and not math.isnan(s.value)
    }
    said = f"{len(flaps)} InferenceServices changed Ready more than {more_than} times in {window:g} min"
    return Observed(Flapping(flaps, window, more_than), (prom_evidence(fetched, said, f"{window:g}m"),))


def candidates(inventory: Inventory, flapping: Flapping | None) -> tuple[Candidate, ...]:
    """Down first, then by flap count (most first), then by name."""
    flaps = flapping.flaps if flapping else {}
    found: dict[str, Candidate] = {}
    for isvc in inventory.services:
        if isvc.stopped:
            continue
        count = flaps.get(isvc.ref)
        if not isvc.ready_now:
            ready = isvc.ready
            why = (
                f"Ready={ready.status}" + (f" ({ready.reason})" if ready.reason else "")
                if ready
                else "no Ready condition (not reconciled)"
            )
            found[isvc.ref] = Candidate(isvc.ref, True, count, why)
        elif count is not None:
            found[isvc.ref] = Candidate(isvc.ref, False, count, f"Ready changed {count:.0f} times")
    return tuple(sorted(found.values(), key=lambda c: (not c.down, -(c.flaps or 0.0), c.ref)))
