"""The Slack surface: `/kfops` commands and approval buttons, as a Bolt app built by a factory.

    request ─ Bolt: SSL check, Slack signature (401 if forged or older than 5 min), authorization
            ─ global middleware: audit log line, per-user rate limit of commands
            ─ /kfops          → parse (usage errors answered ephemeral) → ack within 3 s → submit
            ─ kfops_approve:* → listener middleware: signed value (tampered / expired / replayed /
                                other channel → refused ephemeral, nothing run), approver
                                authorisation (user or user group) → ack → the gate

The gate does the rest and enforces its own rules (two distinct approvers for high risk, neither
the requester; a plan runs once). Approvals are recorded under the approver's Kubernetes user
when `slack_identity_map` maps them, else as `slack:<user id>`; executions act as the mapped user
(impersonation) or as kfops' own identity, and the gate's audit record says which.

Nothing is built at import time: `build_slack_app(settings, services)` makes the app.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from slack_bolt import Ack, App, BoltContext, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from kfops.bot.buttons import ApprovalClaim, ButtonError, button_secret
from kfops.bot.dedup import Deduplicator
from kfops.bot.dispatch import QueueFull, Submitted
from kfops.bot.requests import DiagnosisRequest, Reply
from kfops.bot.runs import RunStore
from kfops.bot.slack_commands import (
    HELP,
    Diagnose,
    Explain,
    Help,
    Runbooks,
    Status,
    UsageError,
    explain_answer,
    parse,
    runbooks_answer,
    status_answer,
)
from kfops.clients.errors import ConfigurationError, ReaderError
from kfops.clients.protocols import Identity
from kfops.model import Mode, Proposal, Risk
from kfops.playbooks.approvals import ApprovalRefused, Record
from kfops.playbooks.gate import Executed, Gate, Prepared, Refused
from kfops.render.redact import redact_text
from kfops.render.slack import code, escape
from kfops.settings import Settings

if TYPE_CHECKING:
    from kfops.bot.slack_notify import SlackNotifier

log = logging.getLogger("kfops.slack")
audit_log = logging.getLogger("kfops.slack.audit")

APPROVE_ACTION = "kfops_approve"
APPROVE_PATTERN = re.compile(rf"^{APPROVE_ACTION}(:[A-Za-z0-9._-]{{1,64}})?$")
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
#: seconds a user-group membership is trusted before Slack is asked again (usergroups.users.list
#: is Tier 2, about 20 calls a minute)
GROUP_CACHE_S = 300.0
#: seconds a click is remembered to refuse a replayed request (longer than Slack's 5-minute window)
REPLAY_WINDOW_S = 600.0


class SlackServices(Protocol):
    """What the Slack surface needs from the rest of the bot (see DispatcherServices)."""

    def submit(self, request: DiagnosisRequest) -> Submitted:
        """Queue a diagnosis (raises QueueFull when the queue is at its bound)."""

    def lookup(self, run_id: str) -> dict[str, Any] | None:
        """A run's summary (Run.summary()), or None if unknown."""

    def gate_for(self, slack_user_id: str) -> tuple[Gate, Identity]:
        """A gate acting as the user's mapped Kubernetes identity (impersonation), else as kfops'
        own identity; and the Identity the API server sees (what executions are audited as)."""

    def proposal(self, run_id: str, proposal_id: str) -> Proposal | None:
        """The proposal of that run's diagnoses, or None if the run or proposal is unknown."""

    def clock(self) -> float:
        """Now, in Unix seconds (signs and checks button expiry)."""


# --------------------------------------------------------------------------- identities
@dataclass(frozen=True)
class MappedUser:
    username: str
    groups: tuple[str, ...] = ()


