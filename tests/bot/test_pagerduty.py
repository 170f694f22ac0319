"""PagerDuty: webhook signatures, redeliveries, triage over the REST API, notes, and the note text.

The REST API is played by the loopback RecordingServer; nothing else is stubbed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kfops.bot.dedup import Deduplicator
from kfops.bot.pagerduty import (
    SIGNATURE_HEADER,
    PagerDutyClient,
    PagerDutyConfigError,
    PagerDutyError,
    PagerDutyWebhook,
    WebhookError,
    label_sets,
    parse_event,
    verify_signature,
)
from kfops.model import (
    Conclusion,
    Diagnosis,
    Evidence,
    Finding,
    Mode,
    Proposal,
    Risk,
    Source,
    Status,
    Verdict,
)
from kfops.render.pagerduty import incident_note
from kfops.settings import Settings
from tests.support.recording_server import Answer, RecordingServer

SECRET = "whsec-current"
OLD_SECRET = "whsec-previous"
TOKEN = "u+pd-api-token-SECRET"
INCIDENT = "PT4KHLK"
ALERTS_PATH = f"/incidents/{INCIDENT}/alerts"
NOTES_PATH = f"/incidents/{INCIDENT}/notes"


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _event(event_type: str = "incident.triggered", event_id: str = "01DEN9Q7X5J5PQ4Z3GBQ7Q3SWC") -> bytes:
    body = {
        "event": {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-09-01T03:02:11.000Z",
            "agent": None,
            "client": None,
            "data": {
                "id": INCIDENT,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{INCIDENT}",
                "html_url": f"https://acme.pagerduty.com/incidents/{INCIDENT}",
                "number": 4242,
                "status": "triggered",
                "incident_key": "a" * 64,
                "title": "[FIRING:1] KubeNodeNotReady gpu-a100-3",
                "urgency": "high",
                "service": {"id": "PSVC01", "type": "service_reference", "summary": "ml-platform"},
            },
        }
    }
    return json.dumps(body).encode()


def _am_alert(alert_id: str, labels: dict[str, str], *, where: str = "cef") -> dict[str, Any]:
    """A PagerDuty alert opened by Alertmanager ≥ 0.30 (firing rendered as JSON)."""
    details = {
        "firing": json.dumps([{"status": "firing", "labels": labels, "annotations": {"summary": "s"}}]),
        "resolved": "[]",
        "num_firing": "1",
        "num_resolved": "0",
    }
    body: dict[str, Any] = {"type": "alert_body", "contexts": []}
    if where == "cef":
        body["cef_details"] = {"details": details, "client": "Alertmanager"}
    else:
        body["details"] = details
    return {
        "id": alert_id,
        "type": "alert",
        "summary": labels.get("alertname", ""),
        "status": "triggered",
        "body": body,
    }


@pytest.fixture(scope="module")
def shared_server() -> Iterator[RecordingServer]:
    recording = RecordingServer()  # one per module: stopping one takes its 0.5 s poll interval
    yield recording
    recording.stop()


@pytest.fixture
def server(shared_server: RecordingServer) -> RecordingServer:
    """The module's server, with no scripted answers and no recorded requests."""
    for path in (ALERTS_PATH, NOTES_PATH):
        shared_server.answer(path)
    shared_server.requests.clear()
    return shared_server


def _settings(server: RecordingServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pagerduty_webhook_secret": SECRET,
        "pagerduty_api_token": TOKEN,
        "pagerduty_api_url": server.url,
        "pagerduty_from_email": "kfops-bot@example.com",
        **overrides,
    }
    return Settings(**values)


def _client(server: RecordingServer, **kwargs: Any) -> PagerDutyClient:
    return PagerDutyClient(_settings(server), backoff_s=kwargs.pop("backoff_s", 0.01), **kwargs)


# --- signatures ------------------------------------------------------------------------------


def test_a_correct_single_signature_passes() -> None:
    body = _event()

    assert verify_signature(body, _sign(body), [SECRET])


def test_during_rotation_any_v1_entry_may_match() -> None:
    body = _event()
    header = f"{_sign(body, 'some-other-secret')},{_sign(body)}"

    assert verify_signature(body, header, [SECRET])
    assert verify_signature(body, _sign(body, OLD_SECRET), [SECRET, OLD_SECRET])  # our own rotation


def test_a_forged_signature_is_refused() -> None:
    body = _event()

    assert not verify_signature(body, _sign(body, "guessed"), [SECRET])
    assert not verify_signature(body, "v1=" + "0" * 64, [SECRET])
    assert not verify_signature(body, "v0=" + _sign(body)[3:], [SECRET])


