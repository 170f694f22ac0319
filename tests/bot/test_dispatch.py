"""Storm control with the real engine on a snapshot: coalescing, a bounded queue, graceful stop.

Every accepted request is answered exactly once; a full queue refuses at once; nothing is lost.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml

from kfops.bot.dispatch import QueueFull
from kfops.bot.requests import DiagnosisRequest
from kfops.bot.runs import Run
from kfops.bot.service import Service, make_reader
from kfops.settings import Settings
from tests.support.scenarios import ROOT

UNREACHABLE = ROOT / "examples" / "snapshots" / "gpu-node-down" / "node-unreachable-training-stuck"


class Answers:
    """The notifier seam: records what every requester was told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[tuple[str, str, str]] = []  # (requested_by, run id, status)

    def notify(self, run: Run, request: DiagnosisRequest) -> None:
        with self.lock:
            self.got.append((request.requested_by, run.run_id, run.status))

    def wait(self, count: int, timeout: float = 30.0) -> list[tuple[str, str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.got)} answers, expected {count}")


def _service(tmp_path: Path, snapshot: Path = UNREACHABLE, **overrides: object) -> tuple[Service, Answers]:
    settings = Settings(snapshot_dir=str(snapshot), state_dir=str(tmp_path / "state"), **overrides)  # type: ignore[arg-type]
    reader, error = make_reader(settings)
    service = Service(settings, reader, error)
    answers = Answers()
    service.notifiers.append(answers)
    return service, answers


def _slow_snapshot(tmp_path: Path, delay: float) -> Path:
    copy = tmp_path / "slow"
    shutil.copytree(UNREACHABLE, copy)
    meta = yaml.safe_load((copy / "kfops-snapshot.yaml").read_text())
    meta["faults"] = [{"verb": "get", "resource": "nodes", "error": "none", "delaySeconds": delay}]
    (copy / "kfops-snapshot.yaml").write_text(yaml.safe_dump(meta))
    return copy


def _request(target: str | None, who: str) -> DiagnosisRequest:
    return DiagnosisRequest(ladder="gpu-node-down", target=target, source="alertmanager", requested_by=who)


def test_identical_requests_share_one_diagnosis(tmp_path: Path) -> None:
    service, answers = _service(tmp_path)
    submitted = [service.submit(_request("gpu-a100-3", f"alert-{n}")) for n in range(20)]
    got = answers.wait(20)
    assert len({s.run_id for s in submitted}) == 1
    assert sum(not s.coalesced for s in submitted) == 1
    assert sorted(who for who, _, _ in got) == sorted(f"alert-{n}" for n in range(20))
    assert {status for _, _, status in got} == {"done"}
    assert service.dispatcher.diagnosed == 1
    run = service.runs.get(submitted[0].run_id)
    assert run is not None and run.diagnoses[0].conclusion.cause == "node-unreachable"
    service.stop()


def test_a_full_queue_refuses_at_once_and_loses_nothing_it_accepted(tmp_path: Path) -> None:
    service, answers = _service(tmp_path, _slow_snapshot(tmp_path, 0.5), workers=1, queue_size=2)
    accepted, refused = [], 0
    for n in range(8):  # distinct targets: nothing to coalesce
        try:
            accepted.append(service.submit(_request(f"gpu-a100-{n}", f"alert-{n}")))
        except QueueFull:
            refused += 1
    assert refused >= 4 and len(accepted) >= 2
    got = answers.wait(len(accepted))
    assert sorted(run for _, run, _ in got) == sorted(s.run_id for s in accepted)
    service.stop()


def test_stop_finishes_in_flight_work_and_hands_back_the_rest(tmp_path: Path) -> None:
    service, answers = _service(tmp_path, _slow_snapshot(tmp_path, 0.5), workers=1, queue_size=10)
    for n, target in enumerate(("gpu-a100-1", "gpu-a100-2", "gpu-a100-3", None)):
        service.submit(_request(target, f"alert-{n}"))
    time.sleep(0.1)  # let the one worker pick up the first run
    handed_back = service.stop()
    got = answers.wait(4)
    assert len(handed_back) >= 2
    assert all("shut down before this diagnosis started" in r.error for r in handed_back)
    failed = [run for _, run, status in got if status == "failed"]
    assert sorted(failed) == sorted(r.run_id for r in handed_back)
    done = [run for _, run, status in got if status == "done"]
    assert len(done) == 4 - len(handed_back)  # the in-flight run was finished, not dropped
    with pytest.raises(QueueFull, match="shutting down"):
        service.submit(_request("gpu-a100-9", "late"))


def test_runs_are_recorded_for_kfops_status(tmp_path: Path) -> None:
    service, answers = _service(tmp_path)
    run_id = service.submit(_request(None, "alert")).run_id
    answers.wait(1)
    service.stop()
    record = service.runs.lookup(run_id)
    assert record is not None and record["status"] == "done" and record["causes"] == ["node-unreachable"]


def test_a_long_run_reports_progress_to_notifiers_that_show_it(tmp_path: Path) -> None:
    service, answers = _service(tmp_path, _slow_snapshot(tmp_path, 2.5))

    class Progress:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str]] = []

        def notify(self, run: Run, request: DiagnosisRequest) -> None:
            return

        def progress(self, run: Run, detail: str) -> None:
            self.seen.append((run.run_id, detail))

    shown = Progress()
    service.notifiers.append(shown)
    run_id = service.submit(_request("gpu-a100-3", "alert")).run_id
    answers.wait(1)
    service.stop()
    assert shown.seen, "a run slower than the 2 s throttle showed no progress"
    assert all(run == run_id and "probes answered" in detail for run, detail in shown.seen)