def parse_pairs(text: str) -> dict[str, str]:
    """ "a=b,c=d" → {"a": "b", "c": "d"} (the shape of the Slack map settings)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"map entry {item!r} is not KEY=VALUE")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_list(text: str) -> frozenset[str]:
    return frozenset(filter(None, (part.strip() for part in text.split(","))))


class IdentityMap:
    """settings.slack_identity_map: "U01=alice,U02=bob|gpu-oncall" (user, then optional groups
    joined with "+", impersonated along with the user)."""

    def __init__(self, text: str) -> None:
        self._users: dict[str, MappedUser] = {}
        for slack_user, value in parse_pairs(text).items():
            user, _, groups = value.partition("|")
            self._users[slack_user] = MappedUser(user, tuple(filter(None, groups.split("+"))))

    def mapped(self, slack_user: str) -> MappedUser | None:
        return self._users.get(slack_user)

    def person(self, requester: str) -> str:
        """The name approvals are recorded under: the mapped Kubernetes user, else `slack:<id>`
        for a Slack user, else the requester as given ("alertmanager:<receiver>")."""
        mapped = self._users.get(requester)
        if mapped is not None:
            return mapped.username
        return f"slack:{requester}" if SLACK_USER_ID.fullmatch(requester) else requester


GateFactory = Callable[[MappedUser | None], tuple[Gate, Identity]]


class DispatcherServices:
    """SlackServices over the bot's submit (Service.submit or Dispatcher.submit), its RunStore
    and a gate factory.

    `gates(user)` builds a gate impersonating `user` (None: kfops' own identity) and returns it
    with the identity the API server reports; see `live_gates`.
    """

    def __init__(
        self,
        submit: Callable[[DiagnosisRequest], Submitted],
        runs: RunStore,
        gates: GateFactory,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._submit = submit
        self._runs = runs
        self._gates = gates
        self._identities = IdentityMap(settings.slack_identity_map)
        self._clock = clock

    def submit(self, request: DiagnosisRequest) -> Submitted:
        return self._submit(request)

    def lookup(self, run_id: str) -> dict[str, Any] | None:
        return self._runs.lookup(run_id)

    def gate_for(self, slack_user_id: str) -> tuple[Gate, Identity]:
        return self._gates(self._identities.mapped(slack_user_id))

    def proposal(self, run_id: str, proposal_id: str) -> Proposal | None:
        run = self._runs.get(run_id)
        for diagnosis in run.diagnoses if run is not None else ():
            for proposal in diagnosis.proposals:
                if proposal.id == proposal_id:
                    return proposal
        return None

    def clock(self) -> float:
        return self._clock()


def live_gates(settings: Settings) -> GateFactory:
    """Gates against the cluster in settings (kubeconfig/context, else in-cluster), one per click."""

    def make(user: MappedUser | None) -> tuple[Gate, Identity]:
        from kfops.clients.live.kube import LiveKubeReader
        from kfops.clients.live.writer import LiveKubeWriter

        kubeconfig, context = settings.kubeconfig or None, settings.context or None
        writer = LiveKubeWriter.connect(
            kubeconfig,
            context,
            impersonate_user=user.username if user else None,
            impersonate_groups=user.groups if user else (),
        )
        gate = Gate(LiveKubeReader.connect(kubeconfig, context), writer, settings)
        return gate, writer.identity()

    return make


# --------------------------------------------------------------------------- Slack clients
def web_client(settings: Settings, token: str | None = None) -> WebClient:
    """The Web API client: settings' base URL, and 429s honoured (Retry-After) rather than lost."""
    return WebClient(
        token=token if token is not None else settings.slack_bot_token or None,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )


def honour_rate_limits(client: WebClient) -> WebClient:
    if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


# --------------------------------------------------------------------------- middleware state
class Approvers:
    """Who may approve: settings' user ids, or members of its user groups (cached)."""

    def __init__(
        self, settings: Settings, ttl_s: float = GROUP_CACHE_S, clock: Callable[[], float] = time.monotonic
    ):
        self.users = parse_list(settings.slack_approvers)
        self.groups = parse_list(settings.slack_approver_groups)
        self._ttl = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.users or self.groups)

    def allows(self, user_id: str, client: WebClient) -> bool:
        return user_id in self.users or any(user_id in self._members(g, client) for g in sorted(self.groups))

    def _members(self, group: str, client: WebClient) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            users = frozenset(client.usergroups_users_list(usergroup=group).get("users") or ())
        except SlackApiError as exc:
            # plan_upgrade_required, no_such_subteam, missing_scope: nobody from this group
            log.warning("cannot list user group %s: %s", group, exc.response.get("error"))
            users = frozenset()
        with self._lock:
            self._cache[group] = (now + self._ttl, users)
        return users


