"""Rungs about the run as a whole: KFP's view, the Workflow, the step in flight, task results,
and the sweep that picks the worst stuck run."""

from __future__ import annotations

from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.pipelines.backend import Component
from kfops.diagnostics.pipelines.steps import PodStall, Steps, stalled_by_pods
from kfops.diagnostics.pipelines.workflows import FAILED_NODE, Workflow, WorkflowNode
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.stuck_pipeline.backend_rungs import controller_trouble, database_trouble, server_trouble
from kfops.runbooks.stuck_pipeline.probes import (
    KFP_RUN,
    OPTIONAL_STEP_PODS,
    SWEEP,
    SWEEP_BACKEND,
    SWEEP_CONTROLLER,
    TASK_RESULTS,
    THRESHOLDS,
    WORKFLOW,
    hung_after_min,
    pending_after_min,
    run_of,
    stuck_after_min,
    sweep_of,
    task_results_of,
    workflow_of,
)


def _workflow(f: Facts) -> Workflow:
    workflow = workflow_of(f)
    if workflow is None:
        raise LookupError("the run has no Workflow")  # only asked after the missing branch
    return workflow


# ---------------------------------------------------------------- stuck-workflows (the sweep)
def _unjudged_note(f: Facts) -> str:
    unjudged = sweep_of(f).unjudged
    if not unjudged:
        return ""
    return f"; {len(unjudged)} more not judged: {unjudged[0].ref}'s " + unjudged[0].node_status_gap()


def _sweep_say(f: Facts) -> str:
    sweep = sweep_of(f)
    worst = sweep.stuck[0]
    others = f" (and {len(sweep.stuck) - 1} more)" if len(sweep.stuck) > 1 else ""
    run = f" (KFP run {worst.workflow.run_id})" if worst.workflow.run_id else ""
    stall, gap = worst.by_pods, worst.workflow.node_status_gap()
    by_pods = f" (judged from its step pods: {stall.describe(f.now)}; its {gap})" if stall else ""
    return (
        f"Workflow {worst.workflow.ref}{run} is {worst.workflow.phase or 'unstarted'} with no step moving "
        f"for {worst.still_min:.0f} min{by_pods}{others}" + _unjudged_note(f)
    )


def _unjudged_say(f: Facts) -> str:
    sweep = sweep_of(f)
    first = sweep.unjudged[0]
    more = f" (and {len(sweep.unjudged) - 1} more)" if len(sweep.unjudged) > 1 else ""
    judged = sweep.running - len(sweep.unjudged)
    others = (
        f"the {judged} other unfinished Workflows {_where(f)} each have a step running or moved in the "
        f"last {sweep.after_min:g} min"
        if judged
        else f"no other Workflow is unfinished {_where(f)}"
    )
    return (
        f"kfops cannot tell whether Workflow {first.ref}{more} is stuck: its {first.node_status_gap()}; "
        f"to check its pods run `kfops diagnose stuck-pipeline --workflow {first.name} --namespace "
        f"{first.namespace}`; {others}"
    )


def _where(f: Facts) -> str:
    namespaces = sweep_of(f).namespaces
    return f"in {len(namespaces)} Profile namespaces" if namespaces else "in all namespaces (no Profiles)"


def _shared(f: Facts) -> tuple[Component, ...] | None:
    value: tuple[Component, ...] | None = f.get(SWEEP_BACKEND)
    return value


