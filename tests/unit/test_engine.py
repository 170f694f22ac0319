"""The engine's rules: parallel probes, deadline, fail-forward, single-flight memoisation."""

import time
from pathlib import Path

from kfops.clients.resources import NODES
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.diagnostics.context import ProbeContext
from kfops.model import Branch, Cause, Ladder, Observed, Probe, Rung, Status, Verdict
from kfops.runbooks.engine import Engine
from kfops.runbooks.gpu_node_down import LADDER
from kfops.settings import Settings
from tests.support.snapshots import node, pod, write_snapshot


def _read_node(ctx: ProbeContext) -> Observed:
    return Observed(ctx.kube.get(NODES, ctx.target).value)


def _read_node_again(ctx: ProbeContext) -> Observed:
    return Observed(ctx.kube.get(NODES, ctx.target).value["metadata"]["name"])


def _explode(ctx: ProbeContext) -> Observed:
    raise RuntimeError("probe bug")


def _rung(rung_id: str, probe: Probe) -> Rung:
    return Rung(
        id=rung_id,
        question=f"{rung_id}?",
        probes=(probe,),
        branches=(Branch("yes", Status.OK, "fine", lambda f: f[probe] is not None, lambda f: "fine"),),
        default=Branch("no", Status.WARN, "odd", lambda f: True, lambda f: "odd"),
    )


def _ladder(*rungs: Rung) -> Ladder:
    return Ladder(
        id="test",
        title="t",
        meaning="m",
        impact="i",
        target_input="node",
        rungs=rungs,
        causes=(Cause("c", "c", lambda found: found.status("boom") is Status.FAIL, lambda found: "c"),),
        propose=lambda inp: (),
        check_target=lambda ctx, name: None,
        sweep=rungs[0],
        select_targets=lambda f: ("gpu-1",),
    )


def test_two_rungs_reading_the_same_node_cost_one_request(tmp_path: Path) -> None:
    reader = SnapshotKubeReader.open(write_snapshot(tmp_path, [node("gpu-1")]))
    engine = Engine(reader)
    ladder = _ladder(
        _rung("a", Probe("node", "GET node", _read_node)),
        _rung("b", Probe("node-name", "GET node", _read_node_again)),
    )
    [diagnosis] = engine.diagnose(ladder, "gpu-1")
    assert [f.status for f in diagnosis.findings] == [Status.OK, Status.OK]
    assert diagnosis.stats.requests == 1
    assert diagnosis.stats.memo_hits == 1


def test_a_failing_probe_becomes_an_error_finding_and_the_ladder_goes_on(tmp_path: Path) -> None:
    reader = SnapshotKubeReader.open(write_snapshot(tmp_path, [node("gpu-1")]))
    ladder = _ladder(
        _rung("boom", Probe("explode", "nothing", _explode)), _rung("a", Probe("node", "GET", _read_node))
    )
    [diagnosis] = Engine(reader).diagnose(ladder, "gpu-1")
    boom, a = diagnosis.findings
    assert boom.status is Status.ERROR and "RuntimeError: probe bug" in boom.summary
    assert a.status is Status.OK
    assert diagnosis.conclusion.verdict is Verdict.INCONCLUSIVE
    assert "probe bug" in diagnosis.conclusion.summary


def test_deadline_returns_a_partial_diagnosis_marked_incomplete(tmp_path: Path) -> None:
    root = write_snapshot(
        tmp_path,
        [node("gpu-1"), pod("p", "ns", "gpu-1")],
        meta={"faults": [{"verb": "list", "resource": "pods", "error": "none", "delaySeconds": 3}]},
    )
    started = time.monotonic()
    [diagnosis] = Engine(SnapshotKubeReader.open(root)).diagnose(LADDER, "gpu-1", deadline_s=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, "the engine waited for a slow read past the deadline"
    assert diagnosis.deadline_exceeded
    statuses = {f.rung: f.status for f in diagnosis.findings}
    assert statuses["node-ready"] is Status.OK  # answered before the deadline
    assert statuses["gpu-workloads"] is Status.ERROR  # its pod list was still running
    workloads = next(f for f in diagnosis.findings if f.rung == "gpu-workloads")
    assert "probe 'node-pods' had not answered when the diagnosis deadline passed" in workloads.summary
    assert diagnosis.conclusion.verdict is Verdict.INCONCLUSIVE


def test_probe_timeout_is_an_error_naming_the_probe(tmp_path: Path) -> None:
    root = write_snapshot(
        tmp_path,
        [node("gpu-1")],
        meta={"faults": [{"verb": "list", "resource": "events", "error": "none", "delaySeconds": 2}]},
    )
    settings = Settings(probe_timeout_s=0.3)
    [diagnosis] = Engine(SnapshotKubeReader.open(root), settings).diagnose(LADDER, "gpu-1", deadline_s=10)
    events = next(f for f in diagnosis.findings if f.rung == "node-events")
    assert events.status is Status.ERROR
    assert "probe 'node-events' gave no answer within 0.3 s" in events.summary
    assert not diagnosis.deadline_exceeded


def test_reads_are_counted_per_request(tmp_path: Path) -> None:
    reader = SnapshotKubeReader.open(
        write_snapshot(tmp_path, [node("gpu-1"), pod("p", "ns", "gpu-1", gpus=1)])
    )
    [diagnosis] = Engine(reader).diagnose(LADDER, "gpu-1")
    # node, lease, pods on the node, operator DaemonSets, events: each asked once, however many
    # rungs need it
    assert diagnosis.stats.requests == 5
    assert diagnosis.stats.memo_hits > 0
