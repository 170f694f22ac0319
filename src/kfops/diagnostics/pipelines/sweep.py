"""Without a target: the unfinished Workflows in Profile namespaces that have stopped moving.

"Stuck" means unfinished, with no node started or finished for settings.pipeline_stuck_after_min
and no step pod running — what the KfopsPipelineRunsStalled alert pages for; a long training
step that is running is not stuck. The worst (longest still) is examined.
"""

from __future__ import annotations

from dataclasses import dataclass

from kfops.clients.errors import NotFound
from kfops.clients.resources import PROFILES, WORKFLOWS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.pipelines.workflows import Workflow, workflow_facts
from kfops.model import Evidence, Observed

UNFINISHED = "workflows.argoproj.io/completed!=true"


@dataclass(frozen=True)
class Candidate:
    workflow: Workflow
    still_min: float  # minutes since any node moved


@dataclass(frozen=True)
class Sweep:
    running: int
    namespaces: tuple[str, ...]  # Profile namespaces; () when Profiles are not installed
    stuck: tuple[Candidate, ...]  # worst first
    after_min: float  # settings.pipeline_stuck_after_min


def read_sweep(ctx: ProbeContext) -> Observed:
    evidence: list[Evidence] = []
    try:
        profiles = ctx.kube.list(PROFILES)
        namespaces = tuple(sorted(str((p.get("metadata") or {}).get("name", "")) for p in profiles.value))
        evidence.append(kube_evidence(profiles, f"{len(namespaces)} Profiles (user namespaces)"))
    except NotFound as exc:  # no Profile CRD: a single-user install, every namespace counts
        namespaces = ()
        evidence.append(failure_evidence(exc, ctx.now))
    fetched = ctx.kube.list(WORKFLOWS, label_selector=UNFINISHED)
    workflows = [
        w
        for w in map(workflow_facts, fetched.value)
        if w.phase in ("Running", "Pending", "") and (not namespaces or w.namespace in namespaces)
    ]
    threshold = ctx.settings.pipeline_stuck_after_min
    stuck = sorted(
        (Candidate(w, w.minutes_without_progress(ctx.now)) for w in workflows),
        key=lambda c: (-c.still_min, c.workflow.ref),
    )
    stuck = [c for c in stuck if c.workflow.stuck(ctx.now, threshold)]
    evidence.append(
        kube_evidence(
            fetched,
            f"{len(workflows)} unfinished Workflows, {len(stuck)} with no step running or moving for "
            f"{threshold:g} min",
        )
    )
    return Observed(Sweep(len(workflows), namespaces, tuple(stuck), threshold), tuple(evidence))
