"""The probes of the stuck-pipeline ladder: each read named once, shared by the rungs."""

from __future__ import annotations

from dataclasses import replace

from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.pipelines.backend import (
    Component,
    Controller,
    ObjectStore,
    read_kfp_backend,
    read_object_store,
    read_workflow_controller,
)
from kfops.diagnostics.pipelines.kfp_run import RunView, read_kfp_run
from kfops.diagnostics.pipelines.quotas import Quota, read_quotas
from kfops.diagnostics.pipelines.steps import Steps, read_steps
from kfops.diagnostics.pipelines.sweep import Sweep, read_sweep
from kfops.diagnostics.pipelines.target import resolve
from kfops.diagnostics.pipelines.task_results import TaskResults, read_task_results
from kfops.diagnostics.pipelines.volumes import Storage, read_storage
from kfops.diagnostics.pipelines.workflows import Workflow
from kfops.model import Facts, Observed, Probe


def _read_workflow(ctx: ProbeContext) -> Observed:
    resolved = resolve(ctx)
    workflow = resolved.workflow
    said = (
        f"Workflow {workflow.ref} is {workflow.phase or 'in no phase'}"
        if workflow
        else f"no Workflow carries pipeline/runid={resolved.run_id}"
    )
    return Observed(workflow, (kube_evidence(resolved.fetched, said),))


WORKFLOW = Probe(
    "workflow",
    "GET /apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows/{name} (or list by label pipeline/runid)",
    _read_workflow,
)
KFP_RUN = Probe("kfp-run", "GET {kfp_url}/apis/v2beta1/runs/{run_id}", read_kfp_run)
STEPS = Probe(
    "step-pods",
    "GET /api/v1/namespaces/{ns}/pods?labelSelector=workflows.argoproj.io/workflow={name}, and its events",
    read_steps,
)
STORAGE = Probe(
    "storage",
    "GET /api/v1/namespaces/{ns}/persistentvolumeclaims and /apis/storage.k8s.io/v1/storageclasses",
    read_storage,
)
QUOTAS = Probe("quotas", "GET /api/v1/namespaces/{ns}/resourcequotas", read_quotas)
CONTROLLER = Probe(
    "workflow-controller",
    "GET the workflow-controller Deployment, its pods and ConfigMap in {kfp_namespace}; when it "
    "crash-loops, one pod's previous log (tailLines=50)",
    read_workflow_controller,
)
BACKEND = Probe(
    "kfp-backend",
    "GET the ml-pipeline, persistence agent and metadata-grpc Deployments, pods and last log lines",
    read_kfp_backend,
)
OBJECT_STORE = Probe(
    "object-store",
    "GET /apis/discovery.k8s.io/v1/namespaces/{kfp_namespace}/endpointslices?labelSelector="
    "kubernetes.io/service-name=minio-service",
    read_object_store,
)
TASK_RESULTS = Probe(
    "task-results",
    "the wait container's log of finished step pods (Argo WorkflowTaskResults)",
    read_task_results,
)
SWEEP = Probe(
    "stuck-workflows",
    "GET /apis/kubeflow.org/v1/profiles and /apis/argoproj.io/v1alpha1/workflows?labelSelector="
    "workflows.argoproj.io/completed!=true",
    read_sweep,
)


def _thresholds(ctx: ProbeContext) -> Observed:
    s = ctx.settings
    thresholds = (s.pipeline_stuck_after_min, s.pipeline_pending_after_min, s.pipeline_step_hung_after_min)
    return Observed(thresholds)


THRESHOLDS = Probe(
    "thresholds",
    "settings.pipeline_stuck_after_min, pipeline_pending_after_min and pipeline_step_hung_after_min",
    _thresholds,
)


def stuck_after_min(f: Facts) -> float:
    value: tuple[float, float, float] = f[THRESHOLDS]
    return value[0]


def pending_after_min(f: Facts) -> float:
    value: tuple[float, float, float] = f[THRESHOLDS]
    return value[1]


def hung_after_min(f: Facts) -> float:
    value: tuple[float, float, float] = f[THRESHOLDS]
    return value[2]


#: the sweep also asks about the backend every run shares: a dead controller or database is
#: worth saying even before any run has been still long enough to count as stuck
SWEEP_CONTROLLER = replace(CONTROLLER, optional=True)
SWEEP_BACKEND = replace(BACKEND, optional=True)
#: the step pods for the workflow rung: a failed run's, for the exit code a Workflow node did not
#: record, and an offloaded run's, to judge it stalled (steps.stalled_by_pods); never worth an ERROR
OPTIONAL_STEP_PODS = replace(STEPS, optional=True)


def workflow_of(f: Facts) -> Workflow | None:
    value: Workflow | None = f[WORKFLOW]
    return value


def run_of(f: Facts) -> RunView:
    value: RunView = f[KFP_RUN]
    return value


def steps_of(f: Facts) -> Steps:
    value: Steps = f[STEPS]
    return value


def storage_of(f: Facts) -> Storage:
    value: Storage = f[STORAGE]
    return value


def quotas_of(f: Facts) -> tuple[Quota, ...]:
    value: tuple[Quota, ...] = f[QUOTAS]
    return value


def controller_of(f: Facts) -> Controller:
    value: Controller = f[CONTROLLER]
    return value


def backend_of(f: Facts) -> tuple[Component, ...]:
    value: tuple[Component, ...] = f[BACKEND]
    return value


def object_store_of(f: Facts) -> ObjectStore:
    value: ObjectStore = f[OBJECT_STORE]
    return value


def task_results_of(f: Facts) -> TaskResults:
    value: TaskResults = f[TASK_RESULTS]
    return value


def sweep_of(f: Facts) -> Sweep:
    value: Sweep = f[SWEEP]
    return value
