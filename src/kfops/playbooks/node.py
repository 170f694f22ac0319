"""GPU node playbooks: cordon, uncordon, drain, out-of-service taint (domain.md §1.3, §1.11)."""

from __future__ import annotations

import time
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import NODES, PODS
from kfops.diagnostics.kube.nodes import OUT_OF_SERVICE, NodeFacts, node_facts
from kfops.diagnostics.kube.pods import PodFacts, pod_facts
from kfops.diagnostics.kube.timefmt import minutes_between
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Outcome, Playbook, Verification, node_name, run_step
from kfops.playbooks.plan import Plan, PlanRefused, Step

MIRROR = "kubernetes.io/config.mirror"


def _read_node(ctx: Context, name: str) -> tuple[NodeFacts, dict[str, Any]]:
    try:
        raw = ctx.reader.get(NODES, name).value
    except NotFound as exc:
        raise PlanRefused(f"node {name} no longer exists") from exc
    return node_facts(raw), raw


def _cordon_step(name: str, unschedulable: bool) -> Step:
    return Step(
        verb="patch",
        ref=NODES,
        name=name,
        namespace=None,
        body={"spec": {"unschedulable": unschedulable}},
        description=("cordon" if unschedulable else "uncordon") + f" node {name}",
    )


class _SetSchedulable(Playbook):
    """Cordon (unschedulable=True) and uncordon (False): one patch, verified by reading it back."""

    unschedulable = True
    writes = (("patch", NODES, ""),)

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        name = node_name(proposal)
        node, _ = _read_node(ctx, name)
        if node.unschedulable == self.unschedulable:
            raise PlanRefused(f"node {name} is already {'cordoned' if self.unschedulable else 'schedulable'}")
        before, after = str(not self.unschedulable).lower(), str(self.unschedulable).lower()
        return Plan(
            proposal,
            (_cordon_step(name, self.unschedulable),),
            (f"- spec.unschedulable: {before}", f"+ spec.unschedulable: {after}"),
        )

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        node, _ = _read_node(ctx, node_name(plan.proposal))
        state = "cordoned (spec.unschedulable=true)" if node.unschedulable else "schedulable"
        return Verification(node.unschedulable == self.unschedulable, f"node {node.name} is {state}")


class Cordon(_SetSchedulable):
    action = "node.cordon"
    risk = Risk.LOW
    removes_gpu_capacity = True
    unschedulable = True


class Uncordon(_SetSchedulable):
    action = "node.uncordon"
    risk = Risk.LOW
    unschedulable = False


