"""GPU playbooks: restart the device plugin on one node (domain.md §1.5: the plugin never recovers
a device it marked unhealthy; a new plugin pod re-advertises the GPUs)."""

from __future__ import annotations

from kfops.clients.errors import NotFound
from kfops.clients.resources import PODS
from kfops.diagnostics.gpu.operator import operand_of
from kfops.diagnostics.kube.pods import pod_facts
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Playbook, Verification
from kfops.playbooks.plan import Plan, PlanRefused, Step


class RestartDevicePlugin(Playbook):
    action = "gpu.restart-device-plugin"
    risk = Risk.MEDIUM
    writes = (("delete", PODS, ""),)

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        namespace, pod, node = (str(proposal.params.get(k, "")) for k in ("namespace", "pod", "node"))
        try:
            raw = ctx.reader.get(PODS, pod, namespace).value
        except NotFound as exc:
            raise PlanRefused(
                f"device-plugin pod {namespace}/{pod} no longer exists (already restarted?)"
            ) from exc
        facts = pod_facts(raw)
        if operand_of(facts) != "device-plugin":
            raise PlanRefused(f"pod {namespace}/{pod} is not a device-plugin pod")
        if facts.node != node:
            raise PlanRefused(f"pod {namespace}/{pod} runs on {facts.node}, not on {node}")
        uid = str((raw.get("metadata") or {}).get("uid", ""))
        return Plan(
            proposal,
            (
                Step(
                    verb="delete",
                    ref=PODS,
                    name=pod,
                    namespace=namespace,
                    body={},
                    description=f"delete device-plugin pod {namespace}/{pod} on {node} "
                    "(its DaemonSet recreates it)",
                    uid=uid,
                ),
            ),
            (f"- pod {namespace}/{pod} (uid {uid})",),
            ("only this pod, on this node: the delete carries a uid precondition",),
        )

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        step = plan.steps[0]
        try:
            raw = ctx.reader.get(PODS, step.name, step.namespace).value
        except NotFound:
            return Verification(
                True, f"pod {step.namespace}/{step.name} is gone; the DaemonSet starts a new one"
            )
        meta = raw.get("metadata") or {}
        if meta.get("uid") != step.uid or meta.get("deletionTimestamp"):
            return Verification(
                True, f"pod {step.namespace}/{step.name} (uid {step.uid}) is terminating or replaced"
            )
        return Verification(False, f"pod {step.namespace}/{step.name} still runs")