class RateLimiter:
    """At most `limit` commands per user in any `window_s` seconds (sliding window)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, user: str) -> float:
        """0 if the user may go on now (and counts it), else seconds until they may."""
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(user, deque())
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.limit:
                return times[0] + self.window_s - now
            times.append(now)
            return 0.0


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id", "")) if isinstance(user, dict) else str(body.get("user_id", ""))


def _container(body: dict[str, Any]) -> tuple[str, str]:
    """(channel id, ts of the message holding the button)."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
    return str(channel), str(ts)


class Guards:
    """The cross-cutting checks, as Bolt middleware: audit, rate limit, button trust, approvers."""

    def __init__(
        self,
        settings: Settings,
        services: SlackServices,
        executor: Executor,
        *,
        command_limit: tuple[int, float],
    ) -> None:
        self.services = services
        self.executor = executor
        self.secret = button_secret(settings)
        self.approvers = Approvers(settings)
        self.limiter = RateLimiter(*command_limit)
        self.replays = Deduplicator(ttl_s=REPLAY_WINDOW_S)

    def _refuse(self, respond: Respond | None, user: str, why: str) -> BoltResponse:
        """Acknowledge the click, tell the clicker alone why nothing ran (after the ack)."""
        audit_log.info("refused click by %s: %s", user, why)
        if respond is not None:
            self.executor.submit(_tell, respond, f":no_entry: {why} Nothing was run.")
        return BoltResponse(status=200, body="")

    # --- global
    def audit(self, body: dict[str, Any], next_: Callable[[], None]) -> None:
        """One line per interaction: who, where, what (never tokens or response URLs)."""
        if "command" in body:
            audit_log.info(
                "command %s %r by %s in %s",
                body.get("command"),
                redact_text(str(body.get("text", "")))[:300],
                body.get("user_id"),
                body.get("channel_id"),
            )
        elif body.get("type") == "block_actions":
            actions = [a.get("action_id") for a in body.get("actions") or []]
            audit_log.info("click %s by %s in %s", actions, _user(body), _container(body)[0])
        next_()

    def rate_limit(self, body: dict[str, Any], next_: Callable[[], None]) -> BoltResponse | None:
        if "command" not in body:
            next_()
            return None
        wait = self.limiter.wait_s(_user(body))
        if wait <= 0:
            next_()
            return None
        audit_log.info("rate-limited command by %s", _user(body))
        text = f":hourglass: Too many kfops commands; try again in {int(wait) + 1} s."
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})

    # --- approve buttons
    def trusted_button(
        self, body: dict[str, Any], context: BoltContext, respond: Respond | None, next_: Callable[[], None]
    ) -> BoltResponse | None:
        """Only values kfops signed, unexpired, clicked where they were posted, each click once."""
        user = _user(body)
        action = (body.get("actions") or [{}])[0]
        try:
            claim = ApprovalClaim.verify(str(action.get("value") or ""), self.secret, self.services.clock())
        except ButtonError as exc:
            return self._refuse(respond, user, f"This button cannot be trusted: {exc}.")
        channel, _ = _container(body)
        suffix = str(action.get("action_id", "")).partition(":")[2]
        if claim.channel != channel or (suffix and suffix != claim.proposal_id):
            return self._refuse(respond, user, "This button was not posted here by kfops.")
        click = f"{user}|{action.get('action_ts')}|{action.get('value')}"
        if not self.replays.first(click):
            return self._refuse(respond, user, "This click was already handled.")
        context["kfops_claim"] = claim
        next_()
        return None

    def approver(
        self,
        body: dict[str, Any],
        client: WebClient,
        respond: Respond | None,
        next_: Callable[[], None],
    ) -> BoltResponse | None:
        user = _user(body)
        if not self.approvers.configured:
            return self._refuse(
                respond, user, "No Slack approvers are configured (KFOPS_SLACK_APPROVERS / _GROUPS)."
            )
        if not self.approvers.allows(user, client):
            return self._refuse(respond, user, "You are not an approver for kfops remediations.")
        next_()
        return None


