"""ChatOps benchmark: Slack ack latency under 50 concurrent slash commands, and PagerDuty
webhook-to-note time. Slack's and PagerDuty's APIs are the loopback recording server; kfops serve
is the real server (uvicorn) diagnosing a bundled snapshot.

    python bench/chatops.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.support.recording_server import Answer, RecordingServer  # noqa: E402

SNAPSHOT = ROOT / "examples" / "snapshots" / "gpu-node-down" / "node-unreachable-training-stuck"
SIGNING, PD_SECRET = "bench-signing-secret", "bench-pd-secret"


def slack_body(n: int, response_url: str) -> tuple[bytes, dict[str, str]]:
    form = {
        "command": "/kfops",
        "text": "diagnose gpu-node-down gpu-a100-3",
        "user_id": f"U{n:05d}",
        "user_name": "oncall",
        "channel_id": "C0INCIDENT",
        "channel_name": "incidents",
        "team_id": "T1",
        "team_domain": "acme",
        "api_app_id": "A1",
        "trigger_id": f"t{n}",
        "response_url": response_url,
    }
    body = urllib.parse.urlencode(form).encode()
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SIGNING.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {
        "x-slack-signature": sig,
        "x-slack-request-timestamp": ts,
        "content-type": "application/x-www-form-urlencoded",
    }


def pd_event(n: int) -> tuple[bytes, dict[str, str]]:
    incident = f"PINC{n:04d}"
    body = json.dumps(
        {
            "event": {
                "id": f"EV{n:06d}",
                "event_type": "incident.triggered",
                "resource_type": "incident",
                "occurred_at": "2026-11-20T03:02:11.000Z",
                "data": {
                    "id": incident,
                    "type": "incident",
                    "title": "KubeNodeNotReady",
                    "status": "triggered",
                    "html_url": f"https://acme.pagerduty.com/incidents/{incident}",
                    "service": {"id": "PSVC", "type": "service_reference", "summary": "ml"},
                },
            }
        }
    ).encode()
    sig = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-pagerduty-signature": sig, "content-type": "application/json"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("kfops serve did not become ready")


def main() -> None:
    recorder = RecordingServer()
    auth = {"ok": True, "team_id": "T1", "user_id": "UBOT", "bot_id": "B1", "team": "acme", "user": "kfops"}
    recorder.answer("/api/auth.test", Answer(body=auth))
    posted = {"ok": True, "channel": "C0INCIDENT", "ts": "1795000000.000100"}
    recorder.answer("/api/chat.postMessage", Answer(body=posted, times=100_000))
    labels = {"alertname": "KubeNodeNotReady", "node": "gpu-a100-3", "severity": "critical"}
    details = {"firing": json.dumps([{"status": "firing", "labels": labels}]), "resolved": "[]"}
    alerts = {
        "alerts": [
            {
                "id": "A1",
                "type": "alert",
                "summary": "KubeNodeNotReady",
                "status": "triggered",
                "body": {"type": "alert_body", "cef_details": {"details": details}},
            }
        ],
        "more": False,
    }
    with tempfile.TemporaryDirectory() as tmp:
        # The server runs as its own process (as in production), so the 50 client threads here do
        # not compete with it for one interpreter.
        port = _free_port()
        env = {
            **os.environ,
            "KFOPS_SNAPSHOT_DIR": str(SNAPSHOT),
            "KFOPS_STATE_DIR": tmp,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SIGNING,
            "KFOPS_SLACK_API_URL": f"{recorder.url}/api/",
            "KFOPS_SLACK_CHANNEL": "C0INCIDENT",
            "KFOPS_PAGERDUTY_WEBHOOK_SECRET": PD_SECRET,
            "KFOPS_PAGERDUTY_API_TOKEN": "pd-token",
            "KFOPS_PAGERDUTY_FROM_EMAIL": "kfops@example.com",
            "KFOPS_PAGERDUTY_API_URL": recorder.url,
            "KFOPS_QUEUE_SIZE": "500",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "kfops", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)

        def command(n: int) -> float:
            body, headers = slack_body(n, f"{recorder.url}/hook")
            started = time.perf_counter()
            response = httpx.post(f"{url}/slack/events", content=body, headers=headers, timeout=30)
            assert response.status_code == 200, (n, response.status_code, response.text)
            return time.perf_counter() - started

        latencies: list[float] = []
        with ThreadPoolExecutor(50) as pool:
            for round_ in range(5):
                latencies += list(pool.map(command, range(round_ * 50, round_ * 50 + 50)))
        latencies.sort()
        p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]

        note_times: list[float] = []
        for n in range(10):
            incident = f"PINC{n:04d}"
            recorder.answer(f"/incidents/{incident}/alerts", Answer(body=alerts))
            body, headers = pd_event(n)
            started = time.perf_counter()
            response = httpx.post(f"{url}/webhooks/pagerduty", content=body, headers=headers, timeout=30)
            assert response.status_code == 202, response.text
            recorder.wait_for(f"/incidents/{incident}/notes", 1, timeout=30)
            note_times.append(time.perf_counter() - started)
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        recorder.stop()
    print(
        f"| Slack slash command ack, 250 commands, 50 concurrent | p50 {p50 * 1000:.0f} ms | "
        f"p99 {p99 * 1000:.0f} ms | max {latencies[-1] * 1000:.0f} ms |"
    )
    print(
        f"| PagerDuty incident.triggered → note posted, 10 incidents | "
        f"median {statistics.median(note_times):.2f} s | "
        f"max {max(note_times):.2f} s | |"
    )


if __name__ == "__main__":
    main()
