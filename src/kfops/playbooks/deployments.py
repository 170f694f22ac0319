"""Deployment playbooks: restart one KFP backend Deployment (deployment.restart).

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
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import DEPLOYMENTS
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Outcome, Playbook, Verification, run_step
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


class RestartDeployment(Playbook):
    """``kubectl rollout restart`` of one KFP backend Deployment, verified by its rollout."""

    action = "deployment.restart"
    risk = Risk.MEDIUM
    writes = (("patch", DEPLOYMENTS, ""),)

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        namespace, name, uid = _params(ctx, proposal)
        ref = f"{namespace}/{name}"
        try:
            raw = ctx.reader.get(DEPLOYMENTS, name, namespace).value
        except NotFound as exc:
            raise PlanRefused(f"Deployment {ref} no longer exists") from exc
        meta, spec = raw.get("metadata") or {}, raw.get("spec") or {}
        if meta.get("uid") != uid:
            raise PlanRefused(
                f"Deployment {ref} is not the one diagnosed (uid {meta.get('uid')}, not {uid}): "
                "it was re-created since; diagnose again"
            )
        if meta.get("deletionTimestamp"):
            raise PlanRefused(f"Deployment {ref} is being deleted")
        if spec.get("paused"):
            raise PlanRefused(f"Deployment {ref} is paused: resume it first (kubectl rollout resume)")
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
        ref = f"{step.namespace}/{step.name}"
        deadline = time.monotonic() + ROLLOUT_WAIT_S
        while True:
            try:
                raw = ctx.reader.get(DEPLOYMENTS, step.name, step.namespace).value
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
