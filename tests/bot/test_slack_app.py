"""The Bolt app, fed correctly signed Slack requests; Slack's Web API is a loopback recorder.

Requests are signed like Slack signs them (v0, timestamped) and dispatched to the real app
(`app.dispatch(BoltRequest(...))`), so Bolt's own verification and our middleware run as in
production. The gate is a recording stand-in here; tests/live/test_slack_approvals.py drives
the real gate against the real API server.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from kfops.bot.buttons import ApprovalClaim
from kfops.bot.dispatch import QueueFull, Submitted
from kfops.bot.requests import DiagnosisRequest, Reply
from kfops.bot.slack_app import IdentityMap, build_slack_app
from kfops.bot.slack_notify import SlackNotifier
from kfops.clients.protocols import Identity
from kfops.model import Mode, Proposal, Risk
from kfops.playbooks.approvals import ApprovalRefused, Record
from kfops.playbooks.base import Outcome, Verification
from kfops.playbooks.gate import Executed, Gate, Refused
from kfops.playbooks.plan import Plan
from kfops.settings import Settings
from tests.support.recording_server import Answer, RecordingServer

SIGNING = "test-signing-secret"
BUTTONS = b"test-button-secret"
RUN = "kf-20261120-031200-a1b2c3"
CHANNEL = "C0OPS"
ALICE, BOB, CAROL, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY"
GROUP = "S0ONCALL"
CORDON = Proposal("node.cordon", "node/gpu-a100-3", "Cordon gpu-a100-3", Risk.LOW, Mode.APPROVE, ())
TAINT = Proposal(
    "node.out-of-service-taint",
    "node/gpu-a100-3",
    "Mark gpu-a100-3 out of service",
    Risk.HIGH,
    Mode.APPROVE,
    (),
)
PAGE = Proposal("capacity.page", "node/gpu-a100-3", "Page capacity", Risk.LOW, Mode.MANUAL, ())


@pytest.fixture(autouse=True)
def no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like bolt-python's own tests: SLACK_* variables of the machine must not leak in."""
    for name in list(os.environ):
        if name.startswith("SLACK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def slack_api() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.answer("/api/chat.postMessage", Answer(body={"ok": True, "ts": "1763608400.000200"}))
    server.answer("/api/usergroups.users.list", Answer(body={"ok": True, "users": [CAROL]}))
    yield server
    server.stop()


class RecordingGate:
    """Stands in for Gate: records what the Slack flow asks, applies the approval counting."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log
        self.records: dict[str, Record] = {}
        self.approvals = self  # the flow reads gate.approvals.load(plan_id)
        self.executed: set[str] = set()

    def clock(self) -> datetime:
        return datetime.now(UTC)

    def prepare(self, proposal: Proposal, who: Identity) -> Any:
        self.log.append(("prepare", proposal.id, who.username))
        return type("Prepared", (), {"plan": Plan(proposal, (), ())})()

    def load(self, plan_id: str) -> Record:
        if plan_id not in self.records:
            raise ApprovalRefused(f"no plan {plan_id}")
        return self.records[plan_id]

    def request(self, prepared: Any, requester: Identity, options: Any = None) -> Record:
        self.log.append(("request", prepared.plan.id, requester.username))
        required = 2 if prepared.plan.proposal.risk is Risk.HIGH else 1
        record = Record({}, requester.username, self.clock() + timedelta(minutes=15), required, (), "pending")
        self.records[prepared.plan.id] = record
        return record

    def approve(self, plan_id: str, approver: Identity, *, self_approval: bool = False) -> Record:
        self.log.append(("approve", plan_id, approver.username, self_approval))
        record = self.records[plan_id]
        if approver.username == record.requester and (record.required > 1 or not self_approval):
            raise Refused(f"{approver.username} requested plan {plan_id} and cannot approve it")
        approvals = (*record.approvals, {"user": approver.username, "at": "now"})
        self.records[plan_id] = Record(**{**record.__dict__, "approvals": approvals})
        return self.records[plan_id]

    def execute(self, plan_id: str, executor: Identity) -> Executed:
        self.log.append(("execute", plan_id, executor.username))
        if plan_id in self.executed:
            raise Refused(f"plan {plan_id} is already executed; nothing was done again")
        self.executed.add(plan_id)
        proposal = TAINT if TAINT.id in plan_id else CORDON
        return Executed(
            Plan(proposal, (), ()),
            Outcome(True, "tainted <node>"),
            Verification(True, "taint present"),
            executor.username,
            False,
        )


class FakeServices:
    """Records every call; `release` holds submit back to simulate a slow queue."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.submitted: list[DiagnosisRequest] = []
        self.release = threading.Event()
        self.release.set()
        self.full = False
        self.gate = RecordingGate(self.log)

    def submit(self, request: DiagnosisRequest) -> Submitted:
        self.release.wait(30)
        if self.full:
            raise QueueFull("the diagnosis queue is full (100); retry shortly")
        self.submitted.append(request)
        return Submitted(RUN, False)

    def lookup(self, run_id: str) -> dict[str, Any] | None:
        self.log.append(("lookup", run_id))
        return (
            {"ladder": "gpu-node-down", "target": "gpu-a100-3", "status": "done"} if run_id == RUN else None
        )

    def gate_for(self, slack_user_id: str) -> tuple[Gate, Identity]:
        self.log.append(("gate_for", slack_user_id))
        acting = {ALICE: "alice", BOB: "bob"}.get(slack_user_id, "system:serviceaccount:kfops:kfops")
        return self.gate, Identity(acting)  # type: ignore[return-value]

    def proposal(self, run_id: str, proposal_id: str) -> Proposal | None:
        found = {p.id: p for p in (CORDON, TAINT, PAGE)}
        return found.get(proposal_id) if run_id == RUN else None

    def clock(self) -> float:
        return time.time()


def settings_for(server: RecordingServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_signing_secret": SIGNING,
        "slack_bot_token": "xoxb-test",
        "button_secret": BUTTONS.decode(),
        "slack_api_url": server.url + "/api/",
        "slack_approvers": f"{ALICE},{BOB}",
        "slack_approver_groups": GROUP,
        "slack_identity_map": f"{ALICE}=alice,{BOB}=bob",
        **overrides,
    }
    return Settings(**values)


def authorize(enterprise_id: str | None, team_id: str | None, logger: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-test", bot_user_id="UBOT", bot_id="BBOT"
    )


def make_app(server: RecordingServer, services: FakeServices, **options: Any) -> App:
    client = WebClient(base_url=server.url + "/api/")  # the token comes from `authorize`
    return build_slack_app(
        settings_for(server, **options.pop("settings", {})),
        services,
        client=client,
        authorize=authorize,
        **options,
    )


def signed(body: str, timestamp: float | None = None, secret: str = SIGNING) -> BoltRequest:
    ts = str(int(time.time() if timestamp is None else timestamp))
    signature = str(SignatureVerifier(secret).generate_signature(timestamp=ts, body=body))
    return BoltRequest(
        body=body,
        headers={
            "content-type": ["application/x-www-form-urlencoded"],
            "x-slack-signature": [signature],
            "x-slack-request-timestamp": [ts],
        },
    )


def command_body(server: RecordingServer, text: str, user: str = ALICE) -> str:
    return urlencode(
        {
            "token": "legacy-unused",
            "team_id": "T0TEAM",
            "team_domain": "kf",
            "channel_id": CHANNEL,
            "channel_name": "gpu-oncall",
            "user_id": user,
            "user_name": "someone",
            "command": "/kfops",
            "text": text,
            "api_app_id": "A0KFOPS",
            "is_enterprise_install": "false",
            "response_url": server.url + "/webhook/command",
            "trigger_id": "1.2.3",
        }
    )


def click_body(
    server: RecordingServer,
    value: str,
    user: str,
    *,
    proposal_id: str = CORDON.id,
    channel: str = CHANNEL,
    action_ts: str | None = None,
) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "u", "name": "u", "team_id": "T0TEAM"},
        "api_app_id": "A0KFOPS",
        "token": "legacy-unused",
        "team": {"id": "T0TEAM", "domain": "kf"},
        "container": {"type": "message", "message_ts": "1763608400.000100", "channel_id": channel},
        "channel": {"id": channel, "name": "gpu-oncall"},
        "message": {"ts": "1763608400.000100", "blocks": []},
        "state": {"values": {}},
        "response_url": server.url + "/webhook/click",
        "trigger_id": "4.5.6",
        "actions": [
            {
                "action_id": f"kfops_approve:{proposal_id}",
                "block_id": "kfops_actions_0",
                "type": "button",
                "value": value,
                "text": {"type": "plain_text", "text": "Approve"},
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }
    return "payload=" + quote(json.dumps(payload))


def button_value(proposal: Proposal = CORDON, requester: str = ALICE, issued: float | None = None) -> str:
    claim = ApprovalClaim(RUN, proposal.id, proposal.action, requester, CHANNEL)
    return claim.sign(BUTTONS, time.time() if issued is None else issued, 900)


def ephemeral(response: BoltResponse) -> str:
    body = json.loads(response.body)
    assert response.status == 200 and body.get("response_type", "ephemeral") == "ephemeral"
    return str(body["text"])


def webhook_texts(server: RecordingServer, path: str, count: int = 1) -> list[str]:
    return [r.json()["text"] for r in server.wait_for(path, count)]


# --------------------------------------------------------------------------- request signing
def test_a_forged_signature_is_refused_with_401_and_nothing_runs(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    forged = signed(command_body(slack_api, "diagnose gpu-node-down gpu-a100-3"), secret="not-the-secret")
    assert app.dispatch(forged).status == 401
    click = signed(click_body(slack_api, button_value(), ALICE), secret="not-the-secret")
    assert app.dispatch(click).status == 401
    assert services.submitted == [] and services.log == []


def test_a_request_older_than_five_minutes_is_refused(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    old = signed(command_body(slack_api, "diagnose gpu-node-down"), timestamp=time.time() - 6 * 60)
    assert app.dispatch(old).status == 401
    assert services.submitted == []


def test_a_body_edited_after_signing_is_refused(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    request = signed(command_body(slack_api, "help"))
    edited = BoltRequest(body=command_body(slack_api, "diagnose gpu-node-down"), headers=request.headers)
    assert app.dispatch(edited).status == 401


# --------------------------------------------------------------------------- commands
def test_diagnose_is_acked_then_submitted_with_where_to_answer(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    response = app.dispatch(signed(command_body(slack_api, "diagnose gpu-node-down gpu-a100-3")))
    assert "kfops is starting `gpu-node-down` → `gpu-a100-3`" in ephemeral(response)
    [followup] = webhook_texts(slack_api, "/webhook/command")
    assert f"Run `{RUN}` queued" in followup
    assert services.submitted == [
        DiagnosisRequest(
            ladder="gpu-node-down",
            target="gpu-a100-3",
            source="slack",
            requested_by=ALICE,
            reply=Reply(
                slack_channel=CHANNEL, slack_response_url=slack_api.url + "/webhook/command", slack_user=ALICE
            ),
        )
    ]


def test_with_a_notifier_a_progress_message_is_posted_once_queued(slack_api: RecordingServer) -> None:
    services = FakeServices()
    settings = settings_for(slack_api)
    notifier = SlackNotifier(WebClient(token="xoxb-test", base_url=slack_api.url + "/api/"), settings)
    app = make_app(slack_api, services, notifier=notifier)
    app.dispatch(signed(command_body(slack_api, "diagnose gpu-node-down gpu-a100-3")))
    [progress] = [r.json() for r in slack_api.wait_for("/api/chat.postMessage")]
    assert progress["channel"] == CHANNEL
    assert progress["blocks"][0]["text"]["text"].startswith(
        f"<@{ALICE}> asked :hourglass_flowing_sand: kfops"
    )


def test_the_ack_goes_out_at_once_even_when_the_queue_is_slow(slack_api: RecordingServer) -> None:
    services = FakeServices()
    services.release.clear()  # submit blocks until the test lets it go
    app = make_app(slack_api, services)
    started = time.monotonic()
    response = app.dispatch(signed(command_body(slack_api, "diagnose gpu-node-down")))
    elapsed = time.monotonic() - started
    assert response.status == 200 and "kfops is starting" in ephemeral(response)
    assert elapsed < 1.5, f"ack took {elapsed:.2f} s; Slack gives up after 3 s"  # sanity bound only
    assert services.submitted == []
    services.release.set()
    assert f"Run `{RUN}` queued" in webhook_texts(slack_api, "/webhook/command")[0]


def test_a_full_queue_is_answered_busy_retry(slack_api: RecordingServer) -> None:
    services = FakeServices()
    services.full = True
    app = make_app(slack_api, services)
    assert "kfops is starting" in ephemeral(app.dispatch(signed(command_body(slack_api, "diagnose gpu"))))
    [busy] = webhook_texts(slack_api, "/webhook/command")
    assert busy.startswith(":warning: kfops is busy (the diagnosis queue is full (100); retry shortly)")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("diagnose", "`diagnose` needs a runbook"),
        ("diagnose nope", "unknown runbook 'nope'"),
        ("diagnose gpu-node-down Bad_Node", "is not a valid node name"),
        ("status 123", "is not a run id"),
        ("rm -rf /", "unknown command `rm`"),
        ("help me", "`help` takes no arguments"),
    ],
)
def test_malformed_commands_get_an_ephemeral_usage(slack_api: RecordingServer, text: str, why: str) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    answer = ephemeral(app.dispatch(signed(command_body(slack_api, text))))
    assert why in answer and "Usage:" in answer
    assert services.submitted == []


def test_local_answers_come_in_the_ack(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)

    def ask(text: str) -> str:
        return ephemeral(app.dispatch(signed(command_body(slack_api, text))))

    assert "Usage:" in ask("") and "Usage:" in ask("help")
    assert "`gpu-node-down`" in ask("runbooks")
    assert ask("explain gpu").startswith("*gpu-node-down: GPU node down or GPUs unusable*")
    assert f"*Run* `{RUN}`: `gpu-node-down` → `gpu-a100-3`, *done*" in ask(f"status {RUN}")
    assert "no run `kf-20261120-031200-ffffff` is known" in ask("status kf-20261120-031200-ffffff")
    assert services.submitted == []


def test_commands_are_rate_limited_per_user(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services, command_limit=(2, 60.0))
    for _ in range(2):
        assert "Usage:" in ephemeral(app.dispatch(signed(command_body(slack_api, "help"))))
    assert "Too many kfops commands; try again in" in ephemeral(
        app.dispatch(signed(command_body(slack_api, "diagnose gpu")))
    )
    assert "Usage:" in ephemeral(app.dispatch(signed(command_body(slack_api, "help", user=BOB))))
    assert services.submitted == []


# --------------------------------------------------------------------------- approve buttons
def refusal(server: RecordingServer, response: BoltResponse, count: int = 1) -> str:
    assert response.status == 200
    record = server.wait_for("/webhook/click", count)[-1].json()
    assert record["response_type"] == "ephemeral" and record["replace_original"] is False
    return str(record["text"])


def test_an_edited_button_value_is_refused_and_nothing_runs(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    mac = button_value().rpartition(".")[2]
    other = ApprovalClaim(RUN, TAINT.id, TAINT.action, ALICE, CHANNEL).sign(BUTTONS, time.time(), 900)
    edited = f"{other.rpartition('.')[0]}.{mac}"  # the taint's claims under the cordon's signature
    text = refusal(slack_api, app.dispatch(signed(click_body(slack_api, edited, BOB, proposal_id=TAINT.id))))
    assert "This button cannot be trusted: the button value was altered or not signed by kfops" in text
    assert "Nothing was run" in text
    assert services.log == []


def test_an_expired_button_is_refused(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    old = button_value(issued=time.time() - 3600)
    text = refusal(slack_api, app.dispatch(signed(click_body(slack_api, old, BOB))))
    assert "this button expired 45 min ago: diagnose again" in text
    assert services.log == []


def test_a_replayed_click_runs_once(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    body = click_body(slack_api, button_value(), ALICE, action_ts="1763608401.000001")
    assert app.dispatch(signed(body)).status == 200
    slack_api.wait_for("/api/chat.postMessage")
    text = refusal(slack_api, app.dispatch(signed(body)))  # the same request again, freshly timestamped
    assert "This click was already handled" in text
    assert [entry[0] for entry in services.log].count("execute") == 1


def test_a_button_clicked_in_another_channel_is_refused(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    text = refusal(
        slack_api, app.dispatch(signed(click_body(slack_api, button_value(), BOB, channel="C0ELSE")))
    )
    assert "This button was not posted here by kfops" in text
    text = refusal(
        slack_api, app.dispatch(signed(click_body(slack_api, button_value(), BOB, proposal_id=TAINT.id))), 2
    )
    assert "This button was not posted here by kfops" in text
    assert services.log == []


def test_an_unauthorised_approver_is_refused(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    text = refusal(slack_api, app.dispatch(signed(click_body(slack_api, button_value(), MALLORY))))
    assert "You are not an approver for kfops remediations" in text
    assert services.log == []


def test_without_configured_approvers_nobody_approves(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services, settings={"slack_approvers": "", "slack_approver_groups": ""})
    text = refusal(slack_api, app.dispatch(signed(click_body(slack_api, button_value(), ALICE))))
    assert "No Slack approvers are configured" in text
    assert services.log == []


def thread_posts(server: RecordingServer, count: int) -> list[dict[str, Any]]:
    return [r.json() for r in server.wait_for("/api/chat.postMessage", count)]


def test_a_group_member_approves_and_memberships_are_cached(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    assert app.dispatch(signed(click_body(slack_api, button_value(), CAROL))).status == 200
    [post] = thread_posts(slack_api, 1)
    assert post["channel"] == CHANNEL and post["thread_ts"] == "1763608400.000100"
    assert "executed as `system:serviceaccount:kfops:kfops`" in post["text"]  # carol is not mapped
    assert app.dispatch(signed(click_body(slack_api, button_value(), CAROL))).status == 200
    thread_posts(slack_api, 2)
    lists = slack_api.calls("/api/usergroups.users.list")
    assert len(lists) == 1 and lists[0].form()["usergroup"] == [GROUP]


def test_low_risk_the_requester_confirms_and_it_executes_once(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    assert app.dispatch(signed(click_body(slack_api, button_value(CORDON, ALICE), ALICE))).status == 200
    [post] = thread_posts(slack_api, 1)
    plan = Plan(CORDON, (), ()).id
    assert services.log == [
        ("gate_for", ALICE),
        ("prepare", CORDON.id, "alice"),
        ("request", plan, "alice"),
        ("approve", plan, "alice", True),
        ("execute", plan, "alice"),
    ]
    assert post["text"].startswith(
        ":white_check_mark: `node.cordon` on `node/gpu-a100-3` executed as `alice`"
    )
    assert "tainted &lt;node&gt;" in post["text"]  # the gate's words are escaped too
    assert app.dispatch(signed(click_body(slack_api, button_value(CORDON, ALICE), ALICE))).status == 200
    second = thread_posts(slack_api, 2)[-1]["text"]
    assert (
        second == f":no_entry: <@{ALICE}>: refused — plan {plan} is already executed; nothing was done again."
    )


def test_high_risk_needs_two_approvers_neither_the_requester(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    value = button_value(TAINT, ALICE)
    plan = Plan(TAINT, (), ()).id

    def click(user: str, count: int) -> str:
        body = click_body(slack_api, value, user, proposal_id=TAINT.id)
        assert app.dispatch(signed(body)).status == 200
        return str(thread_posts(slack_api, count)[-1]["text"])

    refused = click(ALICE, 1)
    assert "alice requested plan" in refused and "Nothing was executed" in refused
    waiting = click(BOB, 2)
    assert f"<@{BOB}> approved plan `{plan}`" in waiting and "1 of 2 approvals" in waiting
    assert "not the requester `alice`" in waiting
    assert "executed as `system:serviceaccount:kfops:kfops`" in click(CAROL, 3)
    approvals = [entry for entry in services.log if entry[0] == "approve"]
    assert approvals == [
        ("approve", plan, "alice", False),
        ("approve", plan, "bob", False),
        ("approve", plan, f"slack:{CAROL}", False),
    ]
    assert [entry for entry in services.log if entry[0] == "request"] == [("request", plan, "alice")]


def test_manual_and_unknown_proposals_are_refused_in_the_thread(slack_api: RecordingServer) -> None:
    services = FakeServices()
    app = make_app(slack_api, services)
    manual = click_body(slack_api, button_value(PAGE), BOB, proposal_id=PAGE.id)
    assert app.dispatch(signed(manual)).status == 200
    assert "refused — capacity.page is manual" in thread_posts(slack_api, 1)[0]["text"]
    gone = Proposal("node.drain", "node/gpu-a100-3", "Drain", Risk.MEDIUM, Mode.APPROVE, ())
    unknown = click_body(slack_api, button_value(gone), BOB, proposal_id=gone.id)
    assert app.dispatch(signed(unknown)).status == 200
    assert f"run {RUN} has no proposal {gone.id} any more" in thread_posts(slack_api, 2)[1]["text"]
    assert "gate_for" not in [entry[0] for entry in services.log]


def test_identity_map() -> None:
    identities = IdentityMap("U01=alice, U02=bob|gpu-oncall+sre")
    assert identities.mapped("U02") is not None and identities.mapped("U02").groups == ("gpu-oncall", "sre")  # type: ignore[union-attr]
    assert identities.person("U01") == "alice"
    assert identities.person("U0NOBODY") == "slack:U0NOBODY"
    assert identities.person("alertmanager:gpu") == "alertmanager:gpu"
    with pytest.raises(ValueError, match="KEY=VALUE"):
        IdentityMap("U01")
