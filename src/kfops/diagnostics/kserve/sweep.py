"""Without a target: which InferenceServices are down now, have flapped, or cold-start too often.

"Down" comes from the API (Ready not True now, not stopped on purpose); "flapping" from the
kube-state-metrics history (Ready changed more than settings.kserve_flap_changes times in
settings.kserve_flap_window_min), and a "cold-start storm" from kube-state-metrics' replica
counts (scaled up from zero at least settings.kserve_slo_cold_starts_per_h times in the last
hour, what the KfopsKServeColdStartsHigh alert pages for); only Prometheus has these two. Down
comes first, then flapping (most flaps first), then storms (most cold starts first); a handful
are examined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kfops.clients.resources import INFERENCESERVICES
from kfops.diagnostics.context import ProbeContext, kube_evidence, prom_evidence
from kfops.diagnostics.kserve.isvc import InferenceService, isvc_facts
from kfops.diagnostics.kserve.metrics import COLD_START_WINDOW_MIN
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
    cold_starts: float | None = None  # scale-ups from zero in the last hour (None: not a storm or unknown)

    @property
    def rank(self) -> tuple[int, float]:
        """Down first, then flapping by flaps, then storms by cold starts (most first)."""
        if self.down:
            return (0, -(self.flaps or 0.0))
        if self.flaps is not None:
            return (1, -self.flaps)
        return (2, -(self.cold_starts or 0.0))


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


@dataclass(frozen=True)
class ColdStartStorms:
    cold_starts: dict[str, float]  # "namespace/name" → scale-ups from zero in the window
    window_min: float
    at_least: float


def read_cold_start_storms(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    window, at_least = COLD_START_WINDOW_MIN, ctx.settings.kserve_slo_cold_starts_per_h
    fetched = ctx.prom.query(q.cold_start_storms(window, at_least))
    storms = {
        f"{s.labels.get('namespace', '')}/{s.labels.get('inferenceservice', '')}": s.value
        for s in fetched.value
        if s.labels.get("namespace") and s.labels.get("inferenceservice") and not math.isnan(s.value)
    }
    said = (
        f"{len(storms)} InferenceServices scaled up from zero at least {at_least:g} times in {window:g} min"
    )
    return Observed(
        ColdStartStorms(storms, window, at_least), (prom_evidence(fetched, said, f"{window:g}m"),)
    )


def candidates(
    inventory: Inventory, flapping: Flapping | None, storms: ColdStartStorms | None = None
) -> tuple[Candidate, ...]:
    """Down first, then flapping by flap count, then cold-start storms by count (most first), then by name."""
    flaps = flapping.flaps if flapping else {}
    colds = storms.cold_starts if storms else {}
    found: dict[str, Candidate] = {}
    for isvc in inventory.services:
        if isvc.stopped:
            continue
        count, cold = flaps.get(isvc.ref), colds.get(isvc.ref)
        if not isvc.ready_now:
            ready = isvc.ready
            why = (
                f"Ready={ready.status}" + (f" ({ready.reason})" if ready.reason else "")
                if ready
                else "no Ready condition (not reconciled)"
            )
            found[isvc.ref] = Candidate(isvc.ref, True, count, why, cold)
        elif count is not None:
            window = flapping.window_min if flapping else 0.0
            why = f"Ready changed {count:.0f} times in {window:g} min"
            if cold is not None:
                why += f", {cold:.0f} cold starts"
            found[isvc.ref] = Candidate(isvc.ref, False, count, why, cold)
        elif cold is not None:
            window = storms.window_min if storms else COLD_START_WINDOW_MIN
            why = f"scaled up from zero {cold:.0f} times in {window:g} min"
            found[isvc.ref] = Candidate(isvc.ref, False, None, why, cold)
    return tuple(sorted(found.values(), key=lambda c: (c.rank, c.ref)))
