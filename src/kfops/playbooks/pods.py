"""Pod playbooks: delete one pod (pod.delete) whose owner replaces it — a stuck Argo step pod, so
Argo retries the step, or a wedged predictor replica of a KServe InferenceService, so its
ReplicaSet starts a fresh one.

The stuck-pipeline ladder proposes it for a step pod that stalled or crash-loops (parameter
``workflow``). Argo marks the node of a vanished pod ``Error`` ("pod deleted") and, where the step
has a retryStrategy, runs it again in a new pod; without one the run fails there, which is still
better than a run that hangs forever, and the plan says so.

The kserve-flapping ladder proposes it for a predictor replica that runs but has not been Ready for
long while another replica serves (parameter ``inferenceservice``). Its owner check is KServe's
label on every predictor pod; a replica that is Ready again by the time of the plan recovered, and
is not deleted.

The delete carries the diagnosed uid as a precondition, so a pod that was re-created under the
same name since the diagnosis is never the one deleted. The plan is bound to the pod's identity
(namespace, name, uid), not to its changing status, so an approval survives a container restart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import PODS
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Playbook, Verification
from kfops.playbooks.plan import Plan, PlanRefused, Step

#: the label Argo puts on every pod of a Workflow (domain.md §2.2)
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
#: the label KServe puts on every pod of an InferenceService's components (domain.md §3)
ISVC_LABEL = "serving.kserve.io/inferenceservice"
#: the label naming the component (predictor, transformer, explainer)
COMPONENT_LABEL = "component"
#: seconds verify waits for the pod to be gone: a pod on a live node ends within its grace period
#: (30 s by default); one still there after this waits on its kubelet
GONE_S = 40.0
POLL_S = 0.2


@dataclass(frozen=True)
class Owner:
    """Who replaces the pod once it is gone: an Argo Workflow, or an InferenceService's predictor."""

    kind: str  # "workflow" | "inferenceservice" (the proposal's parameter)
    namespace: str
    name: str

    @property
    def argo(self) -> bool:
        return self.kind == "workflow"

    @property
    def label(self) -> str:
        return WORKFLOW_LABEL if self.argo else ISVC_LABEL

    @property
    def what(self) -> str:
        """The pod's role, for messages: "step pod of Workflow x" / "predictor replica of …"."""
        if self.argo:
            return f"step pod of Workflow {self.name}"
        return f"predictor replica of InferenceService {self.namespace}/{self.name}"

    def other(self, name: str | None) -> str:
        """The owner a pod labelled `name` has instead, for the refusal."""
        if self.argo:
            return f"of Workflow {name}" if name else f"of any Workflow (no {WORKFLOW_LABEL} label)"
        if name:
            return f"of InferenceService {self.namespace}/{name}"
        return f"of no InferenceService (no {ISVC_LABEL} label)"


def _params(proposal: Proposal) -> tuple[str, str, str, Owner]:
    namespace, pod, uid, workflow, isvc = (
        str(proposal.params.get(k) or "") for k in ("namespace", "pod", "uid", "workflow", "inferenceservice")
    )
    if workflow and isvc:
        raise PlanRefused(
            f"{proposal.action} names both a workflow and an inferenceservice in its parameters: "
            "a pod has one owner"
        )
    if not (namespace and pod and uid and (workflow or isvc)):
        raise PlanRefused(
            f"{proposal.action} needs the pod's namespace, name, uid and workflow (or inferenceservice) "
            "in its parameters"
        )
    owner = Owner("workflow", namespace, workflow) if workflow else Owner("inferenceservice", namespace, isvc)
    return namespace, pod, uid, owner


def _refusal(raw: dict[str, Any], ref: str, uid: str, owner: Owner) -> str:
    """Why the pod read now is not the pod the proposal names ("" when it is)."""
    meta, status = raw.get("metadata") or {}, raw.get("status") or {}
    if meta.get("uid") != uid:
        return (
            f"pod {ref} is not the one diagnosed (uid {meta.get('uid')}, not {uid}): it was re-created since"
        )
    labels = meta.get("labels") or {}
    labelled = labels.get(owner.label)
    if labelled != owner.name:
        return f"pod {ref} is not a {owner.what} but {owner.other(labelled)}: kfops deletes only that"
    component = labels.get(COMPONENT_LABEL)
    if not owner.argo and component not in (None, "predictor"):
        return (
            f"pod {ref} is a {component} replica of InferenceService {owner.namespace}/{owner.name}, "
            "not a predictor replica: kfops deletes only that"
        )
    if meta.get("deletionTimestamp"):
        return f"pod {ref} is already being deleted (since {meta['deletionTimestamp']})"
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        effect = "retries nothing" if owner.argo else "replaces nothing (its ReplicaSet has already)"
        return f"pod {ref} has already finished ({phase}): deleting it {effect}"
    if not owner.argo and _ready(raw):
        return f"pod {ref} is Ready now: the {owner.what} recovered since the diagnosis; nothing to delete"
    return ""


def _ready(raw: dict[str, Any]) -> bool:
    conditions = (raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class DeleteStepPod(Playbook):
    """Delete exactly the diagnosed step pod of one Argo Workflow, or the diagnosed predictor
    replica of one InferenceService (uid precondition)."""

    action = "pod.delete"
    risk = Risk.MEDIUM
    writes = (("delete", PODS, ""),)

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        namespace, pod, uid, owner = _params(proposal)
        ref = f"{namespace}/{pod}"
        try:
            raw = ctx.reader.get(PODS, pod, namespace).value
        except NotFound as exc:
            who = "Argo" if owner.argo else "its ReplicaSet"
            raise PlanRefused(f"pod {ref} no longer exists ({who} or someone deleted it already)") from exc
        problem = _refusal(raw, ref, uid, owner)
        if problem:
            raise PlanRefused(problem)
        phase = (raw.get("status") or {}).get("phase") or "unknown"
        node = (raw.get("spec") or {}).get("nodeName") or "no node"
        if owner.argo:
            description = f"delete step pod {ref} (uid {uid}) of Workflow {namespace}/{owner.name}"
            effect = "+ Argo marks the step 'pod deleted' and retries it in a new pod"
            why = (
                "Argo retries the step only if its template has a retryStrategy; without one the run "
                "fails at this step instead of hanging"
            )
        else:
            description = f"delete pod {ref} (uid {uid}), a {owner.what}"
            effect = "+ its ReplicaSet starts a new predictor replica in its place"
            why = (
                "the predictor keeps its replica count: the other replicas serve while the new one "
                "loads the model and becomes Ready"
            )
        step = Step(
            verb="delete",
            ref=PODS,
            name=pod,
            namespace=namespace,
            body={},
            description=description,
            uid=uid,
        )
        when = f"when planned: phase {phase} on {node}" + ("" if owner.argo else ", not Ready")
        return Plan(
            proposal,
            (step,),
            (f"- pod {ref} (uid {uid})", effect),
            (when, why, "only this pod: the delete carries a uid precondition"),
        )

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        """Done when no pod with the planned uid exists (a new pod under the same name counts)."""
        step = plan.steps[0]
        ref = f"{step.namespace}/{step.name}"
        argo = not plan.proposal.params.get("inferenceservice")
        deadline = time.monotonic() + GONE_S
        while True:
            try:
                raw = ctx.reader.get(PODS, step.name, step.namespace).value
            except NotFound:
                after = "Argo takes the step from here" if argo else "its ReplicaSet starts a new replica"
                return Verification(True, f"pod {ref} (uid {step.uid}) is gone; {after}")
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
