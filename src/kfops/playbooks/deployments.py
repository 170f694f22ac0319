"""Deployment playbooks: restart one KFP backend Deployment (deployment.restart); change the image
or the memory of one container of the Profile controller (deployment.set-image,
deployment.set-resources).

    deployment.restart        (medium)  kubectl rollout restart of a KFP backend Deployment
    deployment.set-image      (high)    one container's image of the Profile controller Deployment
    deployment.set-resources  (medium)  one container's memory request and limit, same Deployment


What ``kubectl rollout restart`` does, made safe: a strategic-merge patch that stamps
``spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`` with the time, so the
Deployment controller rolls every pod over (respecting the rollout strategy and readiness). Only
the Deployments the stuck-pipeline ladder names, in settings.kfp_namespace, are restarted: the
workflow-controller, the API server, the persistence agent, the MLMD server and the object store.

The plan is bound to the Deployment's identity, not to the clock: the patch holds a placeholder
for the time, stamped when the dry run and the execution send it, so the re-plan right before
executing hashes like the approved plan. The patch also carries ``metadata.uid``: the API server
refuses it (the uid is immutable) if the Deployment was re-created under the same name since.

Verification waits (ROLLOUT_WAIT_S) for what ``kubectl rollout status`` waits for: the controller
observed the new generation, and every desired replica is updated and available, no old ones left.

The Profile controller playbooks change only settings.profile_controller_deployment in
settings.profile_controller_namespace (profiles-deployment in kubeflow), and only the container the
proposal names: a strategic-merge patch on that container by name (so the other container, kfam or
manager, and every other field stay as they are), carrying ``metadata.uid``. The plan refuses when
the container's image or memory no longer is what the diagnosis saw; the execution re-reads,
rebuilds the patch and sends it only if it is still the planned one, with the resourceVersion of that
read. Verification reads the field back, then waits for the rollout as deployment.restart does.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import DEPLOYMENTS
from kfops.diagnostics.kube.quantity import parse_quantity
from kfops.model import Proposal, Risk
from kfops.playbooks.base import (
    Context,
    Outcome,
    Playbook,
    Verification,
    memory_request_and_limit,
    read_diagnosed_object,
    run_step,
    send_if_still_planned,
)
from kfops.playbooks.plan import Plan, PlanRefused, Step

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
#: the value of RESTARTED_AT in the plan: the time is stamped only when the patch is sent
STAMP = "<time of execution>"
#: the Deployments the stuck-pipeline ladder may propose restarting (domain.md §2.1)
RESTARTABLE = (
    "workflow-controller",
    "ml-pipeline",
    "ml-pipeline-persistenceagent",
    "metadata-grpc-deployment",
    "seaweedfs",
    "minio",
)
#: seconds verify waits for the rollout to finish: a healthy KFP backend pod is ready well within
#: a minute; past two, the rollout is stuck (image, probes, scheduling) and a human must look
ROLLOUT_WAIT_S = 120.0
POLL_S = 1.0
UNSET = "(unset)"


def _params(ctx: Context, proposal: Proposal) -> tuple[str, str, str]:
    namespace, name, uid = (str(proposal.params.get(k) or "") for k in ("namespace", "deployment", "uid"))
    if not (namespace and name and uid):
        raise PlanRefused(
            f"{proposal.action} needs the Deployment's namespace, name and uid in its parameters"
        )
    if name not in RESTARTABLE:
        raise PlanRefused(
            f"kfops restarts only the KFP backend Deployments ({', '.join(RESTARTABLE)}), not {name}"
        )
    if namespace != ctx.settings.kfp_namespace:
        raise PlanRefused(
            f"kfops restarts {name} only in the KFP namespace {ctx.settings.kfp_namespace} "
            f"(settings.kfp_namespace), not in {namespace}"
        )
    return namespace, name, uid


def _stamped(step: Step, ctx: Context) -> Step:
    """The patch as sent: the placeholder replaced by the time now (RFC 3339, UTC)."""
    now = ctx.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dataclasses.replace(step, body=_restart_patch(str(step.body["metadata"]["uid"]), now))


def _restart_patch(uid: str, stamp: str) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid},
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}},
    }


def rollout(raw: dict[str, Any]) -> tuple[bool, str]:
    """(finished, what was seen): ``kubectl rollout status``'s test on a Deployment read now."""
    meta, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    desired = int(spec.get("replicas", 1))
    generation, observed = int(meta.get("generation") or 0), int(status.get("observedGeneration") or 0)
    updated, available = int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    seen = (
        f"observedGeneration {observed} of generation {generation}, {updated} updated, "
        f"{available} available, {total} in all, of {desired} desired"
    )
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        seen += f"; {progressing.get('message') or 'ProgressDeadlineExceeded'}"
    finished = observed >= generation and updated == available == total == desired
    return finished, seen


