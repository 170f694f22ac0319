"""Approval buttons through the real gate: Slack users mapped to alice, bob and carol (group gpu-oncall).

The Bolt app gets correctly signed block_actions requests; Slack's Web API is a loopback recorder;
the gate acts through admin credentials impersonating the clicker's mapped Kubernetes user (and
group), against the real API server with the shipped RBAC (see test_gate.py).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from kubernetes import client
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from kfops.bot.buttons import ApprovalClaim, button_secret
from kfops.bot.dispatch import Submitted
from kfops.bot.runs import Run, RunStore
from kfops.bot.slack_app import DispatcherServices, build_slack_app, live_gates
from kfops.model import Conclusion, Diagnosis, Proposal, Verdict
from kfops.settings import Settings
from tests.support.recording_server import Answer, RecordingServer

from .controlplane import ControlPlane
from .test_gate import audit_events, oncall_roles, proposal, settings  # noqa: F401 — fixtures
from .test_live_reader import _create_node, _node

SIGNING = "live-signing-secret"
RUN = "kf-20261120-031200-5eeded"
CHANNEL = "C0GPUONCALL"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
POST = "/api/chat.postMessage"


@pytest.fixture(autouse=True)
def no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SLACK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def slack_api() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.answer(POST, Answer(body={"ok": True, "ts": "1763608400.000200"}))
    server.answer("/api/usergroups.users.list", Answer(body={"ok": True, "users": [BOB, CAROL]}))
    yield server
    server.stop()


def bot_settings(gate_settings: Settings, control_plane: ControlPlane, server: RecordingServer) -> Settings:
    return replace(
        gate_settings,
        slack_signing_secret=SIGNING,
        slack_api_url=server.url + "/api/",
        slack_approvers=ALICE,
        slack_approver_groups="S0ONCALL",  # bob and carol approve as members of the on-call group
        slack_identity_map=f"{ALICE}=alice|gpu-oncall,{BOB}=bob|gpu-oncall,{CAROL}=carol|gpu-oncall",
        kubeconfig=str(control_plane.kubeconfig),
        context="admin",  # kfops' own credentials; each click impersonates the mapped user
    )


def diagnosis_offering(offer: Proposal) -> Diagnosis:
    now = datetime.now(UTC)
    return Diagnosis(
        RUN, "gpu-node-down", "GPU node down", offer.target.partition("/")[2], "live", now, now, (),
        Conclusion(Verdict.PROBLEM, "the node is unreachable", "node-unreachable", "high"), (offer,),
    )  # fmt: skip


def slack_app(configured: Settings, server: RecordingServer, offer: Proposal) -> App:
    runs = RunStore()
    runs.add(Run(RUN, "gpu-node-down", offer.target, status="done", diagnoses=[diagnosis_offering(offer)]))
    services = DispatcherServices(
        lambda request: Submitted(RUN, False), runs, live_gates(configured), configured
    )

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=team_id, bot_token="xoxb-test", bot_user_id="UBOT")

    return build_slack_app(
        configured, services, client=WebClient(base_url=server.url + "/api/"), authorize=authorize
    )


def click(app: App, server: RecordingServer, value: str, user: str, offer: Proposal) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
        "team": {"id": "T0TEAM", "domain": "kf"},
        "api_app_id": "A0KFOPS",
        "container": {"type": "message", "message_ts": "1763608400.000100", "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "gpu-oncall"},
        "response_url": server.url + "/webhook/click",
        "trigger_id": "1.2.3",
        "actions": [
            {
                "action_id": f"kfops_approve:{offer.id}",
                "block_id": "kfops_actions_0",
                "type": "button",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = "payload=" + quote(json.dumps(payload))
    ts = str(int(time.time()))
    signature = str(SignatureVerifier(SIGNING).generate_signature(timestamp=ts, body=body))
    headers: dict[str, str | Sequence[str]] = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [signature],
        "x-slack-request-timestamp": [ts],
    }
    assert app.dispatch(BoltRequest(body=body, headers=headers)).status == 200


def taints(core_api: client.CoreV1Api, node: str) -> set[tuple[Any, Any, Any]]:
    spec = core_api.read_node(node).spec
    return {(t.key, t.value, t.effect) for t in (spec.taints if spec else None) or []}


def test_a_high_risk_taint_needs_two_slack_approvers_and_runs_once(
    control_plane: ControlPlane,
    settings: Settings,  # noqa: F811 — the gate's state namespace (test_gate.py)
    core: client.CoreV1Api,
    slack_api: RecordingServer,
) -> None:
    node = f"gpu-slack-{uuid.uuid4().hex[:6]}"
    _create_node(core, _node(node, control_plane.kubelet.port, "Unknown", 22))
    offer = proposal("node.out-of-service-taint", f"node/{node}")
    configured = bot_settings(settings, control_plane, slack_api)
    app = slack_app(configured, slack_api, offer)
    value = ApprovalClaim(RUN, offer.id, offer.action, ALICE, CHANNEL).sign(
        button_secret(configured), time.time(), 900
    )
    outcome = ("node.kubernetes.io/out-of-service", "nodeshutdown", "NoExecute")

    def thread_after(user: str, count: int) -> str:
        click(app, slack_api, value, user, offer)
        posted: dict[str, Any] = slack_api.wait_for(POST, count, timeout=60)[-1].json()
        assert posted["channel"] == CHANNEL and posted["thread_ts"] == "1763608400.000100"
        return str(posted["text"])

    refused = thread_after(ALICE, 1)  # alice asked for the diagnosis: she is the requester
    assert "alice requested plan" in refused and "cannot approve it" in refused
    waiting = thread_after(BOB, 2)
    assert "1 of 2 approvals" in waiting and "not the requester `alice`" in waiting
    assert outcome not in taints(core, node)
    executed = thread_after(CAROL, 3)
    assert "executed as `carol`" in executed and "verified:" in executed, executed
    assert outcome in taints(core, node)
    again = thread_after(CAROL, 4)  # the second click
    assert "refused" in again and "executed as" not in again
    events = audit_events(settings)
    assert events.count("executed") == 1
    assert events[:4] == ["requested", "approved", "approved", "executed"]
    record = [json.loads(line) for line in Path(settings.audit_path).read_text().splitlines()][3]
    assert record["executedAs"] == "carol" and record["requester"] == "alice"
    assert record["approvers"] == ["bob", "carol"]