@pytest.mark.parametrize("header", [None, "", " "])
def test_a_missing_signature_is_refused(header: str | None) -> None:
    assert not verify_signature(_event(), header, [SECRET])


def test_a_body_altered_by_one_byte_is_refused() -> None:
    body = _event()
    altered = body.replace(b"gpu-a100-3", b"gpu-a100-4")
    assert len(altered) == len(body) and altered != body

    assert not verify_signature(altered, _sign(body), [SECRET])


def test_no_configured_secret_refuses_everything() -> None:
    body = _event()

    assert not verify_signature(body, _sign(body, ""), [""])


def test_signatures_are_compared_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = _event()

    assert verify_signature(body, f"v1=deadbeef,{_sign(body)}", [SECRET])
    assert len(calls) == 2  # every entry compared, no early exit
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)


# --- events ----------------------------------------------------------------------------------


def test_an_incident_event_is_parsed() -> None:
    event = parse_event(_event())

    assert event.event_type == "incident.triggered"
    assert (event.incident_id, event.incident_number, event.service) == (INCIDENT, 4242, "ml-platform")
    assert event.html_url.endswith(INCIDENT)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"not json", "not JSON"),
        (b"[]", "no 'event' object"),
        (b'{"event": {"event_type": "incident.triggered"}}', "event.id is missing"),
        (b'{"event": {"id": "E1"}}', "event.event_type is missing"),
        (b'{"event": {"id": "E1", "event_type": "incident.triggered", "data": null}}', "without an incident"),
        (
            b'{"event": {"id": "E1", "event_type": "incident.triggered", "data": {"type": "incident"}}}',
            "without an incident",
        ),
    ],
)
def test_malformed_bodies_are_refused_with_a_clear_error(raw: bytes, expected: str) -> None:
    with pytest.raises(WebhookError, match=expected):
        parse_event(raw)


def test_events_kfops_ignores_are_parsed_leniently() -> None:
    ping = b'{"event": {"id": "E3", "event_type": "pagey.ping", "resource_type": "pagey", "data": null}}'
    odd = b'{"event": {"id": "E4", "event_type": "incident.acknowledged", "data": null}}'

    assert parse_event(ping).event_type == "pagey.ping"
    assert parse_event(odd).incident_id is None


def test_a_note_event_names_its_incident() -> None:
    raw = json.dumps(
        {
            "event": {
                "id": "E2",
                "event_type": "incident.annotated",
                "resource_type": "incident",
                "data": {"type": "incident_note", "incident": {"id": INCIDENT}, "content": "hi"},
            }
        }
    ).encode()

    assert parse_event(raw).incident_id == INCIDENT


def test_the_deduplicator_forgets_after_its_ttl_and_stays_bounded() -> None:
    now = [0.0]
    dedup = Deduplicator(ttl_s=10, max_entries=3, clock=lambda: now[0])

    assert dedup.first("a") and not dedup.first("a")
    now[0] = 10.5
    assert dedup.first("a")
    for key in "bcde":
        dedup.first(key)
    assert len(dedup) == 3


# --- the webhook endpoint --------------------------------------------------------------------


def _webhook(server: RecordingServer, **settings: Any) -> PagerDutyWebhook:
    return PagerDutyWebhook(_settings(server, **settings), client=_client(server))


def _deliver(webhook: PagerDutyWebhook, body: bytes, triaged: list[Any]) -> int:
    """What the HTTP server does: accept fast, then triage what accept handed over."""
    verdict = webhook.accept(body, {SIGNATURE_HEADER.lower(): _sign(body)})
    if verdict.event is not None:
        triaged.append(webhook.triage(verdict.event))
    return verdict.status


def test_a_bad_signature_is_401_and_nothing_runs(server: RecordingServer) -> None:
    webhook = _webhook(server)
    body = _event()

    verdict = webhook.accept(body, {SIGNATURE_HEADER: _sign(body, "forged")})
    unsigned = webhook.accept(body, {})

    assert (verdict.status, unsigned.status) == (401, 401)
    assert verdict.event is None and unsigned.event is None
    assert len(webhook.dedup) == 0
    assert server.requests == []


def test_a_redelivered_event_is_answered_but_triaged_once(server: RecordingServer) -> None:
    server.answer(ALERTS_PATH, Answer(body={"alerts": [], "more": False}))
    webhook = _webhook(server)
    triaged: list[Any] = []
    body = _event()

    statuses = [_deliver(webhook, body, triaged) for _ in range(3)]
    duplicate = webhook.accept(body, {SIGNATURE_HEADER: _sign(body)})

    assert statuses == [202, 200, 200]
    assert duplicate.body == {"status": "duplicate", "event": "01DEN9Q7X5J5PQ4Z3GBQ7Q3SWC"}
    assert len(triaged) == 1
    assert len(server.calls(ALERTS_PATH)) == 1


