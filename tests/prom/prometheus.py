"""A real Prometheus server on loopback for tests.

Why: kfops' Prometheus reads (dcgm-exporter XID errors, temperatures, kube-state-metrics node
conditions, ``up``) must be proven against the real PromQL engine and HTTP API, including
its errors (401 with basic auth, empty vectors, staleness after a failed scrape), not against
canned JSON. :meth:`PrometheusServer.start` runs the distribution's ``prometheus`` binary
(Debian's 2.42, installed by ``scripts/testenv/install-prometheus.sh``; override with
``KFOPS_TEST_PROMETHEUS``) with a 1 s scrape interval, one job per target group and
``honor_labels: true``, optionally behind basic auth (``--web.config.file`` with a bcrypt
hash). With no targets it scrapes nothing and only serves its TSDB (``data_dir``), which
tests/prom/backfill.py fills with promtool-made blocks before the start. Every start-up
failure raises :class:`RuntimeError` naming the step, with the tail of the server log; callers
fail the test run, they never skip.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import bcrypt
import httpx

LOOPBACK: Final = "127.0.0.1"
READY_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0
LOG_TAIL_LINES: Final = 40
START_ATTEMPTS: Final = 3  # a free port can be taken between probing it and binding it

#: The API's ``data.result`` for an instant query: ``[{"metric": {...}, "value": [ts, "v"]}]``.
Vector = list[dict[str, Any]]


def find_binary() -> Path:
    """``$KFOPS_TEST_PROMETHEUS`` if set (strictly), else ``prometheus`` on PATH, else ``/usr/bin``."""
    override = os.environ.get("KFOPS_TEST_PROMETHEUS")
    candidates = [override] if override else [shutil.which("prometheus"), "/usr/bin/prometheus"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    where = (
        f"KFOPS_TEST_PROMETHEUS={override} is not executable" if override else "none on PATH or in /usr/bin"
    )
    raise RuntimeError(
        f"prometheus binary not found ({where}); install it with scripts/testenv/install-prometheus.sh"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _parent_death_signal() -> Callable[[], None] | None:
    """Kill Prometheus when pytest dies, so no orphan keeps a port (Linux prctl)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return hook


def scrape_config(targets: Mapping[str, Sequence[str]], scrape_interval: str) -> dict[str, Any]:
    """The prometheus.yml content (JSON is valid YAML): one honor_labels job per entry."""
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "scrape_configs": [
            {"job_name": job, "honor_labels": True, "static_configs": [{"targets": list(hosts)}]}
            for job, hosts in targets.items()
        ],
    }


