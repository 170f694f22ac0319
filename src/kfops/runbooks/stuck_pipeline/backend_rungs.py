"""Rungs about KFP's backend: the Argo workflow-controller, the KFP servers and their database,
and the object store."""

from __future__ import annotations

from kfops.diagnostics.pipelines.backend import CONTROLLER_CONFIGMAP, Component, Controller
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


# ---------------------------------------------------------------- shared with the sweep
def controller_trouble(controller: Controller | None) -> str:
    """What stops the workflow-controller, in one sentence; "" when it runs (or was not read)."""
    if controller is None:
        return ""
    deployment = controller.deployment
    if not deployment.found:
        return f"{deployment.describe()}: no Workflow in the cluster can advance"
    if deployment.crashlooping:
        crash = controller.crash
        if crash is not None and crash.explained:
            return f"workflow-controller is crash-looping {crash.describe()} ({deployment.describe()})"
        why = f"; {crash.describe()}" if crash is not None else ""
        return f"workflow-controller is crash-looping: {deployment.describe()}{why}"
    if deployment.down:
        return f"workflow-controller is down: {deployment.describe()}"
    if not controller.configmap_found:
        return f"ConfigMap {deployment.namespace}/{CONTROLLER_CONFIGMAP} is missing ({deployment.describe()})"
    return ""


def database_trouble(components: tuple[Component, ...] | None) -> str:
    """The KFP servers' database errors, pointing at the Galera ladder; "" when there are none."""
    parts = [
        f"{c.name} ({c.describe()}): {e.meaning} — '{e.line}'"
        for c in components or ()
        for e in c.db_errors[:1]
    ]
    if not parts:
        return ""
    return (
        "; ".join(parts) + " — the database behind KFP is the cause: run "
        "`kfops diagnose galera-migration-failure` (or check the mysql Deployment)"
    )


def server_trouble(components: tuple[Component, ...] | None) -> str:
    """The KFP servers that are down or crash-looping; "" when none is."""
    return "; ".join(f"{c.role}: {c.describe()}" for c in components or () if c.down or c.crashlooping)


# ---------------------------------------------------------------- workflow-controller
def _controller(f: Facts) -> Component:
    return controller_of(f).deployment


def _controller_say(f: Facts) -> str:
    return controller_trouble(controller_of(f))


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
            _controller_say,
        ),
        Branch(
            "crashlooping",
            Status.FAIL,
            "the workflow-controller crash-loops: Workflows advance only between crashes, if at all; its "
            "previous log (a ConfigMap that does not parse, an RBAC refusal, an unreachable API server) or "
            "its last termination (OOMKilled) says why, and whether a restart can help",
            lambda f: bool(_controller(f).crashlooping),
            _controller_say,
        ),
        Branch(
            "down",
            Status.FAIL,
            "no workflow-controller replica is available: no Workflow advances",
            lambda f: _controller(f).down,
            _controller_say,
        ),
        Branch(
            "configmap-missing",
            Status.FAIL,
            f"the {CONTROLLER_CONFIGMAP} ConfigMap is missing: the controller runs without its "
            "executor and artifact repository settings",
            lambda f: not controller_of(f).configmap_found,
            _controller_say,
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
            lambda f: bool(database_trouble(backend_of(f))),
            lambda f: database_trouble(backend_of(f)),
        ),
        Branch(
            "down",
            Status.FAIL,
            "a KFP server is down or crash-looping",
            lambda f: bool(server_trouble(backend_of(f))),
            lambda f: server_trouble(backend_of(f)),
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