def test_a_released_event_is_run_when_pagerduty_retries(server: RecordingServer) -> None:
    webhook = _webhook(server)
    body = _event()
    first = webhook.accept(body, {SIGNATURE_HEADER: _sign(body)})
    assert first.event is not None

    webhook.release(first.event)  # e.g. the queue was full and the server answered 503

    assert webhook.accept(body, {SIGNATURE_HEADER: _sign(body)}).status == 202


def test_other_events_are_accepted_and_ignored(server: RecordingServer) -> None:
    webhook = _webhook(server)
    body = _event("incident.acknowledged", event_id="E-ack")

    verdict = webhook.accept(body, {SIGNATURE_HEADER: _sign(body)})

    assert verdict.status == 200
    assert verdict.body["status"] == "ignored"
    assert verdict.event is None
    assert webhook.triage(parse_event(body)) == []
    assert server.requests == []


def test_a_signed_but_malformed_body_is_400(server: RecordingServer) -> None:
    webhook = _webhook(server)
    body = b'{"event": {"id": "E1"}}'

    verdict = webhook.accept(body, {SIGNATURE_HEADER: _sign(body)})

    assert verdict.status == 400
    assert "event_type" in verdict.body["error"]


def test_the_webhook_refuses_to_start_without_a_secret(server: RecordingServer) -> None:
    with pytest.raises(PagerDutyConfigError, match="KFOPS_PAGERDUTY_WEBHOOK_SECRET"):
        PagerDutyWebhook(_settings(server, pagerduty_webhook_secret=""), client=_client(server))


def test_triggered_incident_fetches_alerts_and_routes_them(server: RecordingServer) -> None:
    server.answer(
        ALERTS_PATH,
        Answer(
            body={
                "alerts": [
                    _am_alert(
                        "A1", {"alertname": "KubeNodeNotReady", "node": "gpu-a100-3", "severity": "warning"}
                    ),
                    _am_alert(
                        "A2",
                        {"alertname": "KfopsGpuXid", "kfops_runbook": "gpu-node-down", "node": "gpu-h100-1"},
                        where="details",
                    ),
                    _am_alert("A3", {"alertname": "KubePersistentVolumeFillingUp", "namespace": "kubeflow"}),
                ],
                "more": False,
            }
        ),
    )
    webhook = _webhook(server)
    body = _event()
    verdict = webhook.accept(body, {SIGNATURE_HEADER: _sign(body)})
    assert verdict.status == 202 and verdict.event is not None

    triage = webhook.route_incident(verdict.event)

    assert [(r.ladder, r.target) for r in triage.requests] == [
        ("gpu-node-down", "gpu-a100-3"),
        ("gpu-node-down", "gpu-h100-1"),
    ]
    first = triage.requests[0]
    assert (first.source, first.requested_by) == ("pagerduty", f"pagerduty:{INCIDENT}")
    assert first.reply.pagerduty_incident == INCIDENT
    assert ("node", "gpu-a100-3") in first.labels
    assert len(triage.skipped) == 1 and "KubePersistentVolumeFillingUp" in triage.skipped[0]
    (call,) = server.calls(ALERTS_PATH)
    assert call.method == "GET"
    assert call.headers["authorization"] == f"Token token={TOKEN}"
    assert call.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert call.query["statuses[]"] == ["triggered"]


def test_alerts_are_read_across_pages(server: RecordingServer) -> None:
    page_one = {"alerts": [_am_alert("A1", {"alertname": "KubeNodeNotReady", "node": "gpu-1"})], "more": True}
    page_two = {
        "alerts": [_am_alert("A2", {"alertname": "KubeNodeNotReady", "node": "gpu-2"})],
        "more": False,
    }
    server.answer(ALERTS_PATH, Answer(body=page_one, times=1), Answer(body=page_two, times=1))

    with _client(server) as client:
        alerts = client.incident_alerts(INCIDENT)

    assert [a.id for a in alerts] == ["A1", "A2"]
    assert [c.query["offset"] for c in server.calls(ALERTS_PATH)] == [["0"], ["1"]]


