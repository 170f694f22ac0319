"""`kfops serve` over real HTTP on loopback: health, readiness, auth, and an alert storm.

The server is the production one (Starlette on uvicorn); diagnoses run on a bundled snapshot.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kfops.bot.server import create_app
from kfops.bot.service import Service, make_reader
from kfops.bot.surfaces import alertmanager_adapter
from kfops.settings import Settings
from tests.bot.test_dispatch import UNREACHABLE, Answers, _slow_snapshot

TOKEN = "am-token-for-tests"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Running:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.answers = Answers()
        service.notifiers.append(self.answers)
        webhooks = {k: v for k, v in {"alertmanager": alertmanager_adapter(service)}.items() if v is not None}
        self.port = _free_port()
        config = uvicorn.Config(
            create_app(service, None, webhooks),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def _start(tmp_path: Path, snapshot: Path = UNREACHABLE, **overrides: Any) -> Running:
    settings = Settings(snapshot_dir=str(snapshot), state_dir=str(tmp_path / "state"), **overrides)
    reader, error = make_reader(settings)
    return Running(Service(settings, reader, error))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    server = _start(tmp_path, alertmanager_token=TOKEN)
    yield server
    server.stop()


def _alert(node: str, fingerprint: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "KubeNodeNotReady", "node": node, "severity": "critical"},
        "annotations": {"summary": "Node is not ready."},
        "startsAt": "2026-11-20T02:55:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def _payload(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="KubeNodeNotReady"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "kfops",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": list(alerts),
        }
    ).encode()


AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def test_health_readiness_and_metrics(running: Running) -> None:
    assert httpx.get(f"{running.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{running.url}/readyz")
    assert ready.status_code == 200, ready.text
    checks = {c["name"]: c for c in ready.json()["checks"]}
    assert checks["kubernetes"]["ok"] and checks["surfaces"]["message"] == "configured: alertmanager"
    metrics = httpx.get(f"{running.url}/metrics").text
    assert "kfops_queue_depth 0.0" in metrics


def test_readiness_says_what_is_missing(tmp_path: Path) -> None:
    server = _start(tmp_path, Path("/nonexistent"))
    try:
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503
        checks = {c["name"]: c for c in ready.json()["checks"]}
        assert not checks["kubernetes"]["ok"] and "does not exist" in checks["kubernetes"]["message"]
        assert checks["surfaces"]["message"].startswith("no surface configured")
        assert httpx.post(f"{server.url}/webhooks/alertmanager", content=b"{}").status_code == 404
    finally:
        server.stop()


def test_alertmanager_without_the_token_is_refused_and_runs_nothing(running: Running) -> None:
    bad = httpx.post(
        f"{running.url}/webhooks/alertmanager",
        content=_payload(_alert("gpu-a100-3", "f1")),
        headers={"Authorization": "Bearer wrong"},
    )
    assert bad.status_code == 401
    assert running.service.dispatcher.accepted == 0


def test_an_alert_storm_is_answered_in_full_by_a_handful_of_diagnoses(running: Running) -> None:
    nodes = ["gpu-a100-1", "gpu-a100-2", "gpu-a100-3"]

    def fire(n: int) -> int:
        body = _payload(_alert(nodes[n % 3], f"storm-{n}"))
        return httpx.post(
            f"{running.url}/webhooks/alertmanager", content=body, headers=AUTH, timeout=30
        ).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(fire, range(500)))
    assert statuses.count(200) == 500
    got = running.answers.wait(500, timeout=60)
    assert len(got) == 500  # every accepted alert was answered, exactly once
    assert running.service.dispatcher.diagnosed <= len(nodes)  # coalesced: a handful of diagnoses
    assert {status for _, _, status in got} == {"done"}
    assert "kfops_requests_coalesced_total 497.0" in httpx.get(f"{running.url}/metrics").text


def test_a_full_queue_answers_503_with_retry_after_and_loses_nothing(tmp_path: Path) -> None:
    server = _start(
        tmp_path, _slow_snapshot(tmp_path, 0.3), alertmanager_token=TOKEN, workers=1, queue_size=1
    )
    try:
        answers = [
            httpx.post(
                f"{server.url}/webhooks/alertmanager",
                headers=AUTH,
                timeout=30,
                content=_payload(_alert(node, f"q-{node}")),
            )
            for node in ("gpu-a100-1", "gpu-a100-2", "gpu-a100-3", "cpu-std-1", "gpu-h100-9")
        ]
        refused = [a for a in answers if a.status_code == 503]
        assert refused and all(a.headers["retry-after"] == "30" for a in refused)
        accepted = sum(len(a.json()["runs"]) for a in answers if a.status_code == 200)
        assert len(server.answers.wait(accepted, timeout=30)) == accepted
    finally:
        server.stop()
