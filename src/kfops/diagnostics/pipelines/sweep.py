"""Without a target: the unfinished Workflows in Profile namespaces that have stopped moving.

"Stuck" means unfinished, with no node started or finished for settings.pipeline_stuck_after_min
and no step pod running — what the KfopsPipelineRunsStalled alert pages for; a long training
step that is running is not stuck. The worst (longest still) is examined.

A Workflow whose node status is not in the API object (offloaded to Argo's database, or an
undecodable compressedNodes) shows no step at all, which would read as "no step running, nothing
moved since it started". That is no evidence, so such a Workflow is judged from its step pods
instead (``steps.stalled_by_pods``, the rule the ``workflow`` rung uses): every step pod finished
and nothing moved for the threshold counts it as stuck (and it may be the one examined). The step
pods of those Workflows are read with one list per namespace that has any (label selector
``workflows.argoproj.io/workflow in (…)``), never one per Workflow, and not at all when every
Workflow's nodes are known. One whose pods still work, or whose pods could not be read, is listed
apart (``unjudged``): the evidence and the rung say so by name with where to look; its pods can
be checked with ``kfops diagnose stuck-pipeline --workflow NAME --namespace NS``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import PODS, PROFILES, WORKFLOWS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.pipelines.steps import PodStall, stalled_by_pods, step_pod
from kfops.diagnostics.pipelines.workflows import WORKFLOW_LABEL, Workflow, workflow_facts
from kfops.model import Evidence, Observed

UNFINISHED = "workflows.argoproj.io/completed!=true"


@dataclass(frozen=True)
class Candidate:
    workflow: Workflow
    still_min: float  # minutes since any node (or, judged by pods, any step pod) moved
    #: set when the Workflow's nodes are not known and its step pods showed it stalled
    by_pods: PodStall | None = None


@dataclass(frozen=True)
class Sweep:
    running: int
    namespaces: tuple[str, ...]  # Profile namespaces; () when Profiles are not installed
    stuck: tuple[Candidate, ...]  # worst first
    after_min: float  # settings.pipeline_stuck_after_min
    #: unfinished Workflows without node status in the API object (offloaded, undecodable) whose
    #: step pods did not show them stalled (one still works) or could not be read
    unjudged: tuple[Workflow, ...] = ()


def _pod_stalls(
    ctx: ProbeContext, blind: list[Workflow], after_min: float
) -> tuple[list[PodStall], list[Evidence]]:
    """The Workflows without node status that their step pods show stalled: one pod list per
    namespace, selecting those Workflows' pods by label. A failed list leaves its Workflows
    unjudged and is said in the evidence."""
    by_namespace: dict[str, list[Workflow]] = defaultdict(list)
    for workflow in blind:
        by_namespace[workflow.namespace].append(workflow)
    stalls: list[PodStall] = []
    evidence: list[Evidence] = []
    for namespace, workflows in sorted(by_namespace.items()):
        names = ",".join(sorted({w.name for w in workflows}))
        try:
            fetched = ctx.kube.list(PODS, namespace, label_selector=f"{WORKFLOW_LABEL} in ({names})")
        except ReaderError as exc:
            evidence.append(failure_evidence(exc, ctx.now))
            continue
        pods = [step_pod(p) for p in fetched.value]
        found = [s for w in workflows if (s := stalled_by_pods(w, pods, ctx.now, after_min))]
        stalls.extend(found)
        evidence.append(
            kube_evidence(
                fetched,
                f"{len(pods)} step pods of {len(workflows)} Workflows without node status in {namespace}: "
                f"{len(found)} with every step pod finished and none moving for {after_min:g} min",
            )
        )
    return stalls, evidence


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
    blind = [w for w in workflows if not w.nodes_known]
    stalls, pod_evidence = _pod_stalls(ctx, blind, threshold) if blind else ([], [])
    candidates = [
        Candidate(w, w.minutes_without_progress(ctx.now)) for w in workflows if w.stuck(ctx.now, threshold)
    ]
    candidates += [Candidate(s.workflow, s.minutes(ctx.now), s) for s in stalls]
    stuck = sorted(candidates, key=lambda c: (-c.still_min, c.workflow.ref))
    stalled = {s.workflow.ref for s in stalls}
    unjudged = tuple(sorted((w for w in blind if w.ref not in stalled), key=lambda w: w.ref))
    from_pods = (
        f" ({len(stalls)} judged from their step pods: node status not in the API object)" if stalls else ""
    )
    not_judged = (
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
            f"{threshold:g} min{from_pods}{not_judged}",
        )
    )
    evidence.extend(pod_evidence)
    return Observed(Sweep(len(workflows), namespaces, tuple(stuck), threshold, unjudged), tuple(evidence))
