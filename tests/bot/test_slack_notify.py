"""Posting runs to Slack (a loopback recorder plays the Web API): where, who, buttons, threads, 429s."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from kfops.bot.buttons import ApprovalClaim, button_secret
from kfops.bot.requests import DiagnosisRequest, Reply
from kfops.bot.runs import Run
from kfops.bot.slack_app import web_client
from kfops.bot.slack_notify import SlackNotifier
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.model import Diagnosis
from kfops.render.slack import MAX_BLOCKS, MAX_SECTION_TEXT
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings
from tests.support.recording_server import Answer, RecordingServer

ROOT = Path(__file__).resolve().parents[2]
STUCK = ROOT / "examples/snapshots/gpu-node-down/node-unreachable-training-stuck"
HEALTHY = ROOT / "examples/snapshots/gpu-node-down/healthy-fleet"
RUN = "kf-20261120-031200-a1b2c3"
POST, UPDATE = "/api/chat.postMessage", "/api/chat.update"
TS = "1763608400.000100"


@pytest.fixture(autouse=True)
def no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SLACK_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def stuck() -> list[Diagnosis]:
    return Engine(SnapshotKubeReader.open(STUCK)).diagnose(find("gpu-node-down"), "gpu-a100-3")


@pytest.fixture(scope="module")
def healthy() -> list[Diagnosis]:
    return Engine(SnapshotKubeReader.open(HEALTHY)).diagnose(find("gpu-node-down"))


@pytest.fixture
def slack_api() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.answer(POST, Answer(body={"ok": True, "ts": TS}))
    yield server
    server.stop()


def settings_for(server: RecordingServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": "signing",
        "slack_api_url": server.url + "/api/",
        "slack_channel": "C0ALERTS",
        "slack_oncall_mention": "<!subteam^S0ONCALL>",
        "slack_owner_map": "nlp-lead@example.com=U0OWNER",
        **overrides,
    }
    return Settings(**values)


def notifier_for(server: RecordingServer, **overrides: Any) -> SlackNotifier:
    settings = settings_for(server, **overrides)
    return SlackNotifier(web_client(settings), settings)


def run_of(diagnoses: list[Diagnosis], request: DiagnosisRequest, status: str = "done") -> Run:
    return Run(RUN, "gpu-node-down", "gpu-a100-3", status=status, requests=[request], diagnoses=diagnoses)


def from_slack(user: str = "U0ALICE", channel: str = "C0CMD") -> DiagnosisRequest:
    reply = Reply(slack_channel=channel, slack_response_url="", slack_user=user)
    return DiagnosisRequest("gpu-node-down", "gpu-a100-3", "slack", user, reply)


def from_alertmanager(**labels: str) -> DiagnosisRequest:
    return DiagnosisRequest(
        "gpu-node-down", "gpu-a100-3", "alertmanager", "alertmanager:gpu", labels=tuple(labels.items())
    )


def posts(server: RecordingServer, count: int) -> list[dict[str, Any]]:
    return [r.json() for r in server.wait_for(POST, count)]


def test_a_slack_request_is_answered_in_its_channel_with_buttons_and_an_evidence_thread(
    slack_api: RecordingServer, stuck: list[Diagnosis]
) -> None:
    notifier = notifier_for(slack_api)
    run = run_of(stuck, from_slack())
    notifier.post_run(run, run.requests[0])
    message, *thread = posts(slack_api, 2)
    assert message["channel"] == "C0CMD" and "thread_ts" not in message
    assert message["text"].startswith("<@U0ALICE> asked · <!subteam^S0ONCALL> kfops: PROBLEM gpu-node-down")
    blocks = message["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in blocks if b["type"] == "section")
    [actions] = [b for b in blocks if b["type"] == "actions"]
    buttons = {e["action_id"]: e for e in actions["elements"]}
    proposals = {p.id: p for p in stuck[0].proposals}
    assert set(buttons) == {f"kfops_approve:{p.id}" for p in proposals.values() if p.mode.value == "approve"}
    secret = button_secret(notifier.settings)
    for action_id, element in buttons.items():
        claim = ApprovalClaim.verify(element["value"], secret, time.time())
        assert (claim.run_id, claim.requester, claim.channel) == (RUN, "U0ALICE", "C0CMD")
        assert f"kfops_approve:{claim.proposal_id}" == action_id
        assert claim.action == proposals[claim.proposal_id].action
    taint = next(e for e in buttons.values() if "out-of-service" in e["text"]["text"])
    assert taint["style"] == "danger" and taint["confirm"]["style"] == "danger"
    assert "two approvers, neither the requester" in taint["confirm"]["text"]["text"]
    assert thread and all(reply["thread_ts"] == TS for reply in thread)
    assert "GET /api/v1/nodes/gpu-a100-3" in str(thread[0]["blocks"])
    assert run.links["slack"] == f"C0CMD/{TS}"


def test_an_alert_goes_to_the_alert_channel_and_mentions_on_call_and_the_owner(
    slack_api: RecordingServer, stuck: list[Diagnosis]
) -> None:
    notifier = notifier_for(slack_api)
    request = from_alertmanager(owner="nlp-lead@example.com", alertname="KubeNodeNotReady")
    notifier.post_run(run_of(stuck, request), request)
    message = posts(slack_api, 1)[0]
    assert message["channel"] == "C0ALERTS"
    assert message["blocks"][0]["text"]["text"] == "from alertmanager:gpu · <!subteam^S0ONCALL> · <@U0OWNER>"
    claim = ApprovalClaim.verify(
        next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]["value"],
        button_secret(notifier.settings),
        time.time(),
    )
    assert claim.requester == "alertmanager:gpu" and claim.channel == "C0ALERTS"


def test_a_healthy_run_pings_nobody_and_has_no_buttons(
    slack_api: RecordingServer, healthy: list[Diagnosis]
) -> None:
    notifier = notifier_for(slack_api)
    request = from_slack()
    notifier.post_run(run_of(healthy, request), request)
    message = posts(slack_api, 1)[0]
    assert message["text"].startswith("<@U0ALICE> asked kfops: HEALTHY")
    assert "subteam" not in str(message["blocks"])
    assert not [b for b in message["blocks"] if b["type"] == "actions"]


def test_a_failed_run_says_so_with_its_error(slack_api: RecordingServer) -> None:
    notifier = notifier_for(slack_api)
    request = from_slack()
    run = run_of([], request, status="failed")
    run.error = "ConfigurationError: kfops cannot read the cluster: no kubeconfig <here>"
    notifier.post_run(run, request)
    [message] = posts(slack_api, 1)
    text = message["blocks"][0]["text"]["text"]
    assert "kfops could not diagnose* `gpu-node-down` → `gpu-a100-3`" in text
    assert "ConfigurationError: kfops cannot read the cluster: no kubeconfig &lt;here&gt;" in text
    assert "<!subteam^S0ONCALL>" in text
    assert len(slack_api.calls(POST)) == 1  # no evidence thread for a failed run


def test_progress_is_edited_in_place_and_pings_go_in_the_thread(
    slack_api: RecordingServer, stuck: list[Diagnosis]
) -> None:
    notifier = notifier_for(slack_api)
    request = from_slack()
    assert notifier.started(RUN, request) == TS
    assert notifier.started(RUN, request) == TS  # once per run and channel
    notifier.update_progress(RUN, request, "7 of 9 rungs answered")
    notifier.post_run(run_of(stuck, request), request)
    progress, ping, *evidence = posts(slack_api, 3)
    assert "kfops diagnosing" in progress["blocks"][0]["text"]["text"]
    first, final = (r.json() for r in slack_api.wait_for(UPDATE, 2))
    assert "7 of 9 rungs answered" in first["blocks"][0]["text"]["text"]
    assert final["ts"] == TS and final["text"].startswith(
        "<@U0ALICE> asked · <!subteam^S0ONCALL> kfops: PROBLEM"
    )
    assert ping["thread_ts"] == TS and ping["text"].startswith("<!subteam^S0ONCALL> — kfops result above")
    assert evidence and evidence[0]["thread_ts"] == TS


def test_a_coalesced_request_in_the_same_channel_adds_a_line_not_a_message(
    slack_api: RecordingServer, stuck: list[Diagnosis]
) -> None:
    notifier = notifier_for(slack_api)
    alice, bob = from_slack("U0ALICE"), from_slack("U0BOB")
    run = run_of(stuck, alice)
    run.requests.append(bob)
    notifier.post_run(run, alice)  # posting is synchronous: every call is recorded when it returns
    count = len(slack_api.calls(POST))
    notifier.post_run(run, bob)
    notifier.post_run(run, bob)
    storm = from_alertmanager()
    notifier.post_run(run, storm)  # another channel: its own message
    calls = [r.json() for r in slack_api.calls(POST)]
    assert len(calls) > count + 1
    also = [c for c in calls if c.get("text", "").startswith("<@U0BOB> asked too")]
    assert len(also) == 1 and also[0]["thread_ts"] == TS
    assert [c["channel"] for c in calls if "thread_ts" not in c] == ["C0CMD", "C0ALERTS"]


def test_a_slack_429_is_retried_after_retry_after(slack_api: RecordingServer, stuck: list[Diagnosis]) -> None:
    slack_api.answer(
        POST,
        Answer(status=429, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"}, times=1),
        Answer(body={"ok": True, "ts": TS}),
    )
    notifier = notifier_for(slack_api)
    request = from_slack()
    run = run_of(stuck, request)
    notifier.post_run(run, request)
    first, retry = slack_api.wait_for(POST, 2)[:2]
    assert retry.at - first.at >= 1.0
    assert first.json()["channel"] == retry.json()["channel"] == "C0CMD"
    assert run.links["slack"] == f"C0CMD/{TS}"


def test_when_the_bot_cannot_post_the_answer_goes_to_the_response_url(
    slack_api: RecordingServer, stuck: list[Diagnosis]
) -> None:
    slack_api.answer(POST, Answer(body={"ok": False, "error": "not_in_channel"}))
    notifier = SlackNotifier(
        WebClient(token="xoxb-test", base_url=slack_api.url + "/api/"), settings_for(slack_api)
    )
    reply = Reply(
        slack_channel="C0PRIVATE", slack_response_url=slack_api.url + "/webhook/cmd", slack_user="U0ALICE"
    )
    request = DiagnosisRequest("gpu-node-down", "gpu-a100-3", "slack", "U0ALICE", reply)
    run = run_of(stuck, request)
    notifier.post_run(run, request)
    [fallback] = slack_api.wait_for("/webhook/cmd")
    assert fallback.json()["response_type"] == "in_channel"
    assert "PROBLEM gpu-node-down" in fallback.json()["text"]
    assert "slack" not in run.links