class OutOfServiceTaint(Playbook):
    """Non-graceful node shutdown: only for a node that is down, and powered off (a human confirms)."""

    action = "node.out-of-service-taint"
    risk = Risk.HIGH
    writes = (("patch", NODES, ""),)

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        name = node_name(proposal)
        node, raw = _read_node(ctx, name)
        ready = node.ready
        if node.ready_status == "True":
            raise PlanRefused(
                f"node {name} is Ready: the out-of-service taint is only for a node that is shut down"
            )
        down = minutes_between(ready.since if ready else None, ctx.now) or 0.0
        threshold = ctx.settings.out_of_service_after_min
        if down < threshold:
            raise PlanRefused(
                f"node {name} has been {node.ready_status} for {down:.0f} min, less than {threshold:g} min: "
                "it may still come back"
            )
        if node.taint(OUT_OF_SERVICE):
            raise PlanRefused(f"node {name} already has the out-of-service taint")
        taints = list((raw.get("spec") or {}).get("taints") or [])
        new = {"key": OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"}
        return Plan(
            proposal,
            (
                Step(
                    verb="patch",
                    ref=NODES,
                    name=name,
                    namespace=None,
                    body={"spec": {"taints": [*taints, new]}},
                    description=f"taint node {name} {OUT_OF_SERVICE}=nodeshutdown:NoExecute",
                ),
            ),
            (f"+ spec.taints: {OUT_OF_SERVICE}=nodeshutdown:NoExecute",),
            (f"down for {down:.0f} min (Ready={node.ready_status})",),
        )

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        node, _ = _read_node(ctx, node_name(plan.proposal))
        ok = node.taint(OUT_OF_SERVICE) is not None
        return Verification(ok, f"node {node.name} {'has' if ok else 'lacks'} the out-of-service taint")


def _classify(
    pods: list[PodFacts], raw: dict[str, dict[str, Any]], ctx: Context
) -> tuple[list[PodFacts], list[str], list[str]]:
    """(pods to evict, notes on skipped pods, reasons to refuse) — kubectl drain's filters."""
    evict, notes, refusals = [], [], []
    for pod in pods:
        annotations = (raw[pod.ref].get("metadata") or {}).get("annotations") or {}
        if pod.daemonset:
            notes.append(f"skip DaemonSet pod {pod.ref}")
        elif MIRROR in annotations:
            notes.append(f"skip static (mirror) pod {pod.ref}")
        elif pod.deleted_at is not None:
            notes.append(f"skip {pod.ref}: already terminating")
        elif pod.terminal:
            notes.append(f"skip {pod.ref}: already {pod.phase}")
        elif pod.has_emptydir and not ctx.options.allow_local_data:
            refusals.append(
                f"{pod.ref} has emptyDir data that eviction destroys (allow with --allow-local-data)"
            )
        elif not pod.owner and not ctx.options.allow_unmanaged:
            refusals.append(f"{pod.ref} has no controller to recreate it (allow with --allow-unmanaged)")
        else:
            evict.append(pod)
    return evict, notes, refusals


class Drain(Playbook):
    """Cordon, then evict through the Eviction API so PodDisruptionBudgets are honoured."""

    action = "node.drain"
    risk = Risk.MEDIUM
    removes_gpu_capacity = True
    writes = (("patch", NODES, ""), ("create", PODS, "eviction"))

    def _pods(self, ctx: Context, name: str) -> tuple[list[PodFacts], dict[str, dict[str, Any]]]:
        items = ctx.reader.list(PODS, field_selector=f"spec.nodeName={name}").value
        pods = [pod_facts(p) for p in items]
        return pods, {p.ref: item for p, item in zip(pods, items, strict=True)}

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        name = node_name(proposal)
        node, _ = _read_node(ctx, name)
        pods, raw = self._pods(ctx, name)
        evict, notes, refusals = _classify(pods, raw, ctx)
        if refusals:
            raise PlanRefused("; ".join(refusals))
        steps = [] if node.unschedulable else [_cordon_step(name, True)]
        steps += [
            Step(
                verb="evict",
                ref=PODS,
                name=p.name,
                namespace=p.namespace,
                body={},
                description=f"evict {p.ref}",
            )
            for p in sorted(evict, key=lambda p: p.ref)
        ]
        diff = ([] if node.unschedulable else ["+ spec.unschedulable: true"]) + [
            f"- pod {p.ref}" for p in evict
        ]
        return Plan(proposal, tuple(steps), tuple(diff), tuple(notes))

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        """Evict until done or `drain_timeout_s`; a 429 names the PDB that blocks and is retried."""
        done: list[str] = []
        pending = list(plan.steps)
        blocked: dict[str, str] = {}
        deadline = time.monotonic() + ctx.settings.drain_timeout_s
        while pending:
            still: list[Step] = []
            for step in pending:
                try:
                    run_step(writer, step, dry_run=False)  # the cordon patch, then evictions
                    done.append(step.description)
                    blocked.pop(step.name, None)
                except NotFound:
                    done.append(f"{step.description} (already gone)")
                except ReaderError as exc:
                    if exc.status != 429:
                        return Outcome(False, f"stopped at {step.description}: {exc.message}", tuple(done))
                    blocked[f"{step.namespace}/{step.name}"] = exc.message
                    still.append(step)
            pending = still
            if pending and time.monotonic() + 5 > deadline:
                break
            if pending:
                time.sleep(5)  # kubectl drain's retry interval for blocked evictions
        if blocked:
            details = tuple(done) + tuple(f"BLOCKED {pod}: {why}" for pod, why in blocked.items())
            return Outcome(
                False,
                f"{len(blocked)} eviction(s) blocked by a PodDisruptionBudget after "
                f"{ctx.settings.drain_timeout_s:g} s; run the drain again to resume",
                details,
            )
        return Outcome(
            True,
            f"cordoned and evicted {sum(1 for s in plan.steps if s.verb == 'evict')} pod(s)",
            tuple(done),
        )

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        name = node_name(plan.proposal)
        node, _ = _read_node(ctx, name)
        pods, raw = self._pods(ctx, name)
        remaining, _, refusals = _classify(pods, raw, ctx)
        left = [p.ref for p in remaining] + [r.split(" ", 1)[0] for r in refusals]
        if node.unschedulable and not left:
            return Verification(True, f"node {name} is cordoned and runs no evictable pods")
        return Verification(
            False,
            f"node {name}: {'cordoned' if node.unschedulable else 'NOT cordoned'}, "
            f"still running: {', '.join(left) or 'none'}",
        )
