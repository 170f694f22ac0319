"""Galera playbooks: end one blocking database session (galera.kill-query).

The step is SQL, not a Kubernetes call: ``KILL QUERY <id>`` (abort the running statement; the
session stays) or ``KILL CONNECTION <id>`` (end the session; its open transaction rolls back and
its metadata locks are released). RBAC does not govern it: the admin database user
(KFOPS_GALERA_ADMIN_USER, with PROCESS and CONNECTION ADMIN) does, and only the gate's approvals
stand between a proposal and that user. So it is high risk: two approvers, neither the requester.

The plan is bound to the session's identity, not to its timing: node, thread id, the kind of
KILL, the user and the statement text (as the processlist shows it, first 300 characters) go
into the plan hash; how long it has run does not, so an approval survives the seconds passing.
Thread ids are never reused while a server runs, and the user and statement must still match
right before the KILL, so a session that ended or moved on is refused, never killed by mistake.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import ConfigurationError, NotFound, ReaderError, Unauthorized
from kfops.clients.galera.address import normalise
from kfops.clients.protocols import GaleraWriter, KubeWriter
from kfops.clients.sources import open_galera_writer
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Outcome, Playbook, Verification
from kfops.playbooks.plan import Plan, PlanRefused, Step

#: seconds verify waits for the KILL to take effect (a killed statement or session that was
#: writing rolls back first; an idle one ends at once)
SETTLE_S = 10.0
POLL_S = 0.2
#: threads of the server itself (replication appliers, the event scheduler): never killed
SERVER_USERS = frozenset({"system user", "event_scheduler"})


@dataclass(frozen=True)
class Target:
    node: str
    thread_id: int
    connection: bool  # KILL CONNECTION (end the session) rather than KILL QUERY
    user: str
    info: str  # the statement, as the processlist shows it; "" for an idle session

    @property
    def kill(self) -> str:
        return f"KILL {'CONNECTION' if self.connection else 'QUERY'} {self.thread_id}"

    @property
    def where(self) -> str:
        return f"session {self.thread_id} on Galera node {self.node}"


def _statement(text: Any) -> str:
    """The statement text as compared: whitespace collapsed, the processlist's first 300 characters."""
    return " ".join(str(text or "").split())[:300]


def _target(proposal: Proposal) -> Target:
    params = proposal.params
    try:
        node = normalise(str(params.get("node") or ""))
        thread_id = int(str(params.get("threadId")))
    except ValueError as exc:
        raise PlanRefused(f"the proposal names no valid node and thread id ({exc})") from exc
    return Target(
        node,
        thread_id,
        bool(params.get("connection")),
        str(params.get("user") or ""),
        _statement(params.get("info")),
    )


@contextmanager
def _writer(ctx: Context, node: str) -> Iterator[GaleraWriter]:
    """The admin connection to `node`; a configuration or credentials problem as PlanRefused."""
    try:
        with open_galera_writer(ctx.settings, node, ctx.reader) as writer:
            yield writer
    except ConfigurationError as exc:
        raise PlanRefused(str(exc)) from exc
    except Unauthorized as exc:
        raise PlanRefused(
            f"{node} refused the Galera admin user {ctx.settings.galera_admin_user} ({exc.message}): "
            "check KFOPS_GALERA_ADMIN_USER and KFOPS_GALERA_ADMIN_PASSWORD"
        ) from exc


def _mismatch(target: Target, session: dict[str, Any] | None, admin: str) -> str:
    """Why `session` is not the one the proposal names ("" when it is)."""
    if session is None:
        return (
            f"{target.where} has ended: there is nothing to kill (if it has not, the admin user "
            f"{admin} lacks the PROCESS privilege and cannot see it)"
        )
    user, command, info = (
        str(session.get("USER") or ""),
        str(session.get("COMMAND") or ""),
        session.get("INFO"),
    )
    if user in SERVER_USERS or command == "Daemon":
        return f"{target.where} is a server thread ({user}, {command}): kfops never kills it"
    if command == "Killed":
        return f"{target.where} is already being killed (rolling back)"
    if user != target.user:
        return f"{target.where} now belongs to {user}, not {target.user}: it is a different session"
    if _statement(info) != target.info:
        now = f"runs {_statement(info)!r}" if _statement(info) else "is idle"
        was = f"ran {target.info!r}" if target.info else "was idle"
        return f"{target.where} {now} but {was} when diagnosed: diagnose again"
    if not target.connection and not target.info:
        return f"{target.where} runs no statement: KILL QUERY would do nothing"
    return ""