SWEEP_RUNG = Rung(
    id="stuck-workflows",
    question="Which unfinished pipeline runs have stopped making progress, and is the backend every "
    "run shares up?",
    probes=(SWEEP, SWEEP_CONTROLLER, SWEEP_BACKEND),
    branches=(
        Branch(
            "stuck",
            Status.FAIL,
            "a Workflow is unfinished, with no step running or moving past the threshold (the worst "
            "is examined)",
            lambda f: bool(sweep_of(f).stuck),
            _sweep_say,
        ),
        Branch(
            "controller-down",
            Status.FAIL,
            "no run is stuck long enough yet, but the workflow-controller is down: every run will be",
            lambda f: bool(controller_trouble(f.get(SWEEP_CONTROLLER))),
            lambda f: controller_trouble(f.get(SWEEP_CONTROLLER)),
        ),
        Branch(
            "database-errors",
            Status.FAIL,
            "no run is stuck long enough yet, but the KFP servers cannot use their database",
            lambda f: bool(database_trouble(_shared(f))),
            lambda f: database_trouble(_shared(f)),
        ),
        Branch(
            "server-down",
            Status.FAIL,
            "no run is stuck long enough yet, but a KFP server is down",
            lambda f: bool(server_trouble(_shared(f))),
            lambda f: server_trouble(_shared(f)),
        ),
        Branch(
            "node-status-unavailable",
            Status.NO_DATA,
            "no run is stuck as far as kfops can see, but some unfinished Workflow keeps its node status "
            "outside the API object (offloaded to Argo's database, or an undecodable compressedNodes): "
            "whether it moves is not known",
            lambda f: bool(sweep_of(f).unjudged),
            _unjudged_say,
        ),
    ),
    default=Branch(
        "none",
        Status.OK,
        "every unfinished Workflow moved recently",
        lambda f: True,
        lambda f: (
            f"{sweep_of(f).running} unfinished Workflows {_where(f)}; each has a step running or moved "
            f"in the last {sweep_of(f).after_min:g} min"
        ),
    ),
)


def select_targets(f: Facts) -> tuple[str, ...]:
    stuck = sweep_of(f).stuck
    return (stuck[0].workflow.ref,) if stuck else ()


# ---------------------------------------------------------------- kfp-run
def _out_of_sync(f: Facts) -> bool:
    run, workflow = run_of(f), workflow_of(f)
    return run.known and workflow is not None and workflow.finished_phase and run.active


KFP = Rung(
    id="kfp-run",
    question="What does the KFP API say about the run, and does it agree with Argo?",
    probes=(KFP_RUN, WORKFLOW),
    branches=(
        Branch(
            "not-configured",
            Status.NO_DATA,
            "no KFP API configured: the ladder reads the Workflow alone",
            lambda f: run_of(f).answer == "not-configured",
            lambda f: (
                "KFP API not configured (kfp_url / KFOPS_KFP_URL): diagnosed from the Argo Workflow alone"
            ),
        ),
        Branch(
            "no-run-id",
            Status.SKIPPED,
            "the Workflow carries no pipeline/runid label: it is not a KFP run",
            lambda f: run_of(f).answer == "no-run-id",
            lambda f: "the Workflow has no pipeline/runid label: not a KFP run, so the KFP API was not asked",
        ),
        Branch(
            "unreachable",
            Status.WARN,
            "the KFP API did not answer; the diagnosis continues from the Workflow",
            lambda f: run_of(f).answer == "unreachable",
            lambda f: f"KFP API unreachable — diagnosed from the Argo Workflow instead: {run_of(f).message}",
        ),
        Branch(
            "unauthorized",
            Status.WARN,
            "the KFP API refused kfops' credentials; the diagnosis continues from the Workflow",
            lambda f: run_of(f).answer == "unauthorized",
            lambda f: (
                "KFP API refused the credentials — diagnosed from the Argo Workflow instead: "
                f"{run_of(f).message}"
            ),
        ),
        Branch(
            "not-found",
            Status.WARN,
            "the KFP API does not know the Workflow's run id",
            lambda f: run_of(f).answer == "not-found",
            lambda f: (
                f"KFP has no run {run_of(f).run_id} although its Workflow exists (deleted or archived run, "
                "or another KFP instance)"
            ),
        ),
        Branch(
            "out-of-sync",
            Status.FAIL,
            "Argo finished the run but KFP still shows it active: the persistence agent is not syncing",
            _out_of_sync,
            lambda f: (
                f"{run_of(f).describe()}, but Workflow {_workflow(f).ref} {_workflow(f).phase} "
                f"{age(_workflow(f).finished, f.now)} ago"
                + ("" if _workflow(f).persisted else " and carries no pipeline/persistedFinalState label")
                + ": the persistence agent has not synced it"
            ),
        ),
    ),
    default=Branch(
        "agrees",
        Status.OK,
        "KFP's state agrees with the Workflow",
        lambda f: True,
        lambda f: run_of(f).describe(),
    ),
)


