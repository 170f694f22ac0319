"""Pod playbooks: delete one stuck Argo step pod (pod.delete) so Argo retries the step.

The stuck-pipeline ladder proposes it for a step pod that stalled or crash-loops. Argo marks the
node of a vanished pod ``Error`` ("pod deleted") and, where the step has a retryStrategy, runs it
again in a new pod; without one the run fails there, which is still better than a run that hangs
forever, and the plan says so.

The delete carries the diagnosed uid as a precondition, so a pod that was re-created under the
same name since the diagnosis is never the one deleted. The plan is bound to the pod's identity
(namespace, name, uid), not to its changing status, so an approval survives a container restart.
"""

from __future__ import annotations

import time
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import PODS
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Playbook, Verification
from kfops.playbooks.plan import Plan, PlanRefused, Step

#: the label Argo puts on every pod of a Workflow (domain.md §2.2)
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
#: seconds verify waits for the pod to be gone: a pod on a live node ends within its grace period
#: (30 s by default); one still there after this waits on its kubelet
GONE_S = 40.0
POLL_S = 0.2


def _params(proposal: Proposal) -> tuple[str, str, str, str]:
    namespace, pod, uid, workflow = (
        str(proposal.params.get(k) or "") for k in ("namespace", "pod", "uid", "workflow")
    )
    if not (namespace and pod and uid and workflow):
        raise PlanRefused(
            f"{proposal.action} needs the pod's namespace, name, uid and workflow in its parameters"
        )
    return namespace, pod, uid, workflow


def _refusal(raw: dict[str, Any], ref: str, uid: str, workflow: str) -> str:
    """Why the pod read now is not the step pod the proposal names ("" when it is)."""
    meta, status = raw.get("metadata") or {}, raw.get("status") or {}
    if meta.get("uid") != uid:
        return (
            f"pod {ref} is not the one diagnosed (uid {meta.get('uid')}, not {uid}): it was re-created since"
        )
    owner = (meta.get("labels") or {}).get(WORKFLOW_LABEL)
    if owner != workflow:
        of = f"of Workflow {owner}" if owner else f"of any Workflow (no {WORKFLOW_LABEL} label)"
        return f"pod {ref} is not a step pod of Workflow {workflow} but {of}: kfops deletes only that"
    if meta.get("deletionTimestamp"):
        return f"pod {ref} is already being deleted (since {meta['deletionTimestamp']})"
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        return f"pod {ref} has already finished ({phase}): deleting it retries nothing"
    return ""


class DeleteStepPod(Playbook):
    """Delete exactly the diagnosed step pod of one Argo Workflow (uid precondition)."""

    action = "pod.delete"
    risk = Risk.MEDIUM
    writes = (("delete", PODS, ""),)

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        namespace, pod, uid, workflow = _params(proposal)
        ref = f"{namespace}/{pod}"
        try:
            raw = ctx.reader.get(PODS, pod, namespace).value
        except NotFound as exc:
            raise PlanRefused(f"pod {ref} no longer exists (Argo or someone deleted it already)") from exc
        problem = _refusal(raw, ref, uid, workflow)
        if problem:
            raise PlanRefused(problem)
        phase = (raw.get("status") or {}).get("phase") or "unknown"
        node = (raw.get("spec") or {}).get("nodeName") or "no node"
        step = Step(
            verb="delete",
            ref=PODS,
            name=pod,
            namespace=namespace,
            body={},
            description=f"delete step pod {ref} (uid {uid}) of Workflow {namespace}/{workflow}",
            uid=uid,
        )
        return Plan(
            proposal,
            (step,),
            (f"- pod {ref} (uid {uid})", "+ Argo marks the step 'pod deleted' and retries it in a new pod"),
            (
                f"when planned: phase {phase} on {node}",
                "Argo retries the step only if its template has a retryStrategy; without one the run "
                "fails at this step instead of hanging",
                "only this pod: the delete carries a uid precondition",
            ),
        )

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        """Done when no pod with the planned uid exists (a new pod under the same name counts)."""
        step = plan.steps[0]
        ref = f"{step.namespace}/{step.name}"
        deadline = time.monotonic() + GONE_S
        while True:
            try:
                raw = ctx.reader.get(PODS, step.name, step.namespace).value
            except NotFound:
                return Verification(
                    True, f"pod {ref} (uid {step.uid}) is gone; Argo takes the step from here"
                )
            except ReaderError as exc:
                return Verification(False, f"cannot verify pod {ref}: {exc.headline}")
            meta = raw.get("metadata") or {}
            if meta.get("uid") != step.uid:
                return Verification(
                    True, f"pod {ref} (uid {step.uid}) is gone; a new pod {ref} (uid {meta.get('uid')}) runs"
                )
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        state = (
            f"terminating since {meta['deletionTimestamp']}"
            if meta.get("deletionTimestamp")
            else "not deleted"
        )
        return Verification(
            False,
            f"pod {ref} (uid {step.uid}) still exists after {GONE_S:g} s ({state}): its node's kubelet has "
            "not confirmed the delete; if the node is gone, force-delete it by hand",
        )
