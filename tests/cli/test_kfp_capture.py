"""`kfops capture` records the KFP API's answers into `kfp/`, and the snapshot replays them.

A small ladder reads runs through the engine exactly as the stuck-pipeline ladder does (via
ProbeContext.kfp), against the loopback KFP stand-in; the Kubernetes side is a snapshot reader,
because capture only needs a KubeReader and no cluster runs here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfops.cli.capture import capture
from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.live.kfp import LiveKfpReader
from kfops.clients.snapshot.kfp import SnapshotKfpReader
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_kfp
from kfops.diagnostics.context import ProbeContext, kfp_evidence
from kfops.model import Status
from kfops.model.evidence import Observed
from kfops.model.ladder import Branch, Ladder, Probe, Rung
from kfops.runbooks.engine import Engine
from kfops.settings import Settings
from tests.support.kfp_standin import KfpStandIn, kfp_run
from tests.support.snapshots import node, write_snapshot

RUN = "0b5e2a1c-7f3d-4c1e-9a2b-3c4d5e6f7a8b"
OTHER = "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f"
MISSING = "11111111-2222-4333-8444-555555555555"
TOKEN = "capture-s3cr3t-token-abcdef"


def runs_ladder(before_each: Callable[[str], None] = lambda run_id: None) -> Ladder:
    """A one-rung ladder whose probe reads three runs and reports each one's state or failure."""

    def read(ctx: ProbeContext) -> Observed:
        assert ctx.kfp is not None
        states: dict[str, str] = {}
        evidence = []
        for run_id in (RUN, OTHER, MISSING):
            before_each(run_id)
            try:
                fetched = ctx.kfp.get_run(run_id)
            except ReaderError as exc:
                states[run_id] = f"{type(exc).__name__}: {exc.message}"
                continue
            states[run_id] = str(fetched.value["state"])
            evidence.append(kfp_evidence(fetched, f"run {run_id} is {states[run_id]}"))
        return Observed(states, tuple(evidence))

    probe = Probe("runs", "GET /apis/v2beta1/runs/{run_id}", read)
    answer = Branch("read", Status.OK, "the runs were read", lambda f: True, lambda f: json.dumps(f[probe]))
    sweep = Rung("runs", "What does the KFP API say about the runs?", (probe,), (), answer)
    return Ladder(
        id="kfp-runs",
        title="KFP runs",
        meaning="",
        impact="",
        target_input="workflow",
        rungs=(),
        causes=(),
        propose=lambda _: (),
        check_target=lambda ctx, target: None,
        sweep=sweep,
        select_targets=lambda facts: (),
    )


def run_capture(tmp_path: Path, kfp: KfpStandIn, ladder: Ladder) -> tuple[Path, dict[str, Any]]:
    cluster = SnapshotKubeReader.open(write_snapshot(tmp_path / "cluster", [node("gpu-1")]))
    settings = Settings(kfp_url=kfp.url, kfp_token=TOKEN)
    reader = open_kfp(settings, None)
    assert isinstance(reader, LiveKfpReader)
    output = tmp_path / "captured"
    captured = capture(output, cluster, None, settings, [ladder], kfp=reader)
    (diagnosis,) = captured.diagnoses
    return output, json.loads(diagnosis.findings[0].summary)


def replay(output: Path) -> dict[str, Any]:
    kube = SnapshotKubeReader.open(output)
    kfp = open_kfp(Settings(), kube)
    assert isinstance(kfp, SnapshotKfpReader)
    (diagnosis,) = Engine(kube, Settings(), kfp=kfp).diagnose(runs_ladder())
    result: dict[str, Any] = json.loads(diagnosis.findings[0].summary)
    return result


def test_capture_records_each_run_read_and_replays_the_same_answers(tmp_path: Path) -> None:
    runs = {RUN: kfp_run(RUN, "RUNNING"), OTHER: kfp_run(OTHER, "FAILED", error="step train failed")}
    with KfpStandIn(runs, token=TOKEN) as kfp:
        output, live = run_capture(tmp_path, kfp, runs_ladder())
    assert live[RUN] == "RUNNING"
    assert live[OTHER] == "FAILED"
    assert live[MISSING].startswith("NotFound: Failed to get a run")
    api = yaml.safe_load((output / "kfp" / "api.yaml").read_text())
    assert api == {"url": kfp.url}
    assert sorted(p.name for p in (output / "kfp" / "runs").iterdir()) == sorted(
        [f"{RUN}.json", f"{OTHER}.json"]
    )
    assert json.loads((output / "kfp" / "runs" / f"{RUN}.json").read_text()) == runs[RUN]
    assert replay(output) == live


def test_the_capture_never_holds_the_token(tmp_path: Path) -> None:
    with KfpStandIn({RUN: kfp_run(RUN)}, token=TOKEN) as kfp:
        output, _ = run_capture(tmp_path, kfp, runs_ladder())
    for path in output.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize(("mode", "kind"), [("5xx", "ServerError"), ("401", "Unauthorized")])
def test_an_api_that_refused_every_call_is_recorded_as_its_fault(
    tmp_path: Path, mode: str, kind: str
) -> None:
    with KfpStandIn({RUN: kfp_run(RUN)}, token=TOKEN, mode=mode) as kfp:  # type: ignore[arg-type]
        output, live = run_capture(tmp_path, kfp, runs_ladder())
    api = yaml.safe_load((output / "kfp" / "api.yaml").read_text())
    assert api["fault"]["error"] == {"ServerError": "server-error", "Unauthorized": "unauthorized"}[kind]
    assert list((output / "kfp" / "runs").iterdir()) == []  # the API's fault fails every read
    assert all(answer.startswith(f"{kind}: ") for answer in live.values())
    assert replay(output) == live


def test_a_run_whose_read_failed_is_recorded_as_that_runs_fault(tmp_path: Path) -> None:
    with KfpStandIn({RUN: kfp_run(RUN), OTHER: kfp_run(OTHER)}, token=TOKEN) as kfp:

        def database_down_after_the_first_run(run_id: str) -> None:
            kfp.mode = "ok" if run_id == RUN else "5xx"

        output, live = run_capture(tmp_path, kfp, runs_ladder(database_down_after_the_first_run))
    assert live[RUN] == "RUNNING"
    assert live[OTHER].startswith("ServerError: HTTP 503: Failed to connect to the database")
    assert "fault" not in yaml.safe_load((output / "kfp" / "api.yaml").read_text())
    recorded = json.loads((output / "kfp" / "runs" / f"{OTHER}.json").read_text())
    assert recorded["fault"]["error"] == "server-error"
    assert replay(output) == live


def test_without_a_kfp_reader_nothing_is_written_for_kfp(tmp_path: Path) -> None:
    cluster = SnapshotKubeReader.open(write_snapshot(tmp_path / "cluster", [node("gpu-1")]))
    output = tmp_path / "captured"
    captured = capture(output, cluster, None, Settings(), [])
    assert captured.kfp_runs == 0
    assert not (output / "kfp").exists()
    assert open_kfp(Settings(), SnapshotKubeReader.open(output)) is None


def test_a_not_found_is_not_recorded(tmp_path: Path) -> None:
    with KfpStandIn({}, token=TOKEN) as kfp:
        output, live = run_capture(tmp_path, kfp, runs_ladder())
    assert all(answer.startswith("NotFound: ") for answer in live.values())
    assert list((output / "kfp" / "runs").iterdir()) == []
    kube = SnapshotKubeReader.open(output)
    reader = open_kfp(Settings(), kube)
    assert reader is not None
    with pytest.raises(NotFound):
        reader.get_run(RUN)
