"""The gate: the one path from a proposal to a change, shared by every surface.

    prepare   policy → plan (exact steps) → authorise (SelfSubjectAccessReview for every Kubernetes
              step, before any write) → the playbook's dry run (server-side ``dryRun=All`` of
              every step unless the playbook says what it checks instead)
    request   store the plan, bound to its hash, with its expiry and the approvals it needs
    approve   one approval per distinct person; high risk needs two, neither the requester
    execute   safety budget (pause, breaker, rate limit, minimum-healthy floor) → re-plan and
              compare hashes (refuse with what changed) → playbook re-check → Lease per target
              (a plan runs once) → steps → verify → audit record and an Event on the target
              (on a Kubernetes target; a database session's only record is the audit log)

Every refusal is a `Refused` whose message is one sentence a human can act on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kfops.clients.errors import ReaderError
from kfops.clients.protocols import AccessCheck, Identity, KubeReader, KubeWriter
from kfops.clients.resources import EVENTS, NODES
from kfops.diagnostics.kube.nodes import node_facts
from kfops.model import Mode, Proposal
from kfops.playbooks.approvals import ApprovalRefused, Approvals, Record
from kfops.playbooks.audit import AuditLog
from kfops.playbooks.base import Context, Options, Outcome, Playbook, Verification
from kfops.playbooks.control import Blocked, Control
from kfops.playbooks.lock import NotAcquired, TargetLock
from kfops.playbooks.plan import Plan, PlanRefused
from kfops.playbooks.registry import PLAYBOOKS
from kfops.settings import Settings

#: a proposal target's kind (``kind/…``) → the Event's involvedObject apiVersion and Kind, so
#: `kubectl describe` finds the Event on the object; other targets (a KFP run, a Galera node)
#: are not Kubernetes objects and keep the capitalised word
EVENT_OBJECTS: dict[str, tuple[str, str]] = {
    "node": ("v1", "Node"),
    "pod": ("v1", "Pod"),
    "job": ("batch/v1", "Job"),
    "deployment": ("apps/v1", "Deployment"),
    "inferenceservice": ("serving.kserve.io/v1beta1", "InferenceService"),
    "profile": ("kubeflow.org/v1", "Profile"),
}


class Refused(Exception):
    """The gate will not go on; nothing was written (or, after execution started, it says what was)."""


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    dry_run: tuple[str, ...]
    access: tuple[AccessCheck, ...]


@dataclass(frozen=True)
class Executed:
    plan: Plan
    outcome: Outcome
    verification: Verification
    executed_as: str
    breaker_opened: bool


#: the action_modes key that sets the mode of every action not named on its own
EVERY_ACTION = "*"


def policy_mode(settings: Settings, playbook: Playbook) -> str:
    """The action's mode: settings.action_modes' entry for it, else its "*" entry, else the
    playbook's default. "*=manual" keeps a diagnose-only install diagnose-only when a later
    release adds a playbook, which a list of every action by name would not."""
    modes = {
        action.strip(): mode.strip()
        for action, _, mode in (
            item.partition("=")
            for item in filter(None, (p.strip() for p in settings.action_modes.split(",")))
        )
    }
    return modes.get(playbook.action) or modes.get(EVERY_ACTION) or playbook.mode.value


class Gate:
    def __init__(
        self,
        reader: KubeReader,
        writer: KubeWriter,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
        options: Options | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.options = options or Options()
        self.approvals = Approvals(writer, settings)
        self.control = Control(writer, settings)
        self.lock = TargetLock(writer, settings)
        self.audit = AuditLog(Path(settings.audit_path))
        #: called with every execution's result (e.g. the bot's metrics)
        self.observers: list[Callable[[Executed], None]] = []

    def _context(self) -> Context:
        return Context(self.reader, self.settings, self.clock(), self.options)

    def playbook(self, action: str) -> Playbook:
        playbook = PLAYBOOKS.get(action)
        if playbook is None:
            raise Refused(f"kfops has no playbook for {action}: carry out the proposal's steps by hand")
        mode = policy_mode(self.settings, playbook)
        if mode == "disabled":
            raise Refused(f"{action} is disabled by policy (settings.action_modes)")
        if mode == Mode.MANUAL.value:
            raise Refused(f"{action} is manual by policy: kfops shows the steps, a human runs them")
        return playbook

    # ------------------------------------------------------------------ prepare
    def prepare(self, proposal: Proposal, who: Identity) -> Prepared:
        playbook = self.playbook(proposal.action)
        self.preauthorise(playbook, proposal, who)
        plan = self._plan(playbook, proposal, "cannot plan")
        access = self.authorise(plan, who)
        try:
            lines = playbook.dry_run(self._context(), self.writer, plan)
        except PlanRefused as exc:
            raise Refused(str(exc)) from exc
        except ReaderError as exc:
            raise Refused(
                f"the dry-run of {proposal.action} on {proposal.target} failed: {exc.headline}"
            ) from exc
        return Prepared(plan, tuple(lines), access)

    def _plan(self, playbook: Playbook, proposal: Proposal, why: str) -> Plan:
        try:
            return playbook.plan(self._context(), proposal)
        except PlanRefused as exc:
            raise Refused(f"{why} {proposal.action} on {proposal.target}: {exc}") from exc
        except ReaderError as exc:
            raise Refused(f"{why} {proposal.action} on {proposal.target}: {exc.headline}") from exc

    def preauthorise(self, playbook: Playbook, proposal: Proposal, who: Identity) -> None:
        """Before reading anything: may `who` make the kinds of writes this playbook makes?"""
        kind, _, rest = proposal.target.partition("/")
        name = rest.rpartition("/")[2]
        namespace = str(proposal.params.get("namespace") or "")
        checks = [
            self.writer.can_i(
                verb, ref, namespace if ref.namespaced else "", name if ref.kind.lower() == kind else "", sub
            )
            for verb, ref, sub in playbook.writes
        ]
        self._refuse_missing(checks, who)

    def _refuse_missing(self, checks: list[AccessCheck], who: Identity) -> None:
        missing = [c for c in checks if not c.allowed]
        if missing:
            needs = "; ".join(c.describe() + (f" for {c.name}" if c.name else "") for c in missing)
            raise Refused(
                f"{who.username} may not do this: missing {needs} "
                "(RBAC; see deploy/rbac for the kfops-remediate role)"
            )

    def authorise(self, plan: Plan, who: Identity) -> tuple[AccessCheck, ...]:
        """Every Kubernetes step's permission, asked of the API server for the identity that will write.

        A step outside Kubernetes (``ref=None``) is governed by its own system's credentials, not
        by RBAC: the approvals and the gate's state (RBAC on kfops' namespace) are what guard it.
        """
        checks = []
        for step in plan.steps:
            if step.ref is None:
                continue
            verb, subresource = step.rbac
            checks.append(self.writer.can_i(verb, step.ref, step.namespace or "", step.name, subresource))
        self._refuse_missing(checks, who)
        return tuple(checks)

    # ------------------------------------------------------------------ approve
    def request(
        self, prepared: Prepared, requester: Identity, options: dict[str, Any] | None = None
    ) -> Record:
        """Store the plan for approval, with the operator's explicit options (drain overrides)."""
        plan = {**prepared.plan.to_json(), "options": options or {}}
        record = self.approvals.open(plan, requester.username, prepared.plan.proposal.risk, self.clock())
        self.audit.append(
            "requested",
            plan=prepared.plan.id,
            planHash=prepared.plan.hash,
            action=prepared.plan.proposal.action,
            target=prepared.plan.proposal.target,
            requester=requester.username,
            dryRun=list(prepared.dry_run),
            requiredApprovals=record.required,
        )
        return record

    def approve(self, plan_id: str, approver: Identity, *, self_approval: bool = False) -> Record:
        try:
            record = self.approvals.approve(
                plan_id, approver.username, self.clock(), self_approval=self_approval
            )
        except ApprovalRefused as exc:
            raise Refused(str(exc)) from exc
        proposal = Proposal.from_dict(record.plan["proposal"])
        self.audit.append(
            "approved",
            plan=plan_id,
            planHash=record.plan["hash"],
            action=proposal.action,
            target=proposal.target,
            approver=approver.username,
            approvals=list(record.approvers),
        )
        return record

    def authorise_record(self, record: Record, who: Identity) -> Plan:
        """An approver must hold the permissions the plan uses: re-plan from fresh reads and ask."""
        proposal = Proposal.from_dict(record.plan["proposal"])
        playbook = self.playbook(proposal.action)
        self.preauthorise(playbook, proposal, who)
        plan = self._plan(playbook, proposal, "the cluster changed since the request; cannot re-plan")
        self.authorise(plan, who)
        return plan

    # ------------------------------------------------------------------ execute
    def execute(self, plan_id: str, executor: Identity) -> Executed:
        record = self.approvals.load(plan_id) if plan_id else None
        if record is None:
            raise Refused("no plan id given")
        now = self.clock()
        if record.status != "pending":
            raise Refused(f"plan {plan_id} is already {record.status}; nothing was done again")
        if now >= record.expires_at:
            raise Refused(f"plan {plan_id} expired at {record.expires_at:%H:%M:%SZ}; diagnose again")
        if not record.complete:
            raise Refused(f"plan {plan_id} has {len(record.approvals)} of {record.required} approvals")
        proposal = Proposal.from_dict(record.plan["proposal"])
        playbook = self.playbook(proposal.action)
        try:
            self.control.check(proposal.action, now)
        except Blocked as exc:
            raise Refused(str(exc)) from exc
        if playbook.removes_gpu_capacity:
            self._check_floor(proposal)
        plan = self._recheck(playbook, proposal, record)
        self.authorise(plan, executor)
        try:
            self.lock.acquire(proposal.target, plan.hash, executor.username, now)
        except NotAcquired as exc:
            raise Refused(str(exc)) from exc
        self.approvals.set_status(plan_id, "executing")
        outcome = playbook.execute(self._context(), self.writer, plan)
        verification = (
            playbook.verify(self._context(), plan) if outcome.ok else Verification(False, outcome.summary)
        )
        self.lock.release(proposal.target, "ok" if outcome.ok and verification.ok else "failed")
        self.approvals.set_status(plan_id, "executed" if outcome.ok else "failed")
        opened = self.control.record(proposal.action, proposal.target, plan.id, self.clock())
        executed_as = getattr(self.writer, "impersonating", None) or executor.username
        self.audit.append(
            "executed",
            plan=plan.id,
            planHash=plan.hash,
            action=proposal.action,
            target=proposal.target,
            requester=record.requester,
            approvers=list(record.approvers),
            executedAs=executed_as,
            outcome=outcome.summary,
            ok=outcome.ok,
            details=list(outcome.details),
            verified=verification.ok,
            verification=verification.summary,
            breakerOpened=opened,
        )
        if playbook.target_in_kubernetes:
            self._event(proposal, plan, outcome, verification, executed_as)
        executed = Executed(plan, outcome, verification, executed_as, opened)
        for observer in self.observers:
            observer(executed)
        return executed

    def _recheck(self, playbook: Playbook, proposal: Proposal, record: Record) -> Plan:
        """Re-plan from fresh reads: a different plan means the cluster changed since approval."""
        try:
            plan = playbook.plan(self._context(), proposal)
        except PlanRefused as exc:
            raise Refused(f"the cluster changed since approval: {exc}; nothing was done") from exc
        except ReaderError as exc:
            raise Refused(f"cannot re-check before executing: {exc.headline}; nothing was done") from exc
        if plan.hash != record.plan["hash"]:
            before, after = set(record.plan["diff"]), set(plan.diff)
            changed = [f"no longer: {d}" for d in sorted(before - after)] + [
                f"now also: {d}" for d in sorted(after - before)
            ]
            raise Refused(
                "the cluster changed since approval, so the approved plan is not the plan that would run ("
                + ("; ".join(changed) or "same changes, different details")
                + "); nothing was done — request a new plan"
            )
        problems = playbook.precheck(self._context(), plan)
        if problems:
            raise Refused("a precondition no longer holds: " + "; ".join(problems) + "; nothing was done")
        return plan

    def _check_floor(self, proposal: Proposal) -> None:
        """Never take a GPU node out of scheduling below the minimum-healthy floor."""
        name = proposal.target.partition("/")[2]
        nodes = [node_facts(n) for n in self.reader.list(NODES).value]
        gpu = [n for n in nodes if n.is_gpu_node]
        schedulable = [n for n in gpu if n.schedulable_gpu_node]
        if name not in {n.name for n in schedulable}:
            return  # the node takes no new work already: acting on it removes nothing
        floor = max(
            self.settings.min_schedulable_gpu_nodes,
            math.ceil(self.settings.min_schedulable_gpu_fraction * len(gpu)),
        )
        if len(schedulable) - 1 < floor:
            raise Refused(
                f"minimum-healthy floor: taking {name} out would leave {len(schedulable) - 1} of "
                f"{len(gpu)} GPU nodes schedulable, below the floor of {floor}; nothing was done"
            )

    def _event(
        self, proposal: Proposal, plan: Plan, outcome: Outcome, verified: Verification, who: str
    ) -> None:
        """A Kubernetes Event on the target, so `kubectl describe` shows what kfops did (best effort).

        Targets are ``kind/name`` (cluster-scoped: the Event goes to ``default``, as kubectl's do)
        or ``kind/namespace/name``.
        """
        kind, _, rest = proposal.target.partition("/")
        scope, _, name = rest.rpartition("/")
        namespace = str(proposal.params.get("namespace") or scope or "default")
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        api_version, object_kind = EVENT_OBJECTS.get(kind, ("", kind.capitalize()))
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": "kfops-", "namespace": namespace},
            "involvedObject": {
                "apiVersion": api_version,
                "kind": object_kind,
                "name": name,
                "namespace": namespace if scope else "",
            },
            "reason": "KfopsRemediation",
            "message": f"{proposal.action} (plan {plan.id}) by {who}: {outcome.summary}; {verified.summary}",
            "type": "Normal" if outcome.ok and verified.ok else "Warning",
            "source": {"component": "kfops"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        if kind == "pod":
            body["involvedObject"]["name"] = proposal.params.get("pod", name)
        try:
            self.writer.create(EVENTS, namespace, body, dry_run=False)
        except ReaderError as exc:
            self.audit.append("event-not-written", plan=plan.id, reason=exc.message)
