"""KFP run playbooks: terminate a run that cannot finish (kfp.terminate-run), retry a failed run
(kfp.retry-run) — through the Kubeflow Pipelines API, never by editing its Workflow.

KFP keeps its own record of a run (``run_details`` in its database): terminating or retrying the
Argo Workflow behind KFP's back leaves the two disagreeing, so the step goes to the API server
(``POST /apis/v2beta1/runs/{id}:terminate`` / ``:retry``), which changes both (domain.md §2.3).
RBAC does not govern these calls: the KFP API's own authorisation of kfops' credentials
(settings.kfp_token / kfp_token_file / kfp_userid) does, so the steps have no Kubernetes ``ref``
and the gate records them in its audit log only (the target is no Kubernetes object).

The plan is bound to the run and the action, not to the run's changing details; the state is
read fresh for every plan, dry run, re-check and verification. A POST whose answer was lost
(timeout, connection reset, 5xx) may still have acted, so it is never repeated: the outcome says
to look at the run's state first.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import ConfigurationError, NotFound, ReaderError, TransientReadError
from kfops.clients.protocols import KfpReader, KfpWriter, KubeWriter
from kfops.clients.sources import open_kfp, open_kfp_writer
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Outcome, Playbook, Verification
from kfops.playbooks.plan import Plan, PlanRefused, Step

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: seconds verify re-reads the run until it shows the new state (the API server writes it before
#: answering, so this only covers a read served from a lagging replica)
SETTLE_S = 5.0
POLL_S = 0.5


@dataclass(frozen=True)
class Run:
    run_id: str
    namespace: str
    workflow: str

    @property
    def ref(self) -> str:
        return f"run {self.run_id} (Workflow {self.namespace}/{self.workflow})"


def _run(proposal: Proposal) -> Run:
    run_id, namespace, workflow = (
        str(proposal.params.get(k) or "") for k in ("runId", "namespace", "workflow")
    )
    if not _UUID.match(run_id):
        raise PlanRefused(f"{proposal.action} needs a KFP run id (a UUID) in its parameters, not {run_id!r}")
    if proposal.target != f"run/{run_id}":
        raise PlanRefused(f"{proposal.action} targets run/{run_id}, not {proposal.target}")
    return Run(run_id, namespace, workflow)


def _reader(ctx: Context) -> KfpReader:
    try:
        reader = open_kfp(ctx.settings, ctx.reader)
    except ConfigurationError as exc:
        raise PlanRefused(str(exc)) from exc
    if reader is None:
        raise PlanRefused(
            "the KFP API is not configured: set KFOPS_KFP_URL (e.g. http://ml-pipeline.kubeflow.svc:8888) "
            "for kfops to terminate or retry runs"
        )
    return reader


def _state(reader: KfpReader, run: Run) -> tuple[str, dict[str, Any]]:
    """The run's state now, read from the API ('RUNTIME_STATE_UNSPECIFIED' when it names none)."""
    try:
        raw = reader.get_run(run.run_id).value
    except NotFound as exc:
        raise PlanRefused(f"KFP has no run {run.run_id} (deleted, or another KFP installation?)") from exc
    return str(raw.get("state") or "RUNTIME_STATE_UNSPECIFIED"), raw


def _either(states: tuple[str, ...]) -> str:
    """("A", "B", "C") → "A, B or C"."""
    return states[0] if len(states) == 1 else f"{', '.join(states[:-1])} or {states[-1]}"


def _close(thing: object) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        close()


