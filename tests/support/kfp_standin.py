"""A loopback stand-in for the Kubeflow Pipelines API server (REST v2beta1, runs only).

The real API server needs MySQL, MinIO, Argo and a cluster, so tests point kfops' KFP URL at
this server instead. It answers in the API's own JSON (field names checked against the
``kfp-server-api`` models: V2beta1Run, V2beta1RuntimeState, V2beta1RunDetails,
V2beta1PipelineTaskDetail, V2beta1RuntimeStatus, and the grpc-gateway error body
``{error, code, message, details}``), keeps its runs in ``runs`` (run id → V2beta1Run mapping),
and records every request for assertions.

Usage::

    with KfpStandIn({run["run_id"]: run}, token="t0k3n") as kfp:
        reader = LiveKfpReader(KfpHttp(kfp.url, KfpAuth(token="t0k3n")))
        kfp.mode = "hang"   # or "ok", "5xx", "401"

Endpoints: ``GET /apis/v2beta1/healthz``, ``GET /apis/v2beta1/runs/{id}``,
``POST /apis/v2beta1/runs/{id}:terminate`` (PENDING/RUNNING/PAUSED/unspecified → CANCELING, else
400 FAILED_PRECONDITION, as KFP refuses), ``POST /apis/v2beta1/runs/{id}:retry`` (FAILED/ERROR →
RUNNING, else 400 FAILED_PRECONDITION). An unknown run is 404 NOT_FOUND with KFP's message.

Modes: ``ok``; ``hang`` (read the request, never answer until the server stops — stopping never
waits for it); ``5xx`` (503 UNAVAILABLE with KFP's error JSON); ``401`` (UNAUTHENTICATED).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import yaml

Mode = Literal["ok", "hang", "5xx", "401"]
API = "/apis/v2beta1"

# google.rpc.Code values, and the HTTP status grpc-gateway maps each to
NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE, UNAUTHENTICATED = 5, 9, 14, 16
_HTTP = {NOT_FOUND: 404, FAILED_PRECONDITION: 400, UNAVAILABLE: 503, UNAUTHENTICATED: 401}

#: states from which KFP's TerminateRun moves a run to CANCELING
TERMINABLE = frozenset({"PENDING", "RUNNING", "PAUSED", "RUNTIME_STATE_UNSPECIFIED"})
#: states from which KFP's RetryRun restarts a run ("ERROR" is the v1 spelling of FAILED)
RETRYABLE = frozenset({"FAILED", "ERROR"})
#: what the API answers for a run that has not finished (time.Unix(0) in the API server)
UNFINISHED = "1970-01-01T00:00:00Z"


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kfp_run(
    run_id: str,
    state: str = "RUNNING",
    *,
    display_name: str = "",
    experiment_id: str = "6a1d4f0e-2b7c-4c55-8e0a-1f2e3d4c5b6a",
    created_at: str = "2025-01-01T00:00:00Z",
    finished_at: str = UNFINISHED,
    tasks: tuple[dict[str, Any], ...] = (),
    error: str = "",
) -> dict[str, Any]:
    """A V2beta1Run as ``GET /apis/v2beta1/runs/{id}`` answers it (grpc-gateway JSON names)."""
    run: dict[str, Any] = {
        "experiment_id": experiment_id,
        "run_id": run_id,
        "display_name": display_name or f"run-{run_id[:8]}",
        "storage_state": "AVAILABLE",
        "pipeline_version_reference": {
            "pipeline_id": "0d6c6f2b-9f0e-4c1e-8a3b-5c4d3e2f1a0b",
            "pipeline_version_id": "7e8f9a0b-1c2d-4e3f-8a5b-6c7d8e9f0a1b",
        },
        "runtime_config": {"parameters": {}},
        "service_account": "pipeline-runner",
        "created_at": created_at,
        "scheduled_at": created_at,
        "finished_at": finished_at,
        "state": state,
        "state_history": [
            {"update_time": created_at, "state": "PENDING"},
            *([{"update_time": created_at, "state": state}] if state != "PENDING" else []),
        ],
        "run_details": {
            "pipeline_context_id": "1",
            "pipeline_run_context_id": "2",
            "task_details": list(tasks),
        },
    }
    if error:
        run["error"] = {"code": 2, "message": error, "details": []}
    return run


def kfp_task(
    task_id: str,
    display_name: str,
    state: str = "RUNNING",
    *,
    start_time: str = "2025-01-01T00:00:05Z",
    end_time: str = UNFINISHED,
    pod_name: str = "",
) -> dict[str, Any]:
    """A V2beta1PipelineTaskDetail (an entry of ``run_details.task_details``)."""
    return {
        "run_id": "",
        "task_id": task_id,
        "display_name": display_name,
        "create_time": start_time,
        "start_time": start_time,
        "end_time": end_time,
        "executor_detail": {"main_job": pod_name, "pre_caching_check_job": ""},
        "state": state,
        "execution_id": task_id,
        "state_history": [{"update_time": start_time, "state": state}],
        "pod_name": pod_name,
        "child_tasks": [],
    }


def error_body(code: int, message: str) -> dict[str, Any]:
    """The API server's error answer (grpc-gateway runtime.Error with KFP's api.Error detail)."""
    return {
        "error": message,
        "code": code,
        "message": message,
        "details": [
            {
                "@type": "type.googleapis.com/api.Error",
                "error_message": message,
                "error_details": message,
            }
        ],
    }


def not_found_message(run_id: str) -> str:
    return f"Failed to get a run: Failed to fetch run {run_id}: ResourceNotFoundError: Run {run_id} not found"


@dataclass(frozen=True)
class KfpRequest:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float


class KfpStandIn:
    """A threading HTTP server on 127.0.0.1 (a free port) answering like the KFP API server."""

    def __init__(
        self,
        runs: Mapping[str, dict[str, Any]] | None = None,
        *,
        token: str | None = None,
        mode: Mode = "ok",
        multi_user: bool = False,
    ) -> None:
        self.runs: dict[str, dict[str, Any]] = {k: copy.deepcopy(v) for k, v in (runs or {}).items()}
        self.token = token  # when set, a request without "Authorization: Bearer <token>" gets 401
        self.mode: Mode = mode
        self.multi_user = multi_user
        self.requests: list[KfpRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- loading runs ---------------------------------------------------------------------

    @classmethod
    def from_snapshot(cls, snapshot: Path, **options: Any) -> KfpStandIn:
        """A stand-in holding the runs a snapshot recorded in ``kfp/runs/<run_id>.json``."""
        standin = cls(**options)
        standin.load_runs(snapshot / "kfp" / "runs")
        return standin

    def load_runs(self, folder: Path) -> None:
        """Add every ``<run_id>.json`` of a folder (a recorded fault is not a run: skipped)."""
        for path in sorted(folder.glob("*.json")):
            run = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(run, dict) and "fault" not in run:
                self.add(run, run_id=path.stem)

    def add(self, run: dict[str, Any], run_id: str | None = None) -> None:
        with self._lock:
            self.runs[run_id or str(run["run_id"])] = copy.deepcopy(run)

    def state(self, run_id: str) -> str:
        with self._lock:
            return str(self.runs[run_id].get("state"))

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the KFP stand-in is not started: use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> KfpStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="kfp-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released (closed unanswered), never waited for."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KfpStandIn:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- assertions -----------------------------------------------------------------------

    def calls(self, method: str | None = None, path: str | None = None) -> list[KfpRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    # --- answering ------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request in mode "ok"/"5xx"/"401"."""
        if self.mode == "5xx":
            return _error(
                UNAVAILABLE, "Failed to connect to the database: dial tcp 10.0.0.7:3306: i/o timeout"
            )
        authorization = headers.get("authorization", "")
        if self.mode == "401" or (self.token is not None and authorization != f"Bearer {self.token}"):
            return _error(
                UNAUTHENTICATED,
                "Failed to authorize with API: "
                "Unauthenticated: Request header error: there is no user identity header.",
            )
        if method == "GET" and path == f"{API}/healthz":
            return 200, {"multi_user": self.multi_user, "pipeline_store": "database"}
        prefix = f"{API}/runs/"
        if not path.startswith(prefix):
            return _error(NOT_FOUND, "Not Found")
        run_id, _, action = path[len(prefix) :].partition(":")
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                return _error(NOT_FOUND, not_found_message(run_id))
            if method == "GET" and not action:
                return 200, copy.deepcopy(run)
            if method == "POST" and action == "terminate":
                return self._move(run, TERMINABLE, "CANCELING", "terminate")
            if method == "POST" and action == "retry":
                return self._move(run, RETRYABLE, "RUNNING", "retry")
        return _error(NOT_FOUND, "Not Found")

    @staticmethod
    def _move(run: dict[str, Any], allowed: frozenset[str], to: str, verb: str) -> tuple[int, dict[str, Any]]:
        """Terminate/retry: the state change KFP makes, or its refusal. A hook: subclasses in tests
        override it (e.g. an API that accepts an action and does nothing)."""
        state = str(run.get("state") or "RUNTIME_STATE_UNSPECIFIED")
        if state not in allowed:
            return _error(
                FAILED_PRECONDITION,
                f"Failed to {verb} a run {run.get('run_id')}: FailedPreconditionError: "
                f"Run cannot be {verb + 'd' if verb == 'terminate' else 'retried'} in state {state}",
            )
        run["state"] = to
        run.setdefault("state_history", []).append({"update_time": rfc3339(datetime.now(UTC)), "state": to})
        if to == "RUNNING":
            run["finished_at"] = UNFINISHED
            run.pop("error", None)
        return 200, {}

    def _record(self, request: KfpRequest) -> None:
        """Called for every request before it is answered (and before a hang). A hook: subclasses
        in tests override it to switch the mode per request (e.g. fail only the POSTs)."""
        with self._lock:
            self.requests.append(request)


def _error(code: int, message: str) -> tuple[int, dict[str, Any]]:
    return _HTTP[code], error_body(code, message)


def _handler(standin: KfpStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.partition("?")[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            standin._record(KfpRequest(self.command, path, headers, body, time.time()))
            if standin.mode == "hang":
                standin._stopping.wait()  # released by stop(); then closed unanswered
                self.close_connection = True
                return
            status, answer = standin.answer(self.command, path, headers)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


def write_kfp_snapshot(
    root: Path,
    runs: Mapping[str, dict[str, Any]] | None = None,
    *,
    url: str = "http://ml-pipeline.kubeflow.svc:8888",
    fault: Mapping[str, str] | None = None,
) -> Path:
    """Write a snapshot's ``kfp/`` folder (docs/snapshots.md): api.yaml and one JSON per run."""
    folder = root / "kfp"
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    api: dict[str, Any] = {"url": url}
    if fault is not None:
        api["fault"] = dict(fault)
    (folder / "api.yaml").write_text(yaml.safe_dump(api, sort_keys=False), encoding="utf-8")
    for run_id, run in (runs or {}).items():
        (folder / "runs" / f"{run_id}.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return folder