# ---------------------------------------------------------------- workflow
def _running_say(f: Facts) -> str:
    w = _workflow(f)
    progress = f", progress {w.progress}" if w.progress else ""
    last = w.last_progress()
    return (
        f"Workflow {w.ref} {w.phase or 'not started'} for {age(w.started or w.created, f.now)}{progress}; "
        f"last step change {age(last, f.now)} ago"
    )


def _stalled(f: Facts) -> bool:
    w = workflow_of(f)
    return w is not None and w.stuck(f.now, stuck_after_min(f))


def pod_stall(f: Facts) -> PodStall | None:
    """The run's step pods show it stalled although its nodes are not known (steps.stalled_by_pods);
    None when its nodes are known, its pods could not be read, or one may still be working."""
    w = workflow_of(f)
    steps: Steps | None = f.get(OPTIONAL_STEP_PODS)
    if w is None or steps is None:
        return None
    return stalled_by_pods(w, steps.pods, f.now, stuck_after_min(f))


def _pod_stall_say(f: Facts) -> str:
    w, stall = _workflow(f), pod_stall(f)
    assert stall is not None  # only asked after the branch matched
    return (
        f"Workflow {w.ref} {w.phase or 'not started'} for {age(w.started or w.created, f.now)}, and its "
        f"{w.node_status_gap()}; its step pods show it stalled: {stall.describe(f.now)} (stuck: "
        f"{stuck_after_min(f):g} min or more)"
    )


def _hung(f: Facts) -> bool:
    """A step pod runs, and nothing in the Workflow has moved for pipeline_step_hung_after_min."""
    w = workflow_of(f)
    if w is None or w.finished_phase or not any(n.phase == "Running" for n in w.active_pod_nodes()):
        return False
    return w.minutes_without_progress(f.now) >= hung_after_min(f)


#: the failed steps a failed run's summary names (newest first)
FAILED_STEPS_SHOWN = 3


def _pod_exit_code(steps: Steps | None, node: WorkflowNode) -> str:
    """The step container's exit code from the node's pod (KFP's is "main"), "" when not known."""
    pod = steps.pod_of(node.id) if steps is not None else None
    if pod is None:
        return ""
    codes = [
        (c, code) for c, _, code in pod.terminations if code and c not in ("wait", "init", "kfp-launcher")
    ]
    main = next((code for c, code in codes if c == "main"), None)
    code = main if main is not None else (codes[0][1] if codes else None)
    return str(code) if code is not None else ""


def failed_steps(f: Facts) -> tuple[str, ...]:
    """Each failed Pod node, newest first, at most FAILED_STEPS_SHOWN: step, Pod node, template,
    phase, message and exit code (the node's outputs.exitCode, else its pod's)."""
    workflow = workflow_of(f)
    if workflow is None:
        return ()
    steps: Steps | None = f.get(OPTIONAL_STEP_PODS)
    said = []
    for node in workflow.failed_pod_nodes()[:FAILED_STEPS_SHOWN]:
        code = node.exit_code or _pod_exit_code(steps, node)
        pod = f"Pod {node.display_name or node.id}, template {node.template or '?'}"
        text = f"step {node.step} ({pod}) {node.phase}"
        if node.message:
            text += f": {node.message}"
        if code and f"exit code {code}" not in node.message:
            text += f" (exit code {code})"
        said.append(text)
    return tuple(said)


