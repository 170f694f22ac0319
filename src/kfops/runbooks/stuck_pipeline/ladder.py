"""The stuck-pipeline ladder assembled: rungs in order, causes in order, proposals.

It joins the layers a human checks one by one — KFP run → Argo Workflow → step pods →
scheduling, storage, images → controllers → metadata and object storage — and the causes are
ordered so that what stops every run (the controller, task-result RBAC, the database, the KFP
servers) is named before what stops one step.
"""

from __future__ import annotations

from kfops.diagnostics.pipelines.target import check_workflow_target
from kfops.model import Cause, Findings, Ladder
from kfops.runbooks.causes import answered, answered_either, summary_of
from kfops.runbooks.stuck_pipeline.backend_rungs import KFP_BACKEND, OBJECT_STORE_RUNG, WORKFLOW_CONTROLLER
from kfops.runbooks.stuck_pipeline.proposals import propose
from kfops.runbooks.stuck_pipeline.run_rungs import (
    CURRENT_STEP,
    KFP,
    SWEEP_RUNG,
    TASK_RESULTS_RUNG,
    WORKFLOW_RUNG,
    select_targets,
)
from kfops.runbooks.stuck_pipeline.step_rungs import (
    NAMESPACE_QUOTA,
    STEP_CONTAINERS,
    STEP_OOM,
    STEP_SCHEDULING,
    STEP_VOLUMES,
)


def _controller_summary(found: Findings) -> str:
    """The controller's rung answer, led by what no longer advances; a crash loop's answer says why
    it crashes and whether a restart would help (backend_rungs.controller_trouble)."""
    prefix = (
        "The Argo workflow-controller crash-loops, so no Workflow advances"
        if found.branch("workflow-controller") == "crashlooping"
        else "The Argo workflow-controller is down"
    )
    return summary_of("workflow-controller", prefix, "stuck-workflows")(found)


CAUSES = (
    Cause(
        "workflow-controller-down",
        "the Argo workflow-controller is down: no Workflow advances",
        answered_either(
            ("workflow-controller", ("missing", "down", "crashlooping", "configmap-missing")),
            ("stuck-workflows", ("controller-down",)),
        ),
        _controller_summary,
    ),
    Cause(
        "task-results-rbac",
        "the steps finished but may not report their results (workflowtaskresults RBAC, Argo ≥ 3.5)",
        answered("task-results", "rbac-missing"),
        summary_of("task-results", "The run finished but stays Running: missing workflowtaskresults RBAC"),
    ),
    Cause(
        "metadata-db-unreachable",
        "KFP's database (metadata / pipelines) cannot be used",
        answered_either(("kfp-backend", ("db-errors",)), ("stuck-workflows", ("database-errors",))),
        summary_of("kfp-backend", "KFP's database is the cause", "stuck-workflows"),
    ),
    Cause(
        "kfp-backend-down",
        "a KFP server (API server, persistence agent, metadata server) is down",
        answered_either(("kfp-backend", ("down",)), ("stuck-workflows", ("server-down",))),
        summary_of("kfp-backend", "A KFP server is down", "stuck-workflows"),
    ),
    Cause(
        "persistence-out-of-sync",
        "Argo finished the run, but the persistence agent has not told KFP",
        answered("kfp-run", "out-of-sync"),
        summary_of("kfp-run", "KFP shows a finished run as active"),
    ),
    Cause(
        "quota-exceeded",
        "the namespace's ResourceQuota refuses the step's pod",
        answered("namespace-quota", "exceeded"),
        summary_of("namespace-quota", "A ResourceQuota refuses the step"),
    ),
    Cause(
        "pvc-unbound",
        "a step's PersistentVolumeClaim cannot bind",
        answered("step-volumes", "unbound"),
        summary_of("step-volumes", "A step's volume cannot bind"),
    ),
    Cause(
        "gpu-shortage",
        "a step waits for GPUs no node has free",
        answered("step-scheduling", "gpu-shortage"),
        summary_of("step-scheduling", "A step waits for GPUs"),
    ),
    Cause(
        "unschedulable",
        "a step fits no node (CPU/memory, taints, affinity)",
        answered("step-scheduling", "insufficient-resources", "taint-affinity", "unschedulable"),
        summary_of("step-scheduling", "A step fits no node"),
    ),
    Cause(
        "image-pull",
        "a step's image cannot be pulled",
        answered("step-containers", "image-pull"),
        summary_of("step-containers", "A step's image cannot be pulled"),
    ),
    Cause(
        "missing-config",
        "a step needs a Secret or ConfigMap that does not exist",
        answered("step-containers", "config-error"),
        summary_of("step-containers", "A step's Secret or ConfigMap is missing"),
    ),
    Cause(
        "oom-killed",
        "a step runs out of memory (OOMKilled, exit code 137)",
        answered("step-oom", "oom"),
        summary_of("step-oom", "A step is OOMKilled"),
    ),
    Cause(
        "step-crashloop",
        "a step's container crashes on start",
        answered("step-containers", "crashloop"),
        summary_of("step-containers", "A step crash-loops"),
    ),
    Cause(
        "object-store-down",
        "the artifact store has no ready endpoint",
        answered("object-store", "no-endpoints"),
        summary_of("object-store", "The artifact store is down"),
    ),
    Cause(
        "workflow-missing",
        "KFP has the run but no Argo Workflow exists for it",
        answered("workflow", "missing"),
        summary_of("workflow", "The run has no Workflow"),
    ),
    Cause(
        "run-failed",
        "the run failed (not stuck): the failed step, its message and exit code say why",
        answered("workflow", "failed"),
        summary_of("workflow", "The run failed"),
        confidence="medium",
    ),
    Cause(
        "step-stalled",
        "a step pod runs but nothing has moved for too long (a hung step)",
        answered("current-step", "stalled"),
        summary_of("current-step", "A step seems hung"),
        confidence="low",
    ),
    Cause(
        "run-stalled",
        "the run has not moved and no rung found why (a Suspend step, a mutex or semaphore, or a "
        "cause kfops does not know)",
        answered_either(("workflow", ("stalled", "stalled-by-pods")), ("stuck-workflows", ("stuck",))),
        summary_of(
            "workflow",
            "The run is stuck and no rung found why — check Suspend steps, mutexes/semaphores and the "
            "workflow-controller's log",
            "stuck-workflows",
        ),
        confidence="low",
    ),
)