def _tell(respond: Respond, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except (SlackClientError, OSError) as exc:
        log.warning("could not answer through the response URL: %s", type(exc).__name__)


# --------------------------------------------------------------------------- the gate, through Slack
class ApprovalFlow:
    """One click on an approve button, through the gate; returns what to post in the run's thread.

    Every click plans afresh (prepare: authorise the clicker, dry-run), opens the approval
    record if there is none (requester: who asked for the diagnosis), adds the clicker's
    approval and executes when the record is complete. The gate refuses what must not happen
    (the requester approving high risk, a second approval by the same person, a second execution).
    """

    def __init__(self, services: SlackServices, identities: IdentityMap) -> None:
        self.services = services
        self.identities = identities

    def click(self, claim: ApprovalClaim, clicker: str) -> str:
        proposal = self.services.proposal(claim.run_id, claim.proposal_id)
        if proposal is None or proposal.action != claim.action:
            return _refused(clicker, f"run {claim.run_id} has no proposal {claim.proposal_id} any more")
        if proposal.mode is not Mode.APPROVE:
            return _refused(clicker, f"{proposal.action} is manual: a human carries out its steps")
        try:
            return self._through_gate(proposal, claim, clicker)
        except Refused as exc:
            return _refused(clicker, str(exc))
        except ReaderError as exc:
            return f":warning: <@{clicker}>: kfops could not reach the cluster: {escape(exc.headline)}"
        except ConfigurationError as exc:
            return f":warning: <@{clicker}>: kfops cannot connect to the cluster: {escape(exc)}"

    def _through_gate(self, proposal: Proposal, claim: ApprovalClaim, clicker: str) -> str:
        gate, acting = self.services.gate_for(clicker)
        approver = Identity(self.identities.person(clicker))
        prepared = gate.prepare(proposal, acting)
        plan_id = prepared.plan.id
        record = self._open(gate, prepared, Identity(self.identities.person(claim.requester)))
        if approver.username not in record.approvers:
            record = gate.approve(plan_id, approver, self_approval=proposal.risk is not Risk.HIGH)
        elif not record.complete:
            return _refused(clicker, f"you already approved plan {plan_id}; it needs a different person")
        if not record.complete:
            return _waiting(clicker, proposal, plan_id, record)
        return _executed(clicker, gate.execute(plan_id, acting))

    @staticmethod
    def _open(gate: Gate, prepared: Prepared, requester: Identity) -> Record:
        """The plan's approval record: the existing one, or a new request (also after expiry)."""
        try:
            record = gate.approvals.load(prepared.plan.id)
        except ApprovalRefused:
            return gate.request(prepared, requester)
        if record.status == "pending" and record.expires_at <= gate.clock():
            return gate.request(prepared, requester)
        return record


def _refused(clicker: str, why: str) -> str:
    tail = "" if "nothing" in why.lower() else " Nothing was executed."
    return f":no_entry: <@{clicker}>: refused — {escape(why.rstrip('.'))}.{tail}"


def _waiting(clicker: str, proposal: Proposal, plan_id: str, record: Record) -> str:
    missing = record.required - len(record.approvals)
    return (
        f":+1: <@{clicker}> approved plan {code(plan_id)} "
        f"({code(proposal.action)} on {code(proposal.target)}, "
        f"{proposal.risk.value} risk): {len(record.approvals)} of {record.required} approvals. "
        f"It needs {missing} more approver(s), not the requester {code(record.requester)}, "
        f"before {record.expires_at:%H:%M:%SZ}."
    )


def _executed(clicker: str, executed: Executed) -> str:
    outcome, verified, proposal = executed.outcome, executed.verification, executed.plan.proposal
    lines = [
        f"{':white_check_mark:' if outcome.ok else ':x:'} {code(proposal.action)} on {code(proposal.target)} "
        f"{'executed' if outcome.ok else 'FAILED'} as {code(executed.executed_as)} "
        f"(plan {code(executed.plan.id)}, completed by <@{clicker}>): {escape(outcome.summary)}",
        *(f"• {escape(line)}" for line in outcome.details[:20]),
        f"{'verified' if verified.ok else '*NOT VERIFIED*'}: {escape(verified.summary)}",
    ]
    if proposal.rollback:
        lines.append(f"rollback: {code(proposal.rollback)}")
    if executed.breaker_opened:
        lines.append(
            ":rotating_light: the circuit breaker is now open: executions wait for `kfops breaker reset`"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- listeners
class Listeners:
    def __init__(
        self,
        services: SlackServices,
        flow: ApprovalFlow,
        notifier: SlackNotifier | None,
    ) -> None:
        self.services = services
        self.flow = flow
        self.notifier = notifier

    def command(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        """Answer within Slack's 3 s: local answers in the ack; a diagnosis is acked, then queued."""
        try:
            parsed = parse(str(command.get("text") or ""))
        except UsageError as exc:
            ack(text=exc.answer, response_type="ephemeral")
            return
        if isinstance(parsed, Diagnose):
            self._diagnose(ack, command, respond, parsed)
        elif isinstance(parsed, Status):
            ack(
                text=status_answer(parsed.run_id, self.services.lookup(parsed.run_id)),
                response_type="ephemeral",
            )
        elif isinstance(parsed, Explain):
            ack(text=explain_answer(parsed.ladder), response_type="ephemeral")
        elif isinstance(parsed, Runbooks):
            ack(text=runbooks_answer(), response_type="ephemeral")
        elif isinstance(parsed, Help):
            ack(text=HELP, response_type="ephemeral")

    def _diagnose(self, ack: Ack, command: dict[str, Any], respond: Respond, parsed: Diagnose) -> None:
        where = f"{code(parsed.ladder)} → {code(parsed.target or 'all targets')}"
        ack(
            text=f":hourglass: kfops is starting {where}; the result will be posted in this channel.",
            response_type="ephemeral",
        )
        user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
        request = DiagnosisRequest(
            ladder=parsed.ladder,
            target=parsed.target,
            source="slack",
            requested_by=user,
            reply=Reply(
                slack_channel=channel, slack_response_url=command.get("response_url"), slack_user=user
            ),
        )
        try:
            submitted = self.services.submit(request)
        except QueueFull as exc:
            _tell(respond, f":warning: kfops is busy ({escape(exc)}); retry in a minute.")
            return
        joined = " (joined a run already under way for the same target)" if submitted.coalesced else ""
        _tell(respond, f"Run {code(submitted.run_id)} queued{joined}. `/kfops status {submitted.run_id}`")
        if self.notifier is not None:
            self.notifier.started(submitted.run_id, request)

    def approve(self, ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        ack()
        claim: ApprovalClaim = context["kfops_claim"]
        clicker = _user(body)
        channel, message_ts = _container(body)
        text = self.flow.click(claim, clicker)
        audit_log.info(
            "approval click by %s on %s/%s: %s", clicker, claim.run_id, claim.proposal_id, text[:200]
        )
        try:
            client.chat_postMessage(channel=channel, thread_ts=message_ts or None, text=text)
        except SlackApiError as exc:
            log.warning("could not post the approval outcome to %s: %s", channel, exc.response.get("error"))
        except (SlackClientError, OSError) as exc:
            log.warning("could not post the approval outcome to %s: %s", channel, type(exc).__name__)


# --------------------------------------------------------------------------- the factory
def build_slack_app(
    settings: Settings,
    services: SlackServices,
    *,
    client: WebClient | None = None,
    notifier: SlackNotifier | None = None,
    authorize: Callable[..., AuthorizeResult] | None = None,
    token_verification: bool = True,
    command_limit: tuple[int, float] = (10, 60.0),
    executor: Executor | None = None,
) -> App:
    """The Bolt app for `/kfops` and the approval buttons.

    `client` defaults to `web_client(settings)`; whichever is used gets a 429 retry handler.
    `authorize` replaces the single-workspace token (Bolt then makes no auth.test call);
    `token_verification=False` defers auth.test to the first request. `command_limit` is
    (commands, seconds) per user. `notifier`, when given, posts a progress message as soon as
    a diagnosis is queued and edits it in place when the run finishes.
    """
    if not settings.slack_signing_secret:
        raise ValueError("the Slack app needs SLACK_SIGNING_SECRET to verify requests")
    client = honour_rate_limits(client or web_client(settings))
    pool = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="kfops-slack")
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret,
        authorize=authorize,
        token_verification_enabled=token_verification,
        listener_executor=pool,
        process_before_response=False,
    )
    guards = Guards(settings, services, pool, command_limit=command_limit)
    listeners = Listeners(
        services, ApprovalFlow(services, IdentityMap(settings.slack_identity_map)), notifier
    )
    app.use(guards.audit)
    app.use(guards.rate_limit)
    app.command("/kfops")(listeners.command)
    app.action(APPROVE_PATTERN, middleware=[guards.trusted_button, guards.approver])(listeners.approve)
    return app