def _failed_steps_say(f: Facts) -> str:
    said = failed_steps(f)
    if not said:
        return ""
    more = len(_workflow(f).failed_pod_nodes()) - len(said)
    return "; failed: " + "; ".join(said) + (f" (and {more} more)" if more > 0 else "")


WORKFLOW_RUNG = Rung(
    id="workflow",
    question="What phase is the run's Argo Workflow in, and when did it last move?",
    probes=(WORKFLOW, KFP_RUN, THRESHOLDS, OPTIONAL_STEP_PODS),
    branches=(
        Branch(
            "missing",
            Status.FAIL,
            "KFP knows the run but no Workflow exists: the API server never created it (or it was deleted)",
            lambda f: workflow_of(f) is None,
            lambda f: (
                f"{run_of(f).describe()}, but no Argo Workflow carries pipeline/runid={run_of(f).run_id}: "
                "the API server never submitted it, or it was deleted"
            ),
        ),
        Branch(
            "failed",
            Status.FAIL,
            "the Workflow failed; its failed step pods (newest first) say where",
            lambda f: _workflow(f).phase in FAILED_NODE,
            lambda f: (
                f"Workflow {_workflow(f).ref} {_workflow(f).phase} {age(_workflow(f).finished, f.now)} ago: "
                f"{_workflow(f).message or 'no message'}" + _failed_steps_say(f)
            ),
        ),
        Branch(
            "succeeded",
            Status.OK,
            "the Workflow succeeded",
            lambda f: _workflow(f).phase == "Succeeded",
            lambda f: f"Workflow {_workflow(f).ref} Succeeded {age(_workflow(f).finished, f.now)} ago",
        ),
        Branch(
            "stalled-by-pods",
            Status.WARN,
            "the Workflow's node status is not in the API object, but its step pods show it stalled: "
            "every one finished and none moved past the threshold",
            lambda f: pod_stall(f) is not None,
            _pod_stall_say,
        ),
        Branch(
            "node-status-unavailable",
            Status.NO_DATA,
            "the Workflow's node status is not in the API object (offloaded to Argo's persistence "
            "database, or compressedNodes undecodable) and its step pods do not show it stalled: "
            "whether a step runs or moves is not known",
            lambda f: not _workflow(f).nodes_known,
            lambda f: (
                f"Workflow {_workflow(f).ref} {_workflow(f).phase or 'not started'} for "
                f"{age(_workflow(f).started or _workflow(f).created, f.now)}, but its "
                + _workflow(f).node_status_gap()
            ),
        ),
        Branch(
            "stalled",
            Status.WARN,
            "the Workflow is unfinished, with no step running or moving past the threshold",
            _stalled,
            lambda f: (
                _running_say(f) + f" and no step is running (stuck: {stuck_after_min(f):g} min or more)"
            ),
        ),
    ),
    default=Branch("running", Status.OK, "the Workflow is moving", lambda f: True, _running_say),
)


# ---------------------------------------------------------------- current-step
def _retry_loops(f: Facts) -> list[str]:
    w = workflow_of(f)
    if w is None:
        return []
    loops = []
    for retry in w.retry_nodes():
        attempts = w.attempts(retry)
        failed = [a for a in attempts if a.phase in FAILED_NODE]
        if len(failed) >= 2 or (failed and not retry.finished_phase):
            limit = w.retry_limits.get(retry.template)
            budget = f" of {limit + 1} allowed" if limit is not None else ""
            last = failed[-1].message or failed[-1].phase
            loops.append(
                f"step {retry.step}: {len(failed)} failed attempts{budget}, {retry.phase}; last: {last}"
            )
    return loops


