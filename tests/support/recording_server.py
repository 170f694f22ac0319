"""A loopback HTTP server that stands in for Slack's Web API and PagerDuty's REST API.

Those SaaS APIs cannot run here, so tests point kfops' base URLs at this server, which records
every request (method, path, headers, body) and answers what the test scripted per path:
normally 200 with a JSON body, or a 429 with Retry-After, a 5xx, or a slow answer.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    times: int | None = None  # answer like this this many times, then fall back to the default


class RecordingServer:
    def __init__(self, default: Any = None) -> None:
        self.requests: list[Recorded] = []
        self._answers: dict[str, list[Answer]] = {}
        self._default = default if default is not None else {"ok": True}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                recorded = Recorded(
                    self.command,
                    path,
                    parse_qs(query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.time(),
                )
                answer = server._answer_for(path)
                if answer.delay_s:
                    server._stop.wait(answer.delay_s)
                with server._lock:
                    server.requests.append(recorded)
                payload = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="recording-server", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str, *answers: Answer) -> None:
        """Script the answers for a path (e.g. "/api/chat.postMessage"), in order."""
        with self._lock:
            self._answers[path] = list(answers)

    def _answer_for(self, path: str) -> Answer:
        with self._lock:
            scripted = self._answers.get(path)
            if scripted:
                answer = scripted[0]
                if answer.times is not None:
                    remaining = answer.times - 1
                    if remaining <= 0:
                        scripted.pop(0)
                    else:
                        scripted[0] = Answer(
                            answer.status, answer.body, answer.headers, answer.delay_s, remaining
                        )
                return answer
        return Answer(body=self._default)

    def calls(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        """Wait until `count` requests reached `path` (no blind sleeps in tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls(path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{path}: {len(self.calls(path))} requests after {timeout} s, expected {count}")

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