def test_labels_come_from_every_alertmanager_details_format() -> None:
    legacy = (
        "Labels:\n - alertname = KubeNodeNotReady\n - node = gpu-a100-3\n"
        "Annotations:\n - summary = Node not ready\nSource: http://prometheus/graph\n"
    )
    as_list = [{"labels": {"alertname": "KubeNodeNotReady", "node": "gpu-1"}}]

    assert label_sets({"firing": legacy}) == ({"alertname": "KubeNodeNotReady", "node": "gpu-a100-3"},)
    assert label_sets({"firing": as_list}) == ({"alertname": "KubeNodeNotReady", "node": "gpu-1"},)
    assert label_sets({"firing": json.dumps(as_list)}) == label_sets({"firing": as_list})
    assert label_sets({"alertname": "KubeNodeNotReady", "node": "gpu-2", "extra": {"x": 1}}) == (
        {"alertname": "KubeNodeNotReady", "node": "gpu-2"},
    )
    assert label_sets({"firing": "", "num_firing": "0"}) == ()


# --- REST: notes, retries, errors ------------------------------------------------------------


def test_a_note_is_posted_with_the_from_and_token_headers(server: RecordingServer) -> None:
    server.answer(NOTES_PATH, Answer(body={"note": {"id": "PNOTE1", "content": "x"}}))

    with _client(server) as client:
        note_id = client.add_note(INCIDENT, "kfops gpu-node-down → gpu-a100-3: PROBLEM")

    (call,) = server.calls(NOTES_PATH)
    assert note_id == "PNOTE1"
    assert call.method == "POST"
    assert call.headers["from"] == "kfops-bot@example.com"
    assert call.headers["authorization"] == f"Token token={TOKEN}"
    assert call.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert call.headers["content-type"] == "application/json"
    assert call.json() == {"note": {"content": "kfops gpu-node-down → gpu-a100-3: PROBLEM"}}


def test_a_note_without_a_from_email_is_refused_before_sending(server: RecordingServer) -> None:
    client = PagerDutyClient(_settings(server, pagerduty_from_email=""))

    with pytest.raises(PagerDutyConfigError, match="KFOPS_PAGERDUTY_FROM_EMAIL"):
        client.add_note(INCIDENT, "text")
    assert server.requests == []


def test_429_waits_for_retry_after_before_retrying(server: RecordingServer) -> None:
    server.answer(
        NOTES_PATH,
        Answer(
            429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}, {"Retry-After": "1"}, times=1
        ),
        Answer(body={"note": {"id": "PNOTE2"}}),
    )

    with _client(server) as client:
        assert client.add_note(INCIDENT, "text") == "PNOTE2"

    first, second = server.calls(NOTES_PATH)
    assert second.at - first.at >= 1.0


def test_a_retry_after_longer_than_kfops_waits_is_reported_at_once(server: RecordingServer) -> None:
    server.answer(
        ALERTS_PATH, Answer(429, {"error": {"message": "Rate Limit Exceeded"}}, {"Retry-After": "3600"})
    )

    with _client(server) as client, pytest.raises(PagerDutyError) as caught:
        client.incident_alerts(INCIDENT)

    assert caught.value.status == 429
    assert "Rate Limit Exceeded" in str(caught.value) and "3600" in str(caught.value)
    assert len(server.calls(ALERTS_PATH)) == 1


def test_5xx_is_retried_a_bounded_number_of_times_then_reported(server: RecordingServer) -> None:
    server.answer(ALERTS_PATH, Answer(503, {"error": {"message": "Service Unavailable", "code": 2999}}))

    with _client(server, max_attempts=3) as client, pytest.raises(PagerDutyError) as caught:
        client.incident_alerts(INCIDENT)

    assert caught.value.status == 503
    assert "after 3 attempts" in str(caught.value) and "Service Unavailable" in str(caught.value)
    assert len(server.calls(ALERTS_PATH)) == 3


def test_a_5xx_then_success_returns_the_answer(server: RecordingServer) -> None:
    server.answer(ALERTS_PATH, Answer(502, {}, times=1), Answer(body={"alerts": [], "more": False}))

    with _client(server) as client:
        assert client.incident_alerts(INCIDENT) == []
    assert len(server.calls(ALERTS_PATH)) == 2


