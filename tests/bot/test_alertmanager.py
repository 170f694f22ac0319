"""Alertmanager webhook: bearer auth, the v4 payload, resolved alerts, redeliveries."""

from __future__ import annotations

import hmac
import json
from typing import Any

import pytest

from kfops.bot.alertmanager import AlertmanagerWebhook, PayloadError, parse_notification
from kfops.bot.dedup import Deduplicator
from kfops.settings import Settings

TOKEN = "am-token-0123456789"
GROUP = '{}/{severity="warning"}:{alertname="KubeNodeNotReady"}'
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _alert(
    node: str, *, status: str = "firing", alertname: str = "KubeNodeNotReady", **extra: str
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": alertname, "node": node, "severity": "warning", **extra},
        "annotations": {"summary": "Node is not ready.", "runbook_url": "https://runbooks/kubenodenotready"},
        "startsAt": "2026-09-01T02:45:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph?g0.expr=...",
        "fingerprint": f"fp-{alertname}-{node}",
    }


def _payload(*alerts: dict[str, Any], status: str = "firing", **extra: Any) -> bytes:
    body = {
        "version": "4",
        "groupKey": GROUP,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "kfops",
        "groupLabels": {"alertname": "KubeNodeNotReady"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
        **extra,
    }
    return json.dumps(body).encode()


@pytest.fixture
def webhook() -> AlertmanagerWebhook:
    return AlertmanagerWebhook(Settings(alertmanager_token=TOKEN))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
    ids=["none", "wrong", "empty", "basic-scheme", "no-scheme"],
)
def test_without_the_right_bearer_token_the_answer_is_401(
    webhook: AlertmanagerWebhook, headers: dict[str, str]
) -> None:
    verdict = webhook.accept(_payload(_alert("gpu-a100-3")), headers)

    assert verdict.status == 401
    assert verdict.requests == ()
    assert len(webhook.dedup) == 0


def test_the_token_is_compared_in_constant_time(
    webhook: AlertmanagerWebhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    assert webhook.authorized({"authorization": f"bearer {TOKEN}"})
    assert calls == [TOKEN.encode()]


def test_a_rotated_token_list_accepts_either() -> None:
    webhook = AlertmanagerWebhook(Settings(alertmanager_token=f"old-token,{TOKEN}"))

    assert webhook.authorized(AUTH)
    assert webhook.authorized({"Authorization": "Bearer old-token"})


def test_no_configured_token_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="KFOPS_ALERTMANAGER_TOKEN"):
        AlertmanagerWebhook(Settings())


def test_a_firing_payload_becomes_diagnosis_requests(webhook: AlertmanagerWebhook) -> None:
    raw = _payload(
        _alert("gpu-a100-3"),
        _alert("gpu-a100-3", alertname="KubeNodeUnreachable"),  # same question: one request
        _alert("gpu-h100-1"),
        _alert("", alertname="Watchdog"),
    )

    verdict = webhook.accept(raw, AUTH)

    assert verdict.status == 200
    assert [(r.ladder, r.target) for r in verdict.requests] == [
        ("gpu-node-down", "gpu-a100-3"),
        ("gpu-node-down", "gpu-h100-1"),
    ]
    request = verdict.requests[0]
    assert (request.source, request.requested_by) == ("alertmanager", "alertmanager:kfops")
    assert request.reply.alertmanager_group == GROUP
    assert ("alertname", "KubeNodeNotReady") in request.labels
    assert verdict.body["requests"] == 2
    assert [u["alertname"] for u in verdict.body["unrouted"]] == ["Watchdog"]


def test_resolved_alerts_are_ignored(webhook: AlertmanagerWebhook) -> None:
    raw = _payload(_alert("gpu-a100-3", status="resolved"), status="resolved")

    verdict = webhook.accept(raw, AUTH)

    assert verdict.status == 200
    assert verdict.requests == ()
    assert verdict.body["resolved"] == 1


def test_the_same_fingerprint_and_status_twice_runs_once(webhook: AlertmanagerWebhook) -> None:
    raw = _payload(_alert("gpu-a100-3"))

    first = webhook.accept(raw, AUTH)
    again = webhook.accept(raw, AUTH)  # a repeat notification, or the HA peer's copy

    assert len(first.requests) == 1
    assert again.status == 200
    assert again.requests == ()
    assert again.body["duplicates"] == 1


def test_the_whole_group_is_resent_but_only_the_new_alert_runs(webhook: AlertmanagerWebhook) -> None:
    webhook.accept(_payload(_alert("gpu-a100-3")), AUTH)

    verdict = webhook.accept(_payload(_alert("gpu-a100-3"), _alert("gpu-a100-4")), AUTH)

    assert [r.target for r in verdict.requests] == ["gpu-a100-4"]


def test_the_same_alert_firing_again_later_runs_again(webhook: AlertmanagerWebhook) -> None:
    webhook.accept(_payload(_alert("gpu-a100-3")), AUTH)
    refired = {**_alert("gpu-a100-3"), "startsAt": "2026-09-01T05:00:00Z"}

    assert len(webhook.accept(_payload(refired), AUTH).requests) == 1


def test_dedup_expires_after_its_ttl() -> None:
    now = [0.0]
    webhook = AlertmanagerWebhook(
        Settings(alertmanager_token=TOKEN), dedup=Deduplicator(ttl_s=60, clock=lambda: now[0])
    )
    raw = _payload(_alert("gpu-a100-3"))
    webhook.accept(raw, AUTH)
    now[0] = 61.0

    assert len(webhook.accept(raw, AUTH).requests) == 1


def test_a_released_verdict_runs_on_alertmanagers_retry(webhook: AlertmanagerWebhook) -> None:
    raw = _payload(_alert("gpu-a100-3"))
    first = webhook.accept(raw, AUTH)

    webhook.release(first)  # e.g. the queue was full and the server answered 503

    assert len(webhook.accept(raw, AUTH).requests) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (_payload(version="3"), "version is '3'"),
        (json.dumps({"version": "4", "groupKey": "g"}).encode(), "'alerts' is missing"),
        (json.dumps({"version": "4", "alerts": []}).encode(), "groupKey is missing"),
        (_payload({"status": "pending", "labels": {}}), "alerts[0].status is 'pending'"),
        (_payload({"status": "firing", "labels": {"node": 3}}), "alerts[0].labels must map"),
    ],
)
def test_a_malformed_payload_is_400_with_the_reason(
    webhook: AlertmanagerWebhook, raw: bytes, expected: str
) -> None:
    verdict = webhook.accept(raw, AUTH)

    assert verdict.status == 400
    assert expected in verdict.body["error"]
    with pytest.raises(PayloadError):
        parse_notification(raw)


def test_an_alert_without_a_fingerprint_gets_a_stable_one() -> None:
    alert = {k: v for k, v in _alert("gpu-a100-3").items() if k != "fingerprint"}

    first = parse_notification(_payload(alert)).alerts[0]
    second = parse_notification(_payload(alert)).alerts[0]

    assert first.fingerprint and first.fingerprint == second.fingerprint