LADDER = Ladder(
    id="stuck-pipeline",
    title="Kubeflow pipeline run stuck",
    meaning="A Kubeflow Pipelines run has stopped making progress: it shows Running (or Pending) but "
    "no step starts or finishes, or it finished in Argo while KFP still shows it running.",
    impact="The run's results never arrive and its resources (GPUs, quota) stay held; when the cause is "
    "shared — the workflow-controller, the KFP database, task-result RBAC — every run in the cluster "
    "is stuck the same way.",
    target_input="workflow",
    subject="the unfinished pipeline runs",
    rungs=(
        KFP,
        WORKFLOW_RUNG,
        WORKFLOW_CONTROLLER,
        CURRENT_STEP,
        STEP_SCHEDULING,
        STEP_VOLUMES,
        NAMESPACE_QUOTA,
        STEP_CONTAINERS,
        STEP_OOM,
        KFP_BACKEND,
        OBJECT_STORE_RUNG,
        TASK_RESULTS_RUNG,
    ),
    causes=CAUSES,
    propose=propose,
    check_target=check_workflow_target,
    sweep=SWEEP_RUNG,
    select_targets=select_targets,
    aliases=("pipeline", "kfp", "stuck-run"),
    alerts=("KfopsPipelineRunsStalled",),
    usage="Run `kfops diagnose stuck-pipeline --run-id UUID` (the KFP run id from the UI) or "
    "`--workflow NAME --namespace NS` (the Argo Workflow); without either, kfops finds the unfinished "
    "Workflows in Profile namespaces with no step running or moving for `pipeline_stuck_after_min` (30) "
    "minutes — what the KfopsPipelineRunsStalled alert pages for — and examines the worst; it also says "
    "when the workflow-controller or the KFP servers every run shares are down. Set `kfp_url` (and "
    "`KFOPS_KFP_TOKEN` or `kfp_token_file`) to compare with the "
    "KFP API; without it the ladder reads the Workflow alone. Add `--verbose` for the evidence.",
    mitigation=(
        "If the workflow-controller, the KFP database or a KFP server is down, fix that first: every run "
        "is stuck the same way.",
        "If the workflow-controller crash-loops on its ConfigMap, its RBAC, the API server or its memory "
        "limit, fix that cause: a restart crashes the same way.",
        "If the steps finished but the run stays Running, grant the executor `create, patch` on "
        "workflowtaskresults (Argo ≥ 3.5), then terminate and resubmit the stuck runs.",
        "If a step waits — GPUs, quota, a volume, an image, a Secret — fix what it waits for; Argo "
        "retries on its own. Terminate the run (kfp.terminate-run) to free its resources meanwhile.",
        "If a step is OOMKilled, raise its memory in the pipeline and submit a new run: a retry reuses "
        "the same limit.",
        "If the run failed on a transient cause, retry it (kfp.retry-run).",
    ),
)