class PrometheusServer:
    """One running ``prometheus`` process; build it with :meth:`start`."""

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        targets: Mapping[str, Sequence[str]],
        scrape_interval: str,
        basic_auth: tuple[str, str] | None,
        data_dir: Path | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.targets = {job: list(hosts) for job, hosts in targets.items()}
        self.scrape_interval = scrape_interval
        self.basic_auth = basic_auth
        self.config_path = workdir / "prometheus.yml"
        self.web_config_path = workdir / "web-config.yml"
        self.log_path = workdir / "prometheus.log"
        self.data_dir = data_dir or workdir / "data"  #: ``--storage.tsdb.path``
        self.port = 0
        self.startup_s = 0.0  #: process start → ``/-/ready`` answered 200
        self.ready_at = 0.0  #: ``time.monotonic()`` when ``/-/ready`` first answered 200
        self.first_scrape_s = 0.0  #: set by the fixtures: ready → every job's first ``up`` sample
        self._popen: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(auth=basic_auth, timeout=10.0)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        workdir: Path,
        targets: Mapping[str, Sequence[str]],
        scrape_interval: str = "1s",
        basic_auth: tuple[str, str] | None = None,
        data_dir: Path | None = None,
    ) -> PrometheusServer:
        """Write the configs, start Prometheus on a free loopback port and wait for ``/-/ready``.

        ``data_dir``: the TSDB directory (default ``workdir/data``), e.g. one holding backfilled blocks.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        server = cls(find_binary(), workdir, targets, scrape_interval, basic_auth, data_dir)
        server._write_configs()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                server._launch()
                return server
            except RuntimeError:
                collided = "address already in use" in server.logs(LOG_TAIL_LINES)
                server.stop()
                if not collided or attempt == START_ATTEMPTS:
                    server._http.close()
                    raise
        raise AssertionError("unreachable")

    def _write_configs(self) -> None:
        config = scrape_config(self.targets, self.scrape_interval)
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")
        if self.basic_auth is not None:
            user, password = self.basic_auth
            # cost 4 (the minimum): Prometheus checks the hash on every request
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
            self.web_config_path.write_text(json.dumps({"basic_auth_users": {user: hashed}}) + "\n")

    def _launch(self) -> None:
        self.port = _free_port()
        argv = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=info",
        ]
        if self.basic_auth is not None:
            argv.append(f"--web.config.file={self.web_config_path}")
        with self.log_path.open("ab") as log:
            log.write(f"\n--- {' '.join(argv)}\n".encode())
            log.flush()
            began = time.monotonic()
            try:
                self._popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    preexec_fn=_parent_death_signal(),
                )
            except OSError as error:
                raise RuntimeError(f"starting {self.binary} failed: {error}") from error
        self._wait_ready(began)

    def _wait_ready(self, began: float) -> None:
        deadline = began + READY_TIMEOUT_S
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self._popen is not None
            code = self._popen.poll()
            if code is not None:
                raise RuntimeError(
                    f"waiting for {self.url}/-/ready: prometheus exited with code {code}\n{self.logs()}"
                )
            try:
                answer = self._http.get(f"{self.url}/-/ready", timeout=2.0)
                if answer.status_code == 200:
                    self.ready_at = time.monotonic()
                    self.startup_s = self.ready_at - began
                    return
                last = f"HTTP {answer.status_code}: {answer.text.strip()[:200]}"
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            time.sleep(0.05)
        raise RuntimeError(
            f"waiting for {self.url}/-/ready: not ready after {READY_TIMEOUT_S:.0f} s (last: {last})\n"
            f"{self.logs()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s. Safe to call twice."""
        popen, self._popen = self._popen, None
        if popen is not None and popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=STOP_TIMEOUT_S)

    def close(self) -> None:
        self.stop()
        self._http.close()

    def reload(self, targets: Mapping[str, Sequence[str]]) -> None:
        """Replace the scrape jobs at run time (``POST /-/reload``, enabled by --web.enable-lifecycle)."""
        self.targets = {job: list(hosts) for job, hosts in targets.items()}
        self._write_configs()
        answer = self._http.post(f"{self.url}/-/reload")
        if answer.status_code != 200:
            raise RuntimeError(
                f"POST {self.url}/-/reload: HTTP {answer.status_code} {answer.text}\n{self.logs()}"
            )

    # ------------------------------------------------------------------ access

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def logs(self, tail: int | None = LOG_TAIL_LINES) -> str:
        """The server's log (its last ``tail`` lines; all of it with ``tail=None``)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(lines if tail is None else lines[-tail:])

    def query(self, promql: str, at: float | None = None) -> Vector:
        """``GET /api/v1/query`` (with this server's credentials); the ``data.result`` list.

        ``at``: the evaluation time (unix seconds); the server's now when None.
        """
        params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
        answer = self._http.get(f"{self.url}/api/v1/query", params=params)
        answer.raise_for_status()
        body = answer.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {body}")
        result: Vector = body["data"]["result"]
        return result

    def wait_for(
        self, promql: str, predicate: Callable[[Vector], bool] = bool, timeout: float = 15.0
    ) -> Vector:
        """Poll ``promql`` until ``predicate(result)`` holds; return that result.

        Tests wait for the samples they need instead of sleeping for "a few scrapes". The
        default predicate is "non-empty". On timeout: :class:`TimeoutError` with the last
        result and the log tail.
        """
        deadline = time.monotonic() + timeout
        result: Vector = []
        while True:
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{promql!r} did not satisfy the predicate within {timeout} s; last result: {result}\n"
                    f"{self.logs(10)}"
                )
            time.sleep(0.1)

    def __repr__(self) -> str:
        return f"PrometheusServer({self.url}, jobs={sorted(self.targets)})"


def values(result: Vector) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant vector as {sorted label items: value}, for compact assertions."""
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in result}
