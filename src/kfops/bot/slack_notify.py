"""Posting runs to Slack: a progress message edited in place, the result, the evidence thread.

Where: a Slack-sourced request is answered in the channel the command came from; alert-sourced
ones (PagerDuty, Alertmanager) in `settings.slack_channel`. One message per run and channel: a
second request for the same run in the same channel (a coalesced storm) adds at most a line in
the thread instead of another message.

Who is mentioned: the requester; for anything not healthy also the on-call
(`slack_oncall_mention`) and the owners (emails from the `owners` hook — by default alert labels
such as `owner` — mapped to Slack users by `slack_owner_map`). Slack does not notify mentions
added by an edit, so when the result replaces a progress message the pings go in a thread reply.

Approve buttons (signed values, see bot/buttons.py) are added for proposals whose mode is
`approve`. Posting never raises into the dispatcher's worker: Slack errors are logged, and a
Slack-sourced request falls back to its response_url.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from kfops.bot.buttons import ApprovalClaim, button_secret
from kfops.bot.requests import DiagnosisRequest
from kfops.bot.runs import Run
from kfops.bot.slack_app import APPROVE_ACTION, parse_pairs
from kfops.clients.errors import ReaderError
from kfops.clients.protocols import KubeReader
from kfops.clients.resources import PROFILES
from kfops.model import Diagnosis, Mode, Proposal, Risk, Verdict
from kfops.render.slack import (
    Block,
    button,
    confirm,
    diagnosis_message,
    escape,
    evidence_blocks,
    failure_message,
    progress_message,
)
from kfops.settings import Settings

log = logging.getLogger("kfops.slack")

OwnerHook = Callable[[Run, DiagnosisRequest], Iterable[str]]
#: alert labels that name an owner by email (Kubeflow Profiles have one owner email each)
OWNER_LABELS = ("owner", "owner_email", "profile_owner")


def label_owners(run: Run, request: DiagnosisRequest) -> list[str]:
    """Owner emails named by the request's alert labels (the default owners hook)."""
    return [value for key, value in request.labels if key in OWNER_LABELS and "@" in value]


NAMESPACE_LABELS = ("namespace", "exported_namespace")


def profile_owners(reader: KubeReader) -> OwnerHook:
    """Owners of the Profiles whose namespaces the alert names (Profile name = namespace), plus
    any owner the labels name directly. A Profile that cannot be read names no owner."""

    def owners(run: Run, request: DiagnosisRequest) -> list[str]:
        found = label_owners(run, request)
        for namespace in dict.fromkeys(v for k, v in request.labels if k in NAMESPACE_LABELS and v):
            try:
                profile = reader.get(PROFILES, namespace).value
            except ReaderError:
                continue
            owner = ((profile.get("spec") or {}).get("owner") or {}).get("name")
            if isinstance(owner, str) and owner:
                found.append(owner)
        return found

    return owners


