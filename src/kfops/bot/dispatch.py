"""Storm control: a bounded queue and a worker pool that coalesce identical requests.

Requests for the same (ladder, target) while a run is queued, running, or finished less than
`coalesce_window_s` ago join that run: one diagnosis answers all of them. Nothing accepted is
dropped: every request is notified exactly once; a full queue refuses at once (the surface
answers 503/429 so the sender retries); on shutdown, runs not started are handed back (their
requesters are told to retry).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kfops.bot.requests import DiagnosisRequest
from kfops.bot.runs import Run, RunStore
from kfops.model import Diagnosis
from kfops.runbooks.engine import new_run_id

Diagnose = Callable[[Run], list[Diagnosis]]  # the run's first request says what to diagnose
Notify = Callable[[Run, DiagnosisRequest], None]


class QueueFull(Exception):
    """The queue is at its bound: the sender must retry later."""


@dataclass(frozen=True)
class Submitted:
    run_id: str
    coalesced: bool


class Dispatcher:
    def __init__(
        self,
        diagnose: Diagnose,
        notify: Notify,
        runs: RunStore,
        *,
        workers: int = 2,
        max_queue: int = 100,
        coalesce_window_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._diagnose = diagnose
        self._notify = notify
        self.runs = runs
        self._queue: queue.Queue[Run | None] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._by_key: dict[str, tuple[Run, float]] = {}  # key -> (run, monotonic finish time or inf)
        self._window = coalesce_window_s
        self._clock = clock
        self._stopping = False
        self.accepted = 0
        self.coalesced = 0
        self.diagnosed = 0
        self._workers = [
            threading.Thread(target=self._work, name=f"kfops-worker-{n}", daemon=True) for n in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, request: DiagnosisRequest) -> Submitted:
        with self._lock:
            if self._stopping:
                raise QueueFull("kfops is shutting down; retry against another replica")
            run = self._join(request)
            if run is None:
                run = Run(run_id=new_run_id(datetime.now(UTC)), ladder=request.ladder, target=request.target)
                run.requests.append(request)
                try:
                    self._queue.put_nowait(run)
                except queue.Full as exc:
                    raise QueueFull(
                        f"the diagnosis queue is full ({self._queue.maxsize}); retry shortly"
                    ) from exc
                self.runs.add(run)
                self._by_key[request.key] = (run, float("inf"))
                self.accepted += 1
                return Submitted(run.run_id, False)
            self.accepted += 1
            self.coalesced += 1
            finished = run.status in ("done", "failed")
        if finished:  # the answer already exists: give it to this requester now
            self._notify(run, request)
        return Submitted(run.run_id, True)

    def _join(self, request: DiagnosisRequest) -> Run | None:
        """The run this request can share, if any (call with the lock held)."""
        known = self._by_key.get(request.key)
        if known is None:
            return None
        run, done_at = known
        if run.status in ("queued", "running") or self._clock() - done_at < self._window:
            run.requests.append(request)
            return run
        return None

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            with self._lock:
                run.status = "running"
            try:
                run.diagnoses = self._diagnose(run)
                status = "done"
            except Exception as exc:  # noqa: BLE001 — reported to every requester, never swallowed
                run.error = f"{type(exc).__name__}: {exc}"
                status = "failed"
            with self._lock:
                run.status = status
                run.finished_at = datetime.now(UTC)
                self._by_key[_key(run)] = (run, self._clock())
                waiting = list(run.requests)
                self.diagnosed += 1
            self.runs.persist(run)
            for request in waiting:
                self._notify(run, request)

    def stop(self, timeout: float = 30.0) -> list[Run]:
        """Finish in-flight runs; hand back (and return) the runs that never started."""
        with self._lock:
            self._stopping = True
        handed_back: list[Run] = []
        while True:
            try:
                run = self._queue.get_nowait()
            except queue.Empty:
                break
            if run is not None:
                run.status = "failed"
                run.error = "kfops shut down before this diagnosis started; send the request again"
                handed_back.append(run)
        for _ in self._workers:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for run in handed_back:
            for request in run.requests:
                self._notify(run, request)
        return handed_back


def _key(run: Run) -> str:
    return run.requests[0].key