def read_diagnosed(ctx: Context, namespace: str, name: str, uid: str) -> dict[str, Any]:
    """The Deployment now, if it is still the diagnosed one (same uid), not being deleted nor paused."""
    ref = f"Deployment {namespace}/{name}"
    raw = read_diagnosed_object(ctx, DEPLOYMENTS, name, namespace, uid, ref)
    if (raw.get("spec") or {}).get("paused"):
        raise PlanRefused(f"{ref} is paused: resume it first (kubectl rollout resume)")
    return raw


def wait_for_rollout(ctx: Context, namespace: str, name: str) -> Verification:
    """Wait (ROLLOUT_WAIT_S) until ``kubectl rollout status`` would say the rollout finished."""
    ref = f"{namespace}/{name}"
    deadline = time.monotonic() + ROLLOUT_WAIT_S
    while True:
        try:
            raw = ctx.reader.get(DEPLOYMENTS, name, namespace).value
        except NotFound:
            return Verification(False, f"Deployment {ref} no longer exists")
        except ReaderError as exc:
            return Verification(False, f"cannot verify Deployment {ref}: {exc.headline}")
        finished, seen = rollout(raw)
        if finished:
            return Verification(True, f"the rollout of Deployment {ref} finished: {seen}")
        if time.monotonic() >= deadline:
            return Verification(
                False,
                f"the rollout of Deployment {ref} has not finished after {ROLLOUT_WAIT_S:g} s: {seen}",
            )
        time.sleep(POLL_S)


class RestartDeployment(Playbook):
    """``kubectl rollout restart`` of one KFP backend Deployment, verified by its rollout."""

    action = "deployment.restart"
    risk = Risk.MEDIUM
    writes = (("patch", DEPLOYMENTS, ""),)

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        namespace, name, uid = _params(ctx, proposal)
        ref = f"{namespace}/{name}"
        raw = read_diagnosed(ctx, namespace, name, uid)
        spec = raw.get("spec") or {}
        if int(spec.get("replicas", 1)) == 0:
            raise PlanRefused(f"Deployment {ref} is scaled to 0 replicas: a restart starts nothing")
        annotations = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
        field = f"spec.template.metadata.annotations[{RESTARTED_AT}]"
        _, seen = rollout(raw)
        step = Step(
            verb="patch",
            ref=DEPLOYMENTS,
            name=name,
            namespace=namespace,
            body=_restart_patch(uid, STAMP),
            description=f"restart Deployment {ref} (kubectl rollout restart)",
            strategic=True,
        )
        return Plan(
            proposal,
            (step,),
            (
                f"- {field}: {annotations.get(RESTARTED_AT, '(none)')}",
                f"+ {field}: {STAMP}",
            ),
            (
                f"when planned: {seen}",
                "the Deployment controller replaces its pods by the rollout strategy; the patch carries "
                "the uid, so a re-created Deployment is refused",
            ),
        )

    def dry_run(self, ctx: Context, writer: KubeWriter, plan: Plan) -> list[str]:
        step = _stamped(plan.steps[0], ctx)
        try:
            run_step(writer, step, dry_run=True)
        except ReaderError as exc:
            raise PlanRefused(
                f"the API server refused the dry-run of {step.command()}: {exc.message}"
            ) from exc
        return [f"dry-run OK: {plan.steps[0].command()} (stamped with the time when it is sent)"]

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        step = _stamped(plan.steps[0], ctx)
        ref = f"{step.namespace}/{step.name}"
        try:
            run_step(writer, step, dry_run=False)
        except ReaderError as exc:
            return Outcome(False, f"stopped at {step.command()}: {exc.message}; nothing was changed")
        stamp = step.body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        return Outcome(True, f"Deployment {ref} restarted ({RESTARTED_AT}={stamp})", (step.command(),))

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        step = plan.steps[0]
        return wait_for_rollout(ctx, step.namespace or "", step.name)