def _waiting(f: Facts) -> list[str]:
    w = workflow_of(f)
    if w is None:
        return []
    limit = pending_after_min(f)
    return [
        f"{n.describe()} Pending for {age(n.started, f.now)}" + (f": {n.message}" if n.message else "")
        for n in w.active_pod_nodes()
        if n.phase == "Pending" and n.started and (f.now - n.started).total_seconds() / 60 >= limit
    ]


def _active_say(f: Facts) -> str:
    w = _workflow(f)
    active = w.active_pod_nodes()
    if not active:
        return f"no step pod is running or pending (progress {w.progress or 'unknown'})"
    return "; ".join(f"{n.describe()} {n.phase} for {age(n.started, f.now)}" for n in active[:3])


CURRENT_STEP = Rung(
    id="current-step",
    question="Which step is running or pending, for how long, and how many retries has it used?",
    probes=(WORKFLOW, THRESHOLDS),
    branches=(
        Branch(
            "none",
            Status.SKIPPED,
            "the Workflow has finished (or does not exist): no step is in flight",
            lambda f: workflow_of(f) is None or _workflow(f).finished_phase,
            lambda f: (
                "no step in flight: the Workflow "
                + ("does not exist" if workflow_of(f) is None else "finished")
            ),
        ),
        Branch(
            "node-status-unavailable",
            Status.NO_DATA,
            "the Workflow's node status is not in the API object: which step runs, and its retries, "
            "are not known (the step-pod rungs still read the pods)",
            lambda f: not _workflow(f).nodes_known,
            lambda f: (
                "which step is in flight is not known: its "
                + _workflow(f).node_status_gap()
                + "; the step pods are still read by the rungs below"
            ),
        ),
        Branch(
            "retry-loop",
            Status.WARN,
            "a step keeps failing and being retried",
            lambda f: bool(_retry_loops(f)),
            lambda f: "; ".join(_retry_loops(f)),
        ),
        Branch(
            "waiting",
            Status.WARN,
            "a step pod has been Pending past settings.pipeline_pending_after_min",
            lambda f: bool(_waiting(f)),
            lambda f: "; ".join(_waiting(f)[:3]),
        ),
        Branch(
            "stalled",
            Status.WARN,
            "a step pod has run with nothing else moving past pipeline_step_hung_after_min (hung, or very "
            "long)",
            _hung,
            lambda f: _active_say(f) + f"; nothing else moved for {hung_after_min(f):g} min or more",
        ),
    ),
    default=Branch("running", Status.OK, "the current step is progressing", lambda f: True, _active_say),
)


# ---------------------------------------------------------------- task-results
TASK_RESULTS_RUNG = Rung(
    id="task-results",
    question="Did every finished step report its results to Argo (WorkflowTaskResults, Argo ≥ 3.5)?",
    probes=(TASK_RESULTS,),
    branches=(
        Branch(
            "not-applicable",
            Status.SKIPPED,
            "only a Running Workflow whose step pods have all finished can be waiting for results",
            lambda f: not task_results_of(f).applicable,
            lambda f: "not applicable: the Workflow is not Running with every step pod finished",
        ),
        Branch(
            "rbac-missing",
            Status.FAIL,
            "the wait container may not create WorkflowTaskResults: the Workflow never completes",
            lambda f: bool(task_results_of(f).refusal),
            lambda f: (
                f"every step pod finished but the Workflow stays Running: {len(task_results_of(f).unsynced)} "
                f"task results never arrived; the wait container says: {task_results_of(f).refusal}"
            ),
        ),
        Branch(
            "unsynced",
            Status.WARN,
            "every step pod finished, but the controller still waits for some task results",
            lambda f: bool(task_results_of(f).unsynced),
            lambda f: (
                f"every step pod finished but {len(task_results_of(f).unsynced)} task results are not "
                "reported yet (taskResultsCompletionStatus false); no RBAC refusal in the wait logs read"
            ),
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "every task result arrived",
        lambda f: True,
        lambda f: "every finished step reported its results",
    ),
)
