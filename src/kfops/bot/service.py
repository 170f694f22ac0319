"""The bot's parts, wired from settings: reader, engine, run store, dispatcher, surfaces, metrics.

Built by `build_service(settings)` when `kfops serve` starts (never at import time). It starts and
answers even when the cluster or a SaaS is unreachable: `readiness()` says what is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfops.bot.dispatch import Dispatcher, QueueFull, Submitted
from kfops.bot.metrics import Metrics
from kfops.bot.requests import DiagnosisRequest
from kfops.bot.runs import Run, RunStore
from kfops.clients.errors import ConfigurationError, ReaderError, SnapshotError
from kfops.clients.protocols import KubeReader, PromReader
from kfops.clients.resources import NODES
from kfops.clients.sources import open_galera, open_kfp, open_prometheus
from kfops.model import Diagnosis
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings

log = logging.getLogger("kfops.serve")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


class Service:
    def __init__(
        self,
        settings: Settings,
        reader: KubeReader | None = None,
        reader_error: str = "",
        prom: PromReader | None = None,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.prom = prom
        self.reader_error = reader_error
        self.runs = RunStore(Path(settings.state_dir) / "runs.jsonl")
        self.dispatcher = Dispatcher(
            self._diagnose,
            self._notify,
            self.runs,
            workers=settings.workers,
            max_queue=settings.queue_size,
            coalesce_window_s=settings.coalesce_window_s,
        )
        self.metrics = Metrics(lambda: self.dispatcher.depth)
        self.triage = ThreadPoolExecutor(4, thread_name_prefix="kfops-triage")
        self.notifiers: list[Any] = []  # objects with notify(run, request); see the surfaces
        self.on_stop: list[Callable[[], None]] = []  # surfaces' own cleanup

    # -------------------------------------------------------------- requests
    def submit(self, request: DiagnosisRequest) -> Submitted:
        try:
            submitted = self.dispatcher.submit(request)
        except QueueFull:
            self.metrics.rejected.labels(request.source).inc()
            raise
        if submitted.coalesced:
            self.metrics.coalesced.inc()
        return submitted

    def lookup(self, run_id: str) -> dict[str, Any] | None:
        return self.runs.lookup(run_id)

    def _diagnose(self, run: Run) -> list[Diagnosis]:
        if self.reader is None:
            raise ConfigurationError(f"kfops cannot read the cluster: {self.reader_error}")
        request = run.requests[0]
        ladder = find(request.ladder)
        started = time.monotonic()
        # a fresh Galera reader per diagnosis: a long-lived one would keep stale sessions and
        # remember a node's failure for ever
        galera = open_galera(self.settings, self.reader) if ladder.target_input == "galera-node" else None
        kfp = open_kfp(self.settings, self.reader) if ladder.target_input == "workflow" else None
        try:
            engine = Engine(
                self.reader,
                self.settings,
                self.prom,
                progress=self._progress_for(run),
                galera=galera,
                kfp=kfp,
            )
            diagnoses = engine.diagnose(ladder, request.target)
        finally:
            close = getattr(galera, "close", None)
            if close is not None:
                close()
        self.metrics.duration.labels(ladder.id).observe(time.monotonic() - started)
        for diagnosis in diagnoses:
            self.metrics.diagnoses.labels(ladder.id, diagnosis.conclusion.verdict.value).inc()
        return diagnoses

    def _progress_for(self, run: Run) -> Callable[[str], None]:
        """Show a long run's progress where it was asked for, at most every 2 s (Slack allows about
        one update per second per channel)."""
        last = [0.0]

        def progress(detail: str) -> None:
            now = time.monotonic()
            if now - last[0] < 2.0:
                return
            last[0] = now
            for notifier in self.notifiers:
                show = getattr(notifier, "progress", None)
                if show is None:
                    continue
                try:
                    show(run, detail)
                except Exception as exc:  # noqa: BLE001 — progress is best effort, never fatal
                    log.debug("progress not shown", extra={"run": run.run_id, "error": str(exc)})

        return progress

    def _notify(self, run: Run, request: DiagnosisRequest) -> None:
        """Post a run's result on every surface the request wants; a failing surface is logged."""
        for notifier in self.notifiers:
            try:
                notifier.notify(run, request)
            except Exception as exc:  # noqa: BLE001 — one surface failing must not lose the others
                self.metrics.notify_errors.labels(type(notifier).__name__).inc()
                log.warning(
                    "could not post run result",
                    extra={
                        "run": run.run_id,
                        "surface": type(notifier).__name__,
                        "error": f"{type(exc).__name__}: {exc}",
                    },
                )

    # -------------------------------------------------------------- health
    def readiness(self) -> list[Check]:
        checks = [self._kube_check()]
        s = self.settings
        surfaces = {
            "slack": bool(s.slack_signing_secret and s.slack_bot_token)
            or bool(s.slack_app_token and s.slack_bot_token),
            "pagerduty": bool(s.pagerduty_webhook_secret),
            "alertmanager": bool(s.alertmanager_token),
        }
        configured = [name for name, ok in surfaces.items() if ok]
        checks.append(
            Check(
                "surfaces",
                bool(configured),
                f"configured: {', '.join(configured)}"
                if configured
                else "no surface configured: set SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET, "
                "KFOPS_PAGERDUTY_WEBHOOK_SECRET or KFOPS_ALERTMANAGER_TOKEN",
            )
        )
        if s.pagerduty_webhook_secret and not (s.pagerduty_api_token and s.pagerduty_from_email):
            checks.append(
                Check(
                    "pagerduty-api",
                    False,
                    "KFOPS_PAGERDUTY_API_TOKEN and KFOPS_PAGERDUTY_FROM_EMAIL are needed to post notes",
                )
            )
        return checks

    def _kube_check(self) -> Check:
        if self.reader is None:
            return Check("kubernetes", False, self.reader_error)
        try:
            self.reader.list(NODES, label_selector="kfops.dev/readiness-probe=none")
        except ReaderError as exc:
            return Check("kubernetes", False, exc.headline)
        return Check("kubernetes", True, self.reader.describe())

    def stop(self) -> list[Run]:
        handed_back = self.dispatcher.stop(timeout=self.settings.deadline_s + 5)
        self.triage.shutdown(wait=False, cancel_futures=True)
        for cleanup in self.on_stop:
            cleanup()
        return handed_back


def make_reader(settings: Settings) -> tuple[KubeReader | None, str]:
    """The bot's reader, or why there is none (the server still starts and says so)."""
    try:
        if settings.snapshot_dir:
            from kfops.clients.snapshot.kube import SnapshotKubeReader

            return SnapshotKubeReader.open(Path(settings.snapshot_dir)), ""
        from kfops.clients.live.kube import LiveKubeReader

        return LiveKubeReader.connect(settings.kubeconfig or None, settings.context or None), ""
    except (ConfigurationError, SnapshotError) as exc:
        return None, str(exc)


def build_service(settings: Settings) -> Service:
    reader, error = make_reader(settings)
    return Service(settings, reader, error, open_prometheus(settings, reader))