@dataclass
class _Message:
    """The one message of a run in a channel."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ts: str | None = None
    final: bool = False
    asked: set[str] = field(default_factory=set)


class SlackNotifier:
    def __init__(
        self,
        client: WebClient,
        settings: Settings,
        *,
        owners: OwnerHook = label_owners,
        clock: Callable[[], float] = time.time,
        keep: int = 1000,
    ) -> None:
        self.client = client
        self.settings = settings
        self._owners = owners
        self._owner_map = parse_pairs(settings.slack_owner_map)
        self._clock = clock
        self._keep = keep
        self._messages: OrderedDict[tuple[str, str], _Message] = OrderedDict()
        self._lock = threading.Lock()
        try:
            self._secret: bytes | None = button_secret(settings)
        except ValueError:
            log.warning("no button secret (KFOPS_BUTTON_SECRET / SLACK_SIGNING_SECRET): no approve buttons")
            self._secret = None

    # ----------------------------------------------------------------- where and who
    def channel_for(self, request: DiagnosisRequest) -> str | None:
        if request.source == "slack":
            return request.reply.slack_channel or None
        return request.reply.slack_channel or self.settings.slack_channel or None

    def _message(self, run_id: str, channel: str) -> _Message:
        with self._lock:
            key = (run_id, channel)
            message = self._messages.get(key)
            if message is None:
                message = self._messages[key] = _Message()
                while len(self._messages) > self._keep:
                    self._messages.popitem(last=False)
            return message

    @staticmethod
    def _requester(request: DiagnosisRequest) -> str:
        if request.source == "slack" and request.requested_by:
            return f"<@{escape(request.requested_by)}> asked"
        return f"from {escape(request.requested_by or request.source)}"

    def _pings(self, run: Run, request: DiagnosisRequest) -> list[str]:
        """On-call and owners, for anything that is not healthy."""
        if run.status != "failed" and all(d.conclusion.verdict is Verdict.HEALTHY for d in run.diagnoses):
            return []
        pings = [self.settings.slack_oncall_mention] if self.settings.slack_oncall_mention else []
        for email in dict.fromkeys(self._owners(run, request)):
            user = self._owner_map.get(email)
            pings.append(f"<@{escape(user)}>" if user else f"owner {escape(email)}")
        return pings

    # ----------------------------------------------------------------- progress
    def started(self, run_id: str, request: DiagnosisRequest) -> str | None:
        """Post the run's progress message in the request's channel (once); its ts."""
        channel = self.channel_for(request)
        if channel is None:
            return None
        message = self._message(run_id, channel)
        with message.lock:
            if message.ts is not None:
                return message.ts
            text, blocks = progress_message(
                run_id, request.ladder, request.target, "running", mentions=self._requester(request)
            )
            message.ts = self._post(channel, text, blocks)
            message.asked.add(request.requested_by)
            return message.ts

    def update_progress(
        self, run_id: str, request: DiagnosisRequest, detail: str, status: str = "running"
    ) -> None:
        """Edit the progress message in place (chat.update); nothing if none was posted."""
        channel = self.channel_for(request)
        if channel is None:
            return
        message = self._message(run_id, channel)
        with message.lock:
            if message.ts is None or message.final:
                return
            text, blocks = progress_message(
                run_id, request.ladder, request.target, status, detail, mentions=self._requester(request)
            )
            self._update(channel, message.ts, text, blocks)

    def progress(self, run: Run, detail: str) -> None:
        """The Service's progress shape: edit every requester's progress message of this run."""
        for request in list(run.requests):
            self.update_progress(run.run_id, request, detail)

    # ----------------------------------------------------------------- results
    def notify(self, run: Run, request: DiagnosisRequest) -> None:
        """The Service's notifier shape (`service.notifiers`)."""
        self.post_run(run, request)

    def post_run(self, run: Run, request: DiagnosisRequest) -> None:
        """The run's result for one request (the Dispatcher's notify callback)."""
        channel = self.channel_for(request)
        if channel is None:
            log.log(
                logging.WARNING if request.source == "slack" else logging.DEBUG,
                "run %s: no Slack channel to post to (alerts: KFOPS_SLACK_CHANNEL)",
                run.run_id,
            )
            return
        message = self._message(run.run_id, channel)
        with message.lock:
            if message.final and message.ts is not None:
                self._also_asked(channel, message, request)
                return
            self._post_result(run, request, channel, message)

    def _post_result(self, run: Run, request: DiagnosisRequest, channel: str, message: _Message) -> None:
        pings = self._pings(run, request)
        mentions = " · ".join([self._requester(request), *pings])
        text, blocks = self._result(run, request, channel, mentions)
        edited = message.ts is not None and self._update(channel, message.ts, text, blocks)
        ts = message.ts if edited else self._post(channel, text, blocks)
        if ts is None:
            self._fallback(request, text, blocks)
            return
        message.ts, message.final = ts, True
        message.asked.add(request.requested_by)
        run.links["slack"] = f"{channel}/{ts}"
        if edited and pings:  # an edit notifies nobody: ping in the thread
            self._post(channel, f"{' '.join(pings)} — kfops result above (run {run.run_id})", None, ts)
        for diagnosis in run.diagnoses if run.status != "failed" else ():
            self._evidence(diagnosis, run.run_id, channel, ts)

    def _result(
        self, run: Run, request: DiagnosisRequest, channel: str, mentions: str
    ) -> tuple[str, list[Block]]:
        if run.status == "failed" or not run.diagnoses:
            error = run.error or "the run produced no diagnosis"
            return failure_message(run.run_id, run.ladder, run.target, error, mentions=mentions)
        buttons = self.buttons(run.run_id, run.diagnoses, request.requested_by, channel)
        return diagnosis_message(run.diagnoses, run.run_id, buttons, mentions=mentions)

    def _also_asked(self, channel: str, message: _Message, request: DiagnosisRequest) -> None:
        """A coalesced request: a Slack user is told in the thread; alert duplicates stay silent."""
        if request.source != "slack" or request.requested_by in message.asked:
            return
        message.asked.add(request.requested_by)
        self._post(
            channel, f"{self._requester(request)} too: the answer is this run's message.", None, message.ts
        )

    def _evidence(self, diagnosis: Diagnosis, run_id: str, channel: str, ts: str) -> None:
        replies = evidence_blocks(diagnosis, run_id)
        for number, blocks in enumerate(replies, 1):
            text = f"evidence {number}/{len(replies)} for {diagnosis.ladder} → {diagnosis.target}"
            if self._post(channel, escape(text), blocks, ts) is None:
                return

    # ----------------------------------------------------------------- buttons
    def buttons(self, run_id: str, diagnoses: list[Diagnosis], requester: str, channel: str) -> list[Block]:
        """Signed approve buttons for the proposals kfops may execute after approval."""
        if self._secret is None:
            return []
        seen: dict[str, Proposal] = {}
        for diagnosis in diagnoses:
            for proposal in diagnosis.proposals:
                if proposal.mode is Mode.APPROVE:
                    seen.setdefault(proposal.id, proposal)
        now, ttl = self._clock(), self.settings.proposal_ttl_min * 60
        return [self._button(run_id, p, requester, channel, now, ttl) for p in seen.values()]

    def _button(
        self, run_id: str, proposal: Proposal, requester: str, channel: str, now: float, ttl: float
    ) -> Block:
        assert self._secret is not None
        claim = ApprovalClaim(run_id, proposal.id, proposal.action, requester or "unknown", channel)
        high = proposal.risk is Risk.HIGH
        rule = (
            "High risk: two approvers, neither the requester."
            if high
            else "One approval (the requester may confirm their own request)."
        )
        requires = " Requires: " + "; ".join(proposal.preconditions) + "." if proposal.preconditions else ""
        return button(
            f"Approve {proposal.action} ({proposal.risk.value})",
            f"{APPROVE_ACTION}:{proposal.id}",
            claim.sign(self._secret, now, ttl),
            style="danger" if high else "primary",
            confirm_dialog=confirm(
                f"Approve {proposal.action}?", f"{rule} {proposal.title}.{requires}", danger=high
            ),
        )

    # ----------------------------------------------------------------- Slack calls
    def _post(
        self, channel: str, text: str, blocks: list[Block] | None, thread_ts: str | None = None
    ) -> str | None:
        try:
            answer = self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False
            )
        except (SlackClientError, OSError) as exc:
            log.warning("chat.postMessage to %s failed: %s", channel, _why(exc))
            return None
        ts: Any = answer.get("ts")
        return str(ts) if ts else None

    def _update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> bool:
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except (SlackClientError, OSError) as exc:
            log.warning("chat.update of %s/%s failed: %s", channel, ts, _why(exc))
            return False
        return True

    def _fallback(self, request: DiagnosisRequest, text: str, blocks: list[Block]) -> None:
        """The bot cannot post in that channel (not invited, a DM): answer via the response_url."""
        url = request.reply.slack_response_url
        if request.source != "slack" or not url:
            return
        try:
            WebhookClient(url).send(text=text, blocks=blocks, response_type="in_channel")
        except (SlackClientError, OSError) as exc:
            log.warning("the response_url fallback failed too: %s", _why(exc))


def _why(exc: Exception) -> str:
    """Slack's error code, or the exception type: never the request (it carries the token)."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__