class KillQuery(Playbook):
    """KILL QUERY / KILL CONNECTION of the one session the proposal names, on its node."""

    action = "galera.kill-query"
    risk = Risk.HIGH
    writes = ()  # nothing in Kubernetes: the admin database user governs the KILL
    target_in_kubernetes = False

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        target = _target(proposal)
        try:
            with _writer(ctx, target.node) as writer:
                session = writer.session(target.node, target.thread_id)
        except ReaderError as exc:
            raise PlanRefused(f"cannot read {target.where} as the Galera admin user: {exc.headline}") from exc
        problem = _mismatch(target, session, ctx.settings.galera_admin_user)
        if problem or session is None:
            raise PlanRefused(problem)
        db = session.get("DB") or "(none)"
        was = f"running {target.info!r}" if target.info else "idle in a transaction"
        effect = (
            "the session ends; its open transaction rolls back and its locks are released"
            if target.connection
            else "the statement is aborted (and rolled back); the session stays"
        )
        step = Step(
            verb="kill-connection" if target.connection else "kill-query",
            ref=None,
            system="galera",
            name=f"{target.node}/{target.thread_id}",
            namespace=None,
            body={
                "node": target.node,
                "threadId": target.thread_id,
                "connection": target.connection,
                "user": target.user,
                "info": target.info,
            },
            description=f"{target.kill} [Galera node {target.node}]",
        )
        return Plan(
            proposal,
            (step,),
            (f"- session {target.thread_id} of {target.user} (db {db}): {was}", f"+ {target.kill}: {effect}"),
            (
                f"when planned: {session.get('COMMAND')} for {session.get('TIME')} s, "
                f"state {session.get('STATE') or '(none)'!r}",
                f"runs as the Galera admin user {ctx.settings.galera_admin_user} on {target.node} only",
            ),
        )

    def dry_run(self, ctx: Context, writer: KubeWriter, plan: Plan) -> list[str]:
        """SQL has no dry run: re-read the session with the admin connection, send no KILL."""
        target = _target(plan.proposal)
        try:
            with _writer(ctx, target.node) as galera:
                problem = _mismatch(
                    target, galera.session(target.node, target.thread_id), ctx.settings.galera_admin_user
                )
        except ReaderError as exc:
            raise PlanRefused(
                f"the dry-run of {target.kill} cannot reach {target.node}: {exc.headline}"
            ) from exc
        if problem:
            raise PlanRefused(problem)
        return [
            f"dry-run OK: {plan.steps[0].command()} (not sent: the admin user connects and sees "
            f"{target.where} as planned; the KILL privilege itself is checked only when it runs)"
        ]

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        target = _target(plan.proposal)
        command = plan.steps[0].command()
        try:
            with _writer(ctx, target.node) as galera:
                galera.kill(target.node, target.thread_id, connection=target.connection)
        except NotFound:
            return Outcome(
                True, f"{target.where} had already ended; no KILL was needed", (f"{command} (gone)",)
            )
        except (ReaderError, PlanRefused) as exc:
            message = exc.message if isinstance(exc, ReaderError) else str(exc)
            return Outcome(False, f"stopped at {command}: {message}")
        return Outcome(True, f"sent {target.kill} to {target.node}", (command,))

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        """KILL CONNECTION: the session is gone. KILL QUERY: the session no longer runs that statement."""
        target = _target(plan.proposal)
        try:
            return self._settled(ctx, target)
        except (ReaderError, PlanRefused) as exc:
            message = exc.headline if isinstance(exc, ReaderError) else str(exc)
            return Verification(False, f"cannot verify {target.where}: {message}")

    def _settled(self, ctx: Context, target: Target) -> Verification:
        deadline = time.monotonic() + SETTLE_S
        with _writer(ctx, target.node) as galera:
            while True:
                session = galera.session(target.node, target.thread_id)
                if session is None:
                    return Verification(True, f"{target.where} is gone")
                command = str(session.get("COMMAND") or "")
                moved_on = command != "Killed" and _statement(session.get("INFO")) != target.info
                if not target.connection and moved_on:
                    return Verification(
                        True, f"{target.where} no longer runs the statement (now {command or 'idle'})"
                    )
                if time.monotonic() >= deadline:
                    break
                time.sleep(POLL_S)
        what = "still exists" if target.connection else "still runs the statement"
        return Verification(
            False,
            f"{target.where} {what} after {SETTLE_S:g} s ({command}"
            + (": rolling back; it ends when the rollback finishes)" if command == "Killed" else ")"),
        )
