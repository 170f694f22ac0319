"""What every playbook is: plan from reads, re-check, execute the plan's steps, verify."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kfops.clients.errors import Conflict, NotFound, ReaderError, TransientReadError
from kfops.clients.protocols import KubeReader, KubeWriter
from kfops.clients.resources import ResourceRef
from kfops.diagnostics.kube.quantity import parse_quantity
from kfops.model import Mode, Proposal, Risk
from kfops.playbooks.plan import Plan, PlanRefused, Step
from kfops.settings import Settings


@dataclass(frozen=True)
class Options:
    """What the operator explicitly allowed for this run (kubectl drain's override flags)."""

    allow_local_data: bool = False  # evict pods with emptyDir volumes (their data is lost)
    allow_unmanaged: bool = False  # evict pods no controller will recreate


@dataclass(frozen=True)
class Context:
    reader: KubeReader  # fresh reads: never a memo from the diagnosis that proposed the change
    settings: Settings
    now: datetime
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    summary: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verification:
    ok: bool
    summary: str


def node_name(proposal: Proposal) -> str:
    kind, _, name = proposal.target.partition("/")
    if kind != "node" or not name:
        raise ValueError(f"{proposal.action} targets a node, not {proposal.target!r}")
    return name


class Playbook:
    action: str = ""
    risk: Risk = Risk.MEDIUM
    mode: Mode = Mode.APPROVE
    #: takes a GPU node out of scheduling: the minimum-healthy floor applies
    removes_gpu_capacity: bool = False
    #: the writes its plans can contain, as RBAC sees them: (verb, resource, subresource). The gate
    #: asks the API server about these before reading anything, and deploy/rbac grants exactly these.
    writes: tuple[tuple[str, ResourceRef, str], ...] = ()
    #: the target is a Kubernetes object, so the gate records each execution as an Event on it.
    #: False for targets outside Kubernetes (a database session): the audit log is their record.
    target_in_kubernetes: bool = True

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        raise NotImplementedError

    def dry_run(self, ctx: Context, writer: KubeWriter, plan: Plan) -> list[str]:
        """Show that every step would be accepted, changing nothing: one line per step.

        The default sends every step with ``dryRun=All``; a playbook with a step the API server
        cannot dry-run (outside Kubernetes, or one that depends on an earlier step) overrides it
        and says in the line what it checked instead. Raises PlanRefused with one sentence when
        a step would be refused.
        """
        lines = []
        for step in plan.steps:
            try:
                run_step(writer, step, dry_run=True)
                lines.append(f"dry-run OK: {step.command()}")
            except ReaderError as exc:
                if exc.status == 429:  # an eviction a PodDisruptionBudget would block right now
                    lines.append(f"dry-run BLOCKED NOW: {step.command()}: {exc.message}")
                    continue
                raise PlanRefused(
                    f"the API server refused the dry-run of {step.command()}: {exc.message}"
                ) from exc
        return lines

    def precheck(self, ctx: Context, plan: Plan) -> list[str]:
        """What no longer holds right before executing (empty: go). Re-planning already ran."""
        return []

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        """Run the steps in order; stop at the first refusal and say how far it got."""
        done: list[str] = []
        for step in plan.steps:
            try:
                run_step(writer, step, dry_run=False)
            except ReaderError as exc:
                return Outcome(False, f"stopped at {step.command()}: {exc.message}", tuple(done))
            done.append(step.command())
        return Outcome(True, f"{len(done)} change(s) applied", tuple(done))

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        raise NotImplementedError


def run_step(writer: KubeWriter, step: Step, *, dry_run: bool) -> Any:
    """Send one Kubernetes step; a step outside Kubernetes is its playbook's to run."""
    if step.ref is None:
        raise ValueError(f"{step.command()} is not a Kubernetes call: its playbook runs it")
    if step.verb == "patch":
        return writer.patch(
            step.ref, step.name, step.namespace, step.body, dry_run=dry_run, strategic=step.strategic
        )
    if step.verb == "create":
        return writer.create(step.ref, step.namespace, step.body, dry_run=dry_run)
    if step.verb == "delete":
        return writer.delete(
            step.ref, step.name, step.namespace, dry_run=dry_run, uid=step.uid, propagation=step.propagation
        )
    if step.verb == "evict":
        return writer.evict(step.namespace or "", step.name, dry_run=dry_run)
    raise ValueError(f"unknown step verb {step.verb!r}")


def send_at_version(writer: KubeWriter, step: Step, version: object, what: str) -> Outcome:
    """Send a planned patch conditioned on `version`, the resourceVersion of the read the execution
    re-checked: the API server refuses it (409) if `what` changed after that read, so nothing that
    changed in between is overwritten."""
    meta = {**(step.body.get("metadata") or {}), "resourceVersion": version}
    sent = dataclasses.replace(step, body={**step.body, "metadata": meta})
    try:
        run_step(writer, sent, dry_run=False)
    except Conflict as exc:
        return Outcome(
            False,
            f"stopped at {step.command()}: {what} changed while executing ({exc.message}); "
            "nothing was changed — request a new plan",
        )
    except TransientReadError as exc:
        return Outcome(
            False,
            f"stopped at {step.command()}: {exc.headline}; the API server may have applied it before "
            f"the answer was lost, so read {what} before trying again",
        )
    except ReaderError as exc:
        return Outcome(False, f"stopped at {step.command()}: {exc.message}; nothing was changed")
    return Outcome(
        True, f"{what} patched: {step.description}", (f"{step.command()} (resourceVersion {version})",)
    )


def read_diagnosed_object(
    ctx: Context, ref: ResourceRef, name: str, namespace: str | None, uid: str, what: str
) -> dict[str, Any]:
    """The object now, if it is still the one diagnosed: it exists, has the diagnosed uid (not
    re-created under the same name) and is not being deleted; else PlanRefused saying which.
    `what` names it in the refusal ("InferenceService team-a/iris")."""
    try:
        raw: dict[str, Any] = ctx.reader.get(ref, name, namespace).value
    except NotFound as exc:
        raise PlanRefused(f"{what} no longer exists (deleted since the diagnosis)") from exc
    meta = raw.get("metadata") or {}
    if meta.get("uid") != uid:
        raise PlanRefused(
            f"{what} is not the one diagnosed (uid {meta.get('uid')}, not {uid}): "
            "it was re-created since; diagnose again"
        )
    if meta.get("deletionTimestamp"):
        raise PlanRefused(f"{what} is being deleted (since {meta['deletionTimestamp']})")
    return raw


def memory_param(proposal: Proposal, key: str) -> str:
    """A proposal's memory parameter, refused unless it is a positive Kubernetes quantity."""
    value = str(proposal.params.get(key) or "")
    amount = parse_quantity(value)
    if amount is None or amount <= 0:
        raise PlanRefused(
            f"{proposal.action} needs {key} as a Kubernetes quantity (e.g. 512Mi), not {value!r}"
        )
    return value


def memory_request_and_limit(proposal: Proposal) -> tuple[str, str]:
    """The proposal's memory_request and memory_limit, refused unless both are quantities and the
    request is not above the limit (the API server refuses such a container)."""
    request, limit = memory_param(proposal, "memory_request"), memory_param(proposal, "memory_limit")
    if (parse_quantity(request) or 0) > (parse_quantity(limit) or 0):
        raise PlanRefused(
            f"{proposal.action}: memory_request {request} is above memory_limit {limit}; "
            "Kubernetes refuses such a container"
        )
    return request, limit


def send_if_still_planned(
    writer: KubeWriter, planned: Step, rebuild: Callable[[], tuple[Step, str, object]]
) -> Outcome:
    """Execute a patch plan: `rebuild` re-reads the object and builds the step again, returning
    (the fresh step, the object's name for messages, the resourceVersion it was built from). Only
    the planned body is ever sent, and only at that resourceVersion (send_at_version): a refusal
    or a different body since the plan stops before anything is written."""
    try:
        fresh, what, version = rebuild()
    except (PlanRefused, ReaderError) as exc:
        why = exc.headline if isinstance(exc, ReaderError) else str(exc)
        return Outcome(False, f"stopped before {planned.command()}: {why}; nothing was changed")
    if fresh.body != planned.body:
        return Outcome(
            False,
            f"stopped before {planned.command()}: {what} changed since the plan (the patch would now be "
            f"{json.dumps(fresh.body, sort_keys=True)}); nothing was changed — request a new plan",
        )
    return send_at_version(writer, planned, version, what)