class _RunAction(Playbook):
    """One POST to the KFP API about one run; what differs is the verb and the states."""

    risk = Risk.MEDIUM
    writes = ()  # nothing in Kubernetes: the KFP API's authorisation governs the call
    target_in_kubernetes = False
    verb = ""  # the API's custom method: "terminate" | "retry"
    past = ""  # "terminated" | "retried"
    allowed: tuple[str, ...] = ()  # states the action applies to
    done: tuple[str, ...] = ()  # states that show it took effect
    effect = ""  # the "+" line of the diff

    def _refusal(self, run: Run, state: str) -> str:
        if state in self.allowed:
            return ""
        return f"{run.ref} is {state}: only a {_either(self.allowed)} run can be {self.past}"

    def _check(self, ctx: Context, run: Run) -> tuple[str, dict[str, Any], str]:
        """(state, run, where): a fresh read that still allows the action, else PlanRefused."""
        reader = _reader(ctx)
        try:
            state, raw = _state(reader, run)
        finally:
            _close(reader)
        problem = self._refusal(run, state)
        if problem:
            raise PlanRefused(problem)
        return state, raw, reader.describe()

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        run = _run(proposal)
        state, raw, where = self._check(ctx, run)
        notes = [f"when planned: {state}", f"through the {where}"]
        message = (raw.get("error") or {}).get("message")
        if message:
            notes.append(f"the run's error: {message}")
        step = Step(
            verb=f"{self.verb}-run",
            ref=None,
            system="kfp",
            name=run.run_id,
            namespace=run.namespace or None,
            body={"runId": run.run_id, "namespace": run.namespace, "workflow": run.workflow},
            description=f"POST /apis/v2beta1/runs/{run.run_id}:{self.verb} [KFP API]",
        )
        return Plan(proposal, (step,), (f"- {run.ref}: {state}", f"+ {run.ref}: {self.effect}"), tuple(notes))

    def dry_run(self, ctx: Context, writer: KubeWriter, plan: Plan) -> list[str]:
        """KFP has no dry run: re-read the run with kfops' credentials, send no POST."""
        run = _run(plan.proposal)
        try:
            state, _, where = self._check(ctx, run)
        except ReaderError as exc:
            raise PlanRefused(
                f"the dry-run of {plan.steps[0].command()} cannot ask the KFP API: {exc.headline}"
            ) from exc
        return [
            f"dry-run OK: {plan.steps[0].command()} (not sent: KFP has no dry run; the {where} accepted "
            f"kfops' credentials and shows the run {state}; whether they may {self.verb} it is known only "
            "when it runs)"
        ]

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        run, command = _run(plan.proposal), plan.steps[0].command()
        try:
            kfp = open_kfp_writer(ctx.settings, ctx.reader)
        except ConfigurationError as exc:
            return Outcome(False, f"stopped at {command}: {exc}; nothing was sent")
        try:
            self._send(kfp, run.run_id)
        except TransientReadError as exc:
            return Outcome(
                False,
                f"stopped at {command}: {exc.headline}; KFP may have acted before the answer was lost, "
                f"so check the run's state before trying again",
            )
        except ReaderError as exc:
            return Outcome(False, f"stopped at {command}: {exc.headline}; nothing was changed")
        finally:
            _close(kfp)
        return Outcome(True, f"the KFP API accepted {self.verb} of {run.ref}", (command,))

    def _send(self, kfp: KfpWriter, run_id: str) -> None:
        raise NotImplementedError

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        run = _run(plan.proposal)
        try:
            return self._settled(ctx, run)
        except ReaderError as exc:
            return Verification(False, f"cannot verify {run.ref}: {exc.headline}")
        except PlanRefused as exc:
            return Verification(False, f"cannot verify {run.ref}: {exc}")

    def _settled(self, ctx: Context, run: Run) -> Verification:
        reader = _reader(ctx)
        deadline = time.monotonic() + SETTLE_S
        try:
            while True:
                state, _ = _state(reader, run)
                if state in self.done:
                    return Verification(True, f"{run.ref} is {state}")
                if time.monotonic() >= deadline:
                    break
                time.sleep(POLL_S)
        finally:
            _close(reader)
        return Verification(
            False, f"{run.ref} is still {state} after {SETTLE_S:g} s, not {_either(self.done)}"
        )


class TerminateRun(_RunAction):
    """Stop a run that cannot finish (its steps cannot be scheduled, pulled, or fit their quota)."""

    action = "kfp.terminate-run"
    verb, past = "terminate", "terminated"
    allowed = ("PENDING", "RUNNING", "PAUSED")
    done = ("CANCELING", "CANCELED", "FAILED")
    effect = "CANCELING, then CANCELED (KFP stops its Workflow: activeDeadlineSeconds 0)"

    def _send(self, kfp: KfpWriter, run_id: str) -> None:
        kfp.terminate_run(run_id)


class RetryRun(_RunAction):
    """Run the failed steps of a failed run again, in the same Workflow."""

    action = "kfp.retry-run"
    verb, past = "retry", "retried"
    allowed = ("FAILED",)
    done = ("RUNNING", "PENDING")
    effect = "RUNNING again (KFP resets its failed steps and deletes their pods)"

    def _send(self, kfp: KfpWriter, run_id: str) -> None:
        kfp.retry_run(run_id)
