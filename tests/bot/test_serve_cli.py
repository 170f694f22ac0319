"""`kfops serve` as a process: starts with Slack unreachable, answers, refuses forged requests,
and shuts down gracefully on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.scenarios import ROOT

HEALTHY = ROOT / "examples" / "snapshots" / "gpu-node-down" / "healthy-fleet"


def test_serve_starts_answers_and_stops_gracefully(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "KFOPS_ALERTMANAGER_TOKEN": "am-token",
        "KFOPS_SNAPSHOT_DIR": str(HEALTHY),
        "KFOPS_SLACK_API_URL": "http://127.0.0.1:9/api/",  # Slack unreachable: must not stop start-up
        "KFOPS_STATE_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kfops", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                ready = httpx.get(f"{url}/readyz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "kfops serve did not start"
                time.sleep(0.1)
        assert ready.status_code == 200 and ready.json()["ready"]
        forged = httpx.post(
            f"{url}/slack/events",
            content=b"command=%2Fkfops&text=help",
            headers={"x-slack-signature": "v0=forged", "x-slack-request-timestamp": str(int(time.time()))},
        )
        assert forged.status_code == 401
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert '"message": "kfops serve stopped"' in output
    assert "xoxb-test-token" not in output and "signing-secret" not in output and "am-token" not in output
    assert "Traceback" not in output
