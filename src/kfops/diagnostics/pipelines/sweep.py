"""Without a target: the unfinished Workflows in Profile namespaces that have stopped moving.

"Stuck" means unfinished, with no node started or finished for settings.pipeline_stuck_after_min
and no step pod running — what the KfopsPipelineRunsStalled alert pages for; a long training
step that is running is not stuck. The worst (longest still) is examined.

A Workflow whose node status is not in the API object (offloaded to Argo's database, or an
undecodable compressedNodes) shows no step at all, which would read as "no step running, nothing
moved since it started". That is no evidence, so such a Workflow is never counted as stuck: it is
listed apart (``unjudged``), the evidence and the rung say so by name with where to look, and it
is not examined, since every rung about its steps would answer NO_DATA; its pods can still be
checked with ``kfops diagnose stuck-pipeline --workflow NAME --namespace NS``.
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
    #: unfinished Workflows without node status in the API object (offloaded, undecodable):
    #: neither stuck nor moving as far as kfops can tell
    unjudged: tuple[Workflow, ...] = ()


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
    unjudged = tuple(sorted((w for w in workflows if not w.nodes_known), key=lambda w: w.ref))
    blind = (
        f"; {len(unjudged)} not judged, their node status is not in the API object ("
        + ", ".join(f"{w.ref}: {w.node_status}" for w in unjudged[:5])
        + ")"
        if unjudged
        else ""
    )
    evidence.append(
        kube_evidence(
            fetched,
            f"{len(workflows)} unfinished Workflows, {len(stuck)} with no step running or moving for "
            f"{threshold:g} min{blind}",
        )
    )
    return Observed(Sweep(len(workflows), namespaces, tuple(stuck), threshold, unjudged), tuple(evidence))