# --------------------------------------------------------------------------- the Profile controller


@dataclass(frozen=True)
class Controller:
    """The Profile controller Deployment and the one container a proposal changes."""

    namespace: str
    name: str
    uid: str
    container: str

    @property
    def ref(self) -> str:
        return f"Deployment {self.namespace}/{self.name}"

    def field(self, path: str) -> str:
        return f"spec.template.spec.containers[{self.container}].{path}"


@dataclass(frozen=True)
class Built:
    """What one proposal becomes against one read of the Deployment."""

    fields: dict[str, Any]  # the container's fields the patch sets (besides its name)
    undo: dict[str, Any]  # the same fields as read
    diff: tuple[str, ...]
    notes: tuple[str, ...]
    description: str


def _shown(value: object) -> str:
    return UNSET if value is None else value if isinstance(value, str) else json.dumps(value)


def _container_patch(uid: str | None, container: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A strategic-merge patch of one container, merged into the list by its name."""
    patch: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [{"name": container, **fields}]}}}}
    return {"metadata": {"uid": uid}, **patch} if uid else patch


def _same_quantity(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    left, right = parse_quantity(a), parse_quantity(b)
    return left == right if left is not None and right is not None else str(a) == str(b)


class _ControllerPatch(Playbook):
    """One strategic-merge patch on one container of the Profile controller Deployment."""

    writes = (("patch", DEPLOYMENTS, ""),)
    #: parameters that must be set / present (null allowed), besides namespace, deployment, uid, container
    required: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()

    def validate(self, proposal: Proposal) -> None:
        """Refuse malformed parameters (before reading anything)."""

    def build(self, target: Controller, proposal: Proposal, container: dict[str, Any]) -> Built:
        """The patch for this read of the container, or PlanRefused saying what no longer holds."""
        raise NotImplementedError

    def done(self, target: Controller, proposal: Proposal, container: dict[str, Any]) -> tuple[bool, str]:
        """(took effect, what the read shows) for a read after the execution."""
        raise NotImplementedError

    def _target(self, ctx: Context, proposal: Proposal) -> Controller:
        params = proposal.params
        keys = ("namespace", "deployment", "uid", "container", *self.required)
        missing = [k for k in keys if params.get(k) in (None, "")]
        missing += [k for k in self.nullable if k not in params]
        if missing:
            raise PlanRefused(f"{proposal.action} needs {', '.join(missing)} in its parameters")
        namespace, name = str(params["namespace"]), str(params["deployment"])
        settings = ctx.settings
        if name != settings.profile_controller_deployment:
            raise PlanRefused(
                f"{proposal.action} changes only the Profile controller Deployment "
                f"{settings.profile_controller_deployment} (settings.profile_controller_deployment), "
                f"not {name}"
            )
        if namespace != settings.profile_controller_namespace:
            raise PlanRefused(
                f"{proposal.action} changes {name} only in the Profile controller's namespace "
                f"{settings.profile_controller_namespace} (settings.profile_controller_namespace), "
                f"not in {namespace}"
            )
        return Controller(namespace, name, str(params["uid"]), str(params["container"]))

    @staticmethod
    def _container(target: Controller, raw: dict[str, Any]) -> dict[str, Any]:
        template = (raw.get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        for container in containers:
            if container.get("name") == target.container:
                found: dict[str, Any] = container
                return found
        # a strategic-merge patch on a name the list lacks would ADD a container: refuse instead
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise PlanRefused(f"{target.ref} has no container {target.container} (it has {names})")

    def _step(self, target: Controller, built: Built) -> Step:
        return Step(
            verb="patch",
            ref=DEPLOYMENTS,
            name=target.name,
            namespace=target.namespace,
            body=_container_patch(target.uid, target.container, built.fields),
            description=built.description,
            strategic=True,
        )

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        target = self._target(ctx, proposal)
        self.validate(proposal)
        raw = read_diagnosed(ctx, target.namespace, target.name, target.uid)
        built = self.build(target, proposal, self._container(target, raw))
        _, seen = rollout(raw)
        undo = json.dumps(_container_patch(None, target.container, built.undo), sort_keys=True)
        notes = (
            f"when planned: {seen}",
            *built.notes,
            "the Deployment controller replaces the pods by the rollout strategy; the patch carries the uid, "
            "so a re-created Deployment is refused",
            f"to undo: kubectl patch deployment {target.name} -n {target.namespace} --type strategic "
            f"-p '{undo}'",
        )
        return Plan(proposal, (self._step(target, built),), built.diff, notes)

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        """Re-read, re-build, and send only if the patch is still the planned one, conditioned on
        the resourceVersion of that read (the API server refuses it if anything changed since)."""
        proposal = plan.proposal

        def rebuild() -> tuple[Step, str, object]:
            target = self._target(ctx, proposal)
            raw = read_diagnosed(ctx, target.namespace, target.name, target.uid)
            fresh = self._step(target, self.build(target, proposal, self._container(target, raw)))
            return fresh, target.ref, (raw.get("metadata") or {}).get("resourceVersion")

        return send_if_still_planned(writer, plan.steps[0], rebuild)

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        """The field reads back as patched; then the rollout finishes (deployment.restart's test)."""
        proposal = plan.proposal
        params = proposal.params
        target = Controller(
            str(params["namespace"]), str(params["deployment"]), str(params["uid"]), str(params["container"])
        )
        try:
            raw = ctx.reader.get(DEPLOYMENTS, target.name, target.namespace).value
        except NotFound:
            return Verification(False, f"{target.ref} no longer exists")
        except ReaderError as exc:
            return Verification(False, f"cannot verify {target.ref}: {exc.headline}")
        if (raw.get("metadata") or {}).get("uid") != target.uid:
            return Verification(False, f"{target.ref} was re-created: it is not the object patched")
        try:
            ok, seen = self.done(target, proposal, self._container(target, raw))
        except PlanRefused as exc:
            return Verification(False, str(exc))
        if not ok:
            return Verification(False, f"{target.ref}: {seen}")
        rolled = wait_for_rollout(ctx, target.namespace, target.name)
        return Verification(rolled.ok, f"{target.ref}: {seen}; {rolled.summary}")


class SetControllerImage(_ControllerPatch):
    """One container's image of the Profile controller: back to (or on to) a release that decodes the
    CRD version the cluster serves."""

    action = "deployment.set-image"
    risk = Risk.HIGH
    required = ("from_image", "to_image", "from_version", "to_version", "reason")

    def validate(self, proposal: Proposal) -> None:
        params = proposal.params
        image = params["to_image"]
        # the API server checks image whitespace only on pods, not on a Deployment's template: the
        # rollout would then fail to pull, so refuse it here
        if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
            raise PlanRefused(f"{proposal.action} needs to_image as an image reference, not {image!r}")
        if params["from_image"] == image:
            raise PlanRefused(
                f"{proposal.action}: from_image and to_image are both {params['to_image']}: nothing to change"
            )

    def build(self, target: Controller, proposal: Proposal, container: dict[str, Any]) -> Built:
        params = proposal.params
        from_image, to_image = str(params["from_image"]), str(params["to_image"])
        from_version, to_version = str(params["from_version"]), str(params["to_version"])
        now = container.get("image")
        field = target.field("image")
        if now == to_image:
            raise PlanRefused(
                f"{target.ref} already runs {to_image} in {target.container}: nothing to change"
            )
        if now != from_image:
            raise PlanRefused(
                f"{target.ref} changed since the diagnosis: {field} went from {from_image} to {_shown(now)}; "
                "diagnose again"
            )
        return Built(
            fields={"image": to_image},
            undo={"image": now},
            diff=(f"- {field}: {from_image} ({from_version})", f"+ {field}: {to_image} ({to_version})"),
            notes=(
                f"{target.container}: {from_version} → {to_version}: {params['reason']}",
                f"only container {target.container} changes; the other containers keep their images",
            ),
            description=(
                f"set the image of container {target.container} of {target.namespace}/{target.name} to "
                f"{to_image} ({from_version} → {to_version})"
            ),
        )

    def done(self, target: Controller, proposal: Proposal, container: dict[str, Any]) -> tuple[bool, str]:
        now, wanted = container.get("image"), proposal.params["to_image"]
        seen = f"{target.field('image')} is {_shown(now)}"
        return now == wanted, seen + ("" if now == wanted else f", not {wanted}")


class SetControllerResources(_ControllerPatch):
    """One container's memory request and limit of the Profile controller (OOMKilled)."""

    action = "deployment.set-resources"
    risk = Risk.MEDIUM
    required, nullable = ("memory_limit", "memory_request"), ("current_limit", "current_request")

    def validate(self, proposal: Proposal) -> None:
        memory_request_and_limit(proposal)

    @staticmethod
    def _memory_now(container: dict[str, Any]) -> tuple[object, object]:
        resources = container.get("resources") or {}
        return (resources.get("requests") or {}).get("memory"), (resources.get("limits") or {}).get("memory")

    def build(self, target: Controller, proposal: Proposal, container: dict[str, Any]) -> Built:
        params = proposal.params
        request, limit = str(params["memory_request"]), str(params["memory_limit"])
        now_request, now_limit = self._memory_now(container)
        requests, limits = target.field("resources.requests.memory"), target.field("resources.limits.memory")
        for field, diagnosed, now in (
            (requests, params.get("current_request"), now_request),
            (limits, params.get("current_limit"), now_limit),
        ):
            if not _same_quantity(now, diagnosed):
                raise PlanRefused(
                    f"{target.ref} changed since the diagnosis: {field} went from {_shown(diagnosed)} to "
                    f"{_shown(now)}; diagnose again"
                )
        if _same_quantity(now_request, request) and _same_quantity(now_limit, limit):
            raise PlanRefused(
                f"{target.ref} already requests {request} and limits {limit} of memory in "
                f"{target.container}: nothing to change"
            )
        notes = [f"arithmetic: {params['arithmetic']}"] if params.get("arithmetic") else []
        notes.append(
            "a strategic-merge patch of the container's resources: only the memory request and limit change, "
            "CPU and the other containers stay as they are"
        )
        return Built(
            fields={"resources": {"limits": {"memory": limit}, "requests": {"memory": request}}},
            undo={"resources": {"limits": {"memory": now_limit}, "requests": {"memory": now_request}}},
            diff=(
                f"- {requests}: {_shown(now_request)}",
                f"+ {requests}: {request}",
                f"- {limits}: {_shown(now_limit)}",
                f"+ {limits}: {limit}",
            ),
            notes=tuple(notes),
            description=(
                f"set the memory request/limit of container {target.container} of "
                f"{target.namespace}/{target.name} to {request}/{limit}"
            ),
        )

    def done(self, target: Controller, proposal: Proposal, container: dict[str, Any]) -> tuple[bool, str]:
        now_request, now_limit = self._memory_now(container)
        request, limit = proposal.params["memory_request"], proposal.params["memory_limit"]
        ok = _same_quantity(now_request, request) and _same_quantity(now_limit, limit)
        seen = (
            f"{target.field('resources')} requests {_shown(now_request)} and limits {_shown(now_limit)} "
            "of memory"
        )
        return ok, seen + ("" if ok else f", not {request}/{limit}")
