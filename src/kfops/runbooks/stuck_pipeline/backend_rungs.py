"""Rungs about KFP's backend: the Argo workflow-controller, the KFP servers and their database,
and the object store."""

from __future__ import annotations

from kfops.diagnostics.pipelines.backend import CONTROLLER_CONFIGMAP, Component
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.stuck_pipeline.probes import (
    BACKEND,
    CONTROLLER,
    OBJECT_STORE,
    backend_of,
    controller_of,
    object_store_of,
)

#: restarts of the workflow-controller worth a warning (each one re-lists every Workflow)
CONTROLLER_RESTARTS_WARN = 3


# ---------------------------------------------------------------- workflow-controller
def _controller(f: Facts) -> Component:
    return controller_of(f).deployment


WORKFLOW_CONTROLLER = Rung(
    id="workflow-controller",
    question="Is the Argo workflow-controller running, with its ConfigMap?",
    probes=(CONTROLLER,),
    branches=(
        Branch(
            "missing",
            Status.FAIL,
            "no workflow-controller Deployment: nothing advances any Workflow",
            lambda f: not _controller(f).found,
            lambda f: f"{_controller(f).describe()}: no Workflow in the cluster can advance",
        ),
        Branch(
            "crashlooping",
            Status.FAIL,
            "the workflow-controller crash-loops: Workflows advance only between crashes, if at all",
            lambda f: bool(_controller(f).crashlooping),
            lambda f: f"workflow-controller is crash-looping: {_controller(f).describe()}",
        ),
        Branch(
            "down",
            Status.FAIL,
            "no workflow-controller replica is available: no Workflow advances",
            lambda f: _controller(f).down,
            lambda f: f"workflow-controller is down: {_controller(f).describe()}",
        ),
        Branch(
            "configmap-missing",
            Status.FAIL,
            f"the {CONTROLLER_CONFIGMAP} ConfigMap is missing: the controller runs without its "
            "executor and artifact repository settings",
            lambda f: not controller_of(f).configmap_found,
            lambda f: (
                f"ConfigMap {_controller(f).namespace}/{CONTROLLER_CONFIGMAP} is missing "
                f"({_controller(f).describe()})"
            ),
        ),
        Branch(
            "restarting",
            Status.WARN,
            f"the workflow-controller restarted {CONTROLLER_RESTARTS_WARN} times or more",
            lambda f: _controller(f).restarts >= CONTROLLER_RESTARTS_WARN,
            lambda f: f"workflow-controller restarts: {_controller(f).describe()}",
        ),
    ),
    default=Branch(
        "healthy",
        Status.OK,
        "the workflow-controller is available",
        lambda f: True,
        lambda f: _controller(f).describe(),
    ),
)


# ---------------------------------------------------------------- kfp-backend
def _with_db_errors(f: Facts) -> tuple[Component, ...]:
    return tuple(c for c in backend_of(f) if c.db_errors)


def _down(f: Facts) -> tuple[Component, ...]:
    return tuple(c for c in backend_of(f) if c.down or c.crashlooping)


def _db_say(f: Facts) -> str:
    parts = [
        f"{c.name} ({c.describe()}): {e.meaning} — '{e.line}'"
        for c in _with_db_errors(f)
        for e in c.db_errors[:1]
    ]
    return (
        "; ".join(parts) + " — the database behind KFP is the cause: run "
        "`kfops diagnose galera-migration-failure` (or check the mysql Deployment)"
    )


KFP_BACKEND = Rung(
    id="kfp-backend",
    question="Are the KFP API server, persistence agent and metadata server up, and do their logs show "
    "database errors?",
    probes=(BACKEND,),
    branches=(
        Branch(
            "db-errors",
            Status.FAIL,
            "a KFP server cannot use its database: runs cannot be recorded or advanced",
            lambda f: bool(_with_db_errors(f)),
            _db_say,
        ),
        Branch(
            "down",
            Status.FAIL,
            "a KFP server is down or crash-looping",
            lambda f: bool(_down(f)),
            lambda f: "; ".join(f"{c.role}: {c.describe()}" for c in _down(f)),
        ),
        Branch(
            "missing",
            Status.WARN,
            "a KFP server Deployment is missing (a partial or differently named install)",
            lambda f: any(not c.found for c in backend_of(f)),
            lambda f: "; ".join(c.describe() for c in backend_of(f) if not c.found),
        ),
    ),
    default=Branch(
        "healthy",
        Status.OK,
        "the KFP servers are up with no database errors in their logs",
        lambda f: True,
        lambda f: "; ".join(c.describe() for c in backend_of(f)) + "; no database errors in their logs",
    ),
)


# ---------------------------------------------------------------- object-store
def _no_endpoints_say(f: Facts) -> str:
    deployment = object_store_of(f).deployment
    behind = f" ({deployment.describe()})" if deployment else ""
    return f"Service minio-service has no ready endpoint{behind}: steps cannot upload or download artifacts"


OBJECT_STORE_RUNG = Rung(
    id="object-store",
    question="Does the artifact store (minio-service: SeaweedFS or MinIO) have ready endpoints?",
    probes=(OBJECT_STORE,),
    branches=(
        Branch(
            "not-found",
            Status.NO_DATA,
            "no minio-service in the KFP namespace: an external object store is not checked",
            lambda f: not object_store_of(f).found,
            lambda f: (
                "no EndpointSlice for Service minio-service: KFP may use an external S3/GCS store, which "
                "kfops does not check — verify it by hand"
            ),
        ),
        Branch(
            "no-endpoints",
            Status.FAIL,
            "minio-service has no ready endpoint: steps cannot read or write artifacts",
            lambda f: object_store_of(f).ready == 0,
            _no_endpoints_say,
        ),
    ),
    default=Branch(
        "ready",
        Status.OK,
        "the object store has ready endpoints",
        lambda f: True,
        lambda f: f"minio-service has {object_store_of(f).ready} ready endpoint(s)",
    ),
)