def test_401_is_reported_clearly_without_retry_and_without_the_token(
    server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.answer(ALERTS_PATH, Answer(401, {"error": {"message": "Unauthorized", "code": 2006}}))
    caplog.set_level(logging.DEBUG)

    with _client(server) as client, pytest.raises(PagerDutyError) as caught:
        client.incident_alerts(INCIDENT)

    message = str(caught.value)
    assert caught.value.status == 401
    assert "401" in message and "Unauthorized" in message and "KFOPS_PAGERDUTY_API_TOKEN" in message
    assert TOKEN not in message and TOKEN not in repr(client)
    assert TOKEN not in caplog.text
    assert len(server.calls(ALERTS_PATH)) == 1


def test_a_post_that_may_have_arrived_is_not_sent_twice(server: RecordingServer) -> None:
    server.answer(NOTES_PATH, Answer(body={"note": {"id": "slow"}}, delay_s=0.6))
    client = _client(server, timeout=httpx.Timeout(0.2))

    with client, pytest.raises(PagerDutyError, match="ReadTimeout"):
        client.add_note(INCIDENT, "text")

    assert len(server.wait_for(NOTES_PATH, 1)) == 1


def test_the_client_needs_a_token(server: RecordingServer) -> None:
    with pytest.raises(PagerDutyConfigError, match="KFOPS_PAGERDUTY_API_TOKEN"):
        PagerDutyClient(_settings(server, pagerduty_api_token=""))


# --- the note --------------------------------------------------------------------------------

NOW = datetime(2026, 9, 1, 3, 0, tzinfo=UTC)


def _diagnosis(
    extra_findings: int = 0, summary: str = "Ready=Unknown (NodeStatusUnknown) for 21m"
) -> Diagnosis:
    def finding(rung: str, status: Status, text: str) -> Finding:
        evidence = Evidence(Source.KUBE, f"GET /api/v1/nodes/gpu-a100-3 ({rung})", text, NOW)
        return Finding(rung, "?", status, text, (evidence,), "b", f"node/gpu-a100-3/{rung}")

    findings = [
        finding("node-ready", Status.FAIL, summary),
        finding("node-pressure", Status.OK, "no pressure"),
        finding("gpu-workloads", Status.WARN, "7 GPUs of ML work displaced"),
        *(finding(f"extra-{n}", Status.WARN, "x" * 200) for n in range(extra_findings)),
    ]
    proposal = Proposal(
        action="node.out-of-service-taint",
        target="node/gpu-a100-3",
        title="Taint gpu-a100-3 out-of-service",
        risk=Risk.HIGH,
        mode=Mode.APPROVE,
        rationale=(),
        preconditions=("node powered off",),
    )
    return Diagnosis(
        run_id="r-20260901-0300-abcd",
        ladder="gpu-node-down",
        ladder_title="GPU node down",
        target="gpu-a100-3",
        source="snapshot x",
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=2),
        findings=tuple(findings),
        conclusion=Conclusion(Verdict.PROBLEM, "The node is down or unreachable.", "node-down", "high"),
        proposals=(proposal,),
    )


def test_the_note_has_verdict_cause_evidence_proposals_run_and_slack_link() -> None:
    note = incident_note(
        [_diagnosis()], run_id="r-20260901-0300-abcd", slack_link="https://acme.slack.com/archives/C1/p1"
    )

    assert "kfops gpu-node-down → gpu-a100-3: PROBLEM" in note
    assert "cause node-down (high confidence)" in note
    assert "[FAIL] node-ready: Ready=Unknown" in note and "GET /api/v1/nodes/gpu-a100-3" in note
    assert note.index("[FAIL]") < note.index("[WARN]")
    assert "no pressure" not in note  # OK rungs are not evidence of anything
    assert "node.out-of-service-taint" in note and "risk high" in note and "node powered off" in note
    assert note.endswith("Slack: https://acme.slack.com/archives/C1/p1")
    assert "r-20260901-0300-abcd" in note


def test_a_long_note_is_cut_visibly_and_keeps_the_run_line() -> None:
    note = incident_note(
        [_diagnosis(extra_findings=3)] * 5, run_id="r-1", slack_link="https://s/x", limit=1200
    )

    assert len(note) <= 1200
    assert "note truncated" in note
    assert note.endswith("Run r-1 (`kfops status r-1`) · Slack: https://s/x")


def test_the_note_is_redacted_and_reports_errors() -> None:
    leaked = incident_note([_diagnosis(summary="kubelet said password=hunter2")], run_id="r-2")
    failed = incident_note([], run_id="r-3", error="ApiError: token=abc123secret refused")

    assert "hunter2" not in leaked
    assert "kfops could not diagnose" in failed and "abc123secret" not in failed
    assert "r-3" in failed


def test_a_sweep_note_names_the_sweep() -> None:
    diagnosis = _diagnosis()
    sweep = Diagnosis(**{**diagnosis.__dict__, "target": "*"})

    assert "gpu-node-down → (sweep)" in incident_note([sweep], run_id="r-4")
