"""kserve-flapping's Prometheus answers come from a real Prometheus over the scenarios' source series.

Each kserve-flapping scenario with ``prometheus/series.yaml`` is backfilled into a real
Prometheus (promtool blocks, tests/prom/backfill.py). Then (a) every answer its generated
``prometheus/queries.yaml`` holds must be what that Prometheus answers now (at the series' last
instant) — so the file is current and nobody edited it by hand — and (b) the ladder diagnosing
with the live Prometheus must reach exactly the diagnosis it reaches on the recorded answers.

The first tests prove the machinery itself on series written here: promtool's expanding
notation, the OpenMetrics text, and the ladder's own PromQL (kserve_queries) over backfilled
series giving values computed by hand.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.snapshot.prometheus import SnapshotPromReader
from kfops.clients.snapshot.recorder import Recording, RecordingPromReader
from kfops.diagnostics.prometheus import kserve_queries as q
from kfops.model import Diagnosis
from tests.support.scenarios import ROOT

from .backfill import Backfilled, backfill, create_blocks
from .prometheus import values
from .record_kserve import (
    HEADER,
    QUERIES,
    SERIES,
    aligned_end_ms,
    diagnose,
    entries,
    live_reader,
    prom_string,
    record,
    scenario_dirs,
)
from .series import SeriesError, expand, load, parse

SCENARIOS = scenario_dirs()
NS, ISVC = "team-a", "sklearn-iris"
CAPTURED = datetime(2026, 11, 20, 3, 12, tzinfo=UTC)
EXAMPLES = ROOT / "examples" / "snapshots"


# --------------------------------------------------------------------------- series files


def test_expanding_notation_is_promtools() -> None:
    """The examples of promtool's own documentation (unit testing rules), and the rest of the notation."""
    assert expand("-2+4x3") == [-2, 2, 6, 10]
    assert expand(" 1-2x4") == [1, -1, -3, -5, -7]
    assert expand("1x4") == [1, 1, 1, 1, 1]
    assert expand("1 _x3 2") == [1, None, None, None, 2]
    assert expand("0.5 _ 1e3 -3") == [0.5, None, 1000.0, -3]
    nan, inf, minus = expand("NaN +Inf -Inf")
    assert nan is not None and math.isnan(nan) and inf == math.inf and minus == -math.inf
    assert expand("0+600x2 1800-600x1") == [0, 600, 1200, 1800, 1200]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"interval": "30s", "series": [{"name": "up", "values": "1 stale"}]},
            "'stale' cannot be backfilled",
        ),
        ({"interval": "30s", "series": [{"name": "up", "values": "1 2x"}]}, "cannot read '2x'"),
        (
            {"interval": "half a minute", "series": [{"name": "up", "values": "1"}]},
            "interval: not a duration",
        ),
        ({"interval": "30s", "series": [{"name": "a-b", "values": "1"}]}, "'a-b' is not a metric name"),
        ({"interval": "30s", "series": [{"name": "up", "value": "1"}]}, "unknown keys value"),
        ({"interval": "30s", "series": []}, "series must be a non-empty list"),
        (
            {"interval": "30s", "series": [{"name": "up", "values": "1"}, {"name": "up", "values": "2"}]},
            "series[1] up repeats series[0]",
        ),
    ],
)
def test_a_bad_series_file_is_refused_naming_the_file_and_entry(
    tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    path = tmp_path / "series.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SeriesError) as refused:
        load(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


def test_openmetrics_text_ends_every_series_at_the_end_instant(tmp_path: Path) -> None:
    series = parse(
        {
            "interval": "30s",
            "series": [
                {"name": "a_total", "labels": {"pod": 'p"1\\'}, "values": "1 _ 3"},
                {"name": "b", "values": "7.5"},
            ],
        },
        tmp_path / "series.yaml",
    )
    assert series.openmetrics(1_800_000_060_500) == (
        'a_total{pod="p\\"1\\\\"} 1.0 1800000000.500\n'
        'a_total{pod="p\\"1\\\\"} 3.0 1800000060.500\n'
        "b 7.5 1800000060.500\n"
        "# EOF\n"
    )


# --------------------------------------------------------------------------- backfill


def _kserve_series() -> dict[str, Any]:
    """Two hours of one InferenceService, every number chosen so the answers are known exactly."""
    knative = {
        "k8s_namespace_name": NS,
        "kn_service_name": f"{ISVC}-predictor",
        "http_response_status_code": "200",
    }
    return {
        "interval": "30s",
        "series": [
            # 120 requests per 30 s: 4 requests/s; 18 s of request time per 30 s: 0.15 s mean latency
            {
                "name": "kn_serving_invocation_duration_seconds_count",
                "labels": knative,
                "values": "0+120x240",
            },
            {"name": "kn_serving_invocation_duration_seconds_sum", "labels": knative, "values": "0+18x240"},
            # per 30 s: 60 within 0.1 s, 90 within 0.5 s, all 120 within +Inf
            *(
                {
                    "name": "kn_serving_invocation_duration_seconds_bucket",
                    "labels": {**knative, "le": le},
                    "values": f"0+{per_step}x240",
                }
                for le, per_step in (("0.1", 60), ("0.5", 90), ("+Inf", 120))
            ),
            # Ready flipped six times early in the last hour, then stayed True
            {
                "name": q.READY_METRIC,
                "labels": {"namespace": NS, "name": ISVC, "type": "Ready", "status": "True"},
                "values": "1x120 0 1 0 1 0 1x114",
            },
            # the revision's Deployment scaled 0 → 1 six times in the last hour (and 1 → 0 five times)
            {
                "name": "kube_deployment_spec_replicas",
                "labels": {"namespace": NS, "deployment": f"{ISVC}-predictor-00001-deployment"},
                "values": "0x130 " + "1x9 0x9 " * 5 + "1x9",
            },
            # working set: a 3 GiB peak 40 minutes ago
            {
                "name": "container_memory_working_set_bytes",
                "labels": {
                    "namespace": NS,
                    "pod": f"{ISVC}-predictor-00001-deployment-7d9f-x2x4p",
                    "container": "kserve-container",
                },
                "values": "1000000000+1000000x160 3221225472 2000000000x78",
            },
            # a series that stopped ten minutes ago: beyond the 5-minute lookback
            {"name": "gone_gauge", "values": "1x220 _x19"},
        ],
    }


@pytest.fixture(scope="module")
def kserve_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    folder = tmp_path_factory.mktemp("kserve-series")
    (folder / "series.yaml").write_text(yaml.safe_dump(_kserve_series()), encoding="utf-8")
    series = load(folder / "series.yaml")
    try:
        backfilled = backfill(
            series, folder / "prometheus", aligned_end_ms(CAPTURED, datetime.now(UTC).timestamp())
        )
    except RuntimeError as error:
        pytest.fail(f"the backfilled Prometheus did not start: {error}", pytrace=False)
    yield backfilled
    backfilled.close()


def _one(backfilled: Backfilled, promql: str) -> float:
    [sample] = backfilled.query(promql)
    return float(sample["value"][1])


def test_the_ladders_promql_over_backfilled_series_gives_the_known_values(
    kserve_prometheus: Backfilled,
) -> None:
    b = kserve_prometheus
    assert len(list(b.server.data_dir.glob("*/meta.json"))) >= 2, "two hours of data make two 2 h blocks"
    assert _one(b, q.request_rate(NS, ISVC, knative=True)) == 4.0
    assert b.query(q.error_rate(NS, ISVC, knative=True)) == []  # no 5xx series: an empty sum
    assert _one(b, q.latency_sum_rate(NS, ISVC, knative=True)) == pytest.approx(0.6, rel=1e-12)
    assert _one(b, q.latency_quantile(NS, ISVC, True, 0.5)) == pytest.approx(0.1, rel=1e-12)
    # rank 0.625 × 4 = 2.5 lies halfway between the 0.1 bucket (2/s) and the 0.5 one (3/s)
    assert _one(b, q.latency_quantile(NS, ISVC, True, 0.625)) == pytest.approx(0.3, rel=1e-12)
    assert _one(b, q.ready_changes(NS, ISVC, 60)) == 6.0
    assert values(b.query(q.flapping_services(60, 3))) == {
        (("name", ISVC), ("namespace", NS), ("status", "True"), ("type", "Ready")): 6.0
    }
    assert _one(b, q.cold_starts(NS, ISVC, 60)) == 6.0
    assert values(b.query(q.cold_start_storms(60, 6))) == {
        (("inferenceservice", ISVC), ("namespace", NS)): 6.0
    }
    assert b.query(q.cold_start_storms(60, 7)) == []
    assert _one(b, q.working_set_peak(NS, ISVC, 60)) == 3221225472.0
    assert b.query("gone_gauge") == []
    assert _one(b, "last_over_time(gone_gauge[15m])") == 1.0


def test_a_missing_or_failing_promtool_raises_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = parse({"interval": "30s", "series": [{"name": "up", "values": "1x3"}]}, tmp_path / "series.yaml")
    monkeypatch.setenv("KFOPS_TEST_PROMTOOL", str(tmp_path / "no-such-promtool"))
    with pytest.raises(RuntimeError, match="no-such-promtool is not executable"):
        create_blocks(series, 1_800_000_000_000, tmp_path / "a")
    failing = tmp_path / "promtool"
    failing.write_text("#!/bin/sh\necho 'error: refused on purpose' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setenv("KFOPS_TEST_PROMTOOL", str(failing))
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 3 .*refused on purpose"):
        create_blocks(series, 1_800_000_000_000, tmp_path / "b")


def test_recorded_entries_are_stable_and_dated_at_capture(kserve_prometheus: Backfilled) -> None:
    recording = Recording()
    recorder = RecordingPromReader(live_reader(kserve_prometheus), recording)
    recorder.query(q.request_rate(NS, ISVC, knative=True))
    recorder.query(q.latency_quantile(NS, ISVC, True, 0.625))
    recorder.query("gone_gauge")
    written = entries(recording, CAPTURED, kserve_prometheus.end_ms)
    assert written == [
        {"query": "gone_gauge", "type": "instant", "result": []},
        {
            "query": q.latency_quantile(NS, ISVC, True, 0.625),
            "type": "instant",
            "result": [{"metric": {}, "value": [int(CAPTURED.timestamp()), "0.3"]}],
        },
        {
            "query": q.request_rate(NS, ISVC, knative=True),
            "type": "instant",
            "result": [{"metric": {}, "value": [int(CAPTURED.timestamp()), "4"]}],
        },
    ]
    assert prom_string(0.30000000000000004) == "0.3" and prom_string(math.nan) == "NaN"
    assert (
        aligned_end_ms(CAPTURED, CAPTURED.timestamp() + 3 * 86_400 + 7)
        == CAPTURED.timestamp() * 1000 + 3 * 86_400_000
    )


def _gpu_series(node: str) -> dict[str, Any]:
    """An hour of one 8-GPU node whose GPU 3 reported Xid 79 twenty minutes ago and went on."""
    series: list[dict[str, Any]] = [
        {"name": "up", "labels": {"job": "dcgm-exporter", "instance": "10.0.4.2:9400"}, "values": "1x120"},
        {
            "name": "kube_node_status_condition",
            "labels": {"node": node, "condition": "Ready", "status": "true"},
            "values": "1x120",
        },
    ]
    for gpu in range(8):
        labels = {"gpu": str(gpu), "UUID": f"GPU-{node}-{gpu}", "Hostname": node}
        xid = "0x80 79 0x39" if gpu == 3 else "0x120"
        series += [
            {
                "name": "DCGM_FI_DEV_XID_ERRORS",
                "labels": {**labels, "err_code": "0", "err_msg": ""},
                "values": xid,
            },
            {"name": "DCGM_FI_DEV_GPU_TEMP", "labels": labels, "values": "61x120"},
            {"name": "DCGM_FI_DEV_GPU_UTIL", "labels": labels, "values": "90x120"},
        ]
    return {"interval": "30s", "series": series}


def test_the_recorder_end_to_end_on_a_ladder_that_exists(tmp_path: Path) -> None:
    """The whole recorder on a copy of a gpu-node-down example given source series: the file it
    writes, replayed, gives the diagnosis the live Prometheus gave (kserve scenarios get the same
    below, once they exist)."""
    folder = tmp_path / "gpus-unhealthy-xid79"
    shutil.copytree(EXAMPLES / "gpu-node-down" / "gpus-unhealthy-xid79", folder)
    (folder / "prometheus").mkdir()
    (folder / SERIES).write_text(yaml.safe_dump(_gpu_series("gpu-h100-2")), encoding="utf-8")
    recorded = record(folder, tmp_path / "work", ladder="gpu-node-down")
    text = (folder / QUERIES).read_text(encoding="utf-8")
    assert text.startswith(HEADER)
    entries_written = yaml.safe_load(text)
    assert recorded.queries == len(entries_written) >= 3
    captured = int(SnapshotKubeReader.open(folder).store.meta.captured_at.timestamp())
    xid = next(e for e in entries_written if e["query"].startswith("(max by (gpu, UUID"))
    assert {(s["metric"]["gpu"], s["value"][1]) for s in xid["result"]} == {
        (str(gpu), "79" if gpu == 3 else "0") for gpu in range(8)
    }
    assert {s["value"][0] for e in entries_written for s in e["result"]} == {captured}
    replayed = diagnose(folder, _replay(folder), "gpu-node-down")
    for (case, live), (_, offline) in zip(recorded.diagnoses, replayed, strict=True):
        assert _shape(live) == _shape(offline), case.name
        xid_finding = next(f for d in live for f in d.findings if f.rung == "gpu-xid")
        assert xid_finding.status.value == "FAIL" and "Xid 79" in xid_finding.summary, xid_finding.summary


# --------------------------------------------------------------------------- the scenarios


def _same(recorded: dict[str, Any], live: dict[str, Any]) -> bool:
    if recorded["metric"] != live["metric"]:
        return False
    want, got = float(recorded["value"][1]), float(live["value"][1])
    return (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, rel=1e-9, abs=1e-12)


class _Backfills:
    """One backfilled Prometheus per scenario, started on first use, all closed at the end."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._running: dict[Path, Backfilled] = {}

    def get(self, folder: Path) -> Backfilled:
        if folder not in self._running:
            captured = SnapshotKubeReader.open(folder).store.meta.captured_at
            end_ms = aligned_end_ms(captured, datetime.now(UTC).timestamp())
            try:
                self._running[folder] = backfill(load(folder / SERIES), self._workdir / folder.name, end_ms)
            except (RuntimeError, SeriesError) as error:
                pytest.fail(f"{folder}: the backfilled Prometheus did not start: {error}", pytrace=False)
        return self._running[folder]

    def close(self) -> None:
        for backfilled in self._running.values():
            backfilled.close()


@pytest.fixture(scope="module")
def backfills(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Backfills]:
    running = _Backfills(tmp_path_factory.mktemp("kserve-scenarios"))
    yield running
    running.close()


def _ids(folders: list[Path]) -> list[str]:
    return [f"{f.parents[1].name}/{f.name}" for f in folders]


@pytest.mark.parametrize("folder", SCENARIOS, ids=_ids(SCENARIOS))
def test_recorded_answers_are_what_the_real_prometheus_answers(folder: Path, backfills: _Backfills) -> None:
    path = folder / QUERIES
    assert path.is_file(), f"{path} is missing: run `make record-kserve`"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEADER), f"{path} was not generated by tests/prom/record_kserve.py"
    recorded = yaml.safe_load(text) or []
    assert recorded, f"{path} holds no answer: the ladder asked Prometheus nothing"
    backfilled = backfills.get(folder)
    for entry in recorded:
        assert entry["type"] == "instant", f"{path}: {entry['query']}: only instant queries are recorded"
        live = sorted(backfilled.query(entry["query"]), key=lambda s: sorted(s["metric"].items()))
        want = entry["result"]
        assert len(live) == len(want) and all(_same(w, g) for w, g in zip(want, live, strict=True)), (
            f"{path} is stale for {entry['query']}:\n recorded {want}\n live     {live}\n"
            "run `make record-kserve`"
        )


def _shape(diagnoses: list[Diagnosis]) -> list[tuple[object, ...]]:
    return [
        (
            d.target,
            d.conclusion.verdict.value,
            d.conclusion.cause,
            tuple((f.rung, f.status.value, f.branch, f.summary) for f in d.findings),
            tuple(sorted((p.action, repr(sorted(p.params.items()))) for p in d.proposals)),
        )
        for d in diagnoses
    ]


def _replay(folder: Path) -> SnapshotPromReader:
    """The snapshot's Prometheus on the generated answers (prometheus/queries.yaml) alone.

    What ``kfops diagnose --snapshot`` replays, minus the other files of prometheus/: this test
    is about the answers; tests/scenarios/test_ladders_offline.py runs the replay as the CLI opens it.
    """
    kube = SnapshotKubeReader.open(folder)
    written = yaml.safe_load((folder / QUERIES).read_text(encoding="utf-8")) or []
    return SnapshotPromReader(kube.store, {(e["type"], e["query"]): e["result"] for e in written})


def _prometheus_faulted(folder: Path) -> bool:
    faults = SnapshotKubeReader.open(folder).store.meta.faults
    return any(f.resource == "prometheus" for f in faults)


#: A scenario whose Prometheus failed at capture replays the failure offline, not the answers.
ANSWERED = [f for f in SCENARIOS if not _prometheus_faulted(f)]


@pytest.mark.parametrize("folder", ANSWERED, ids=_ids(ANSWERED))
def test_the_diagnosis_on_the_live_prometheus_is_the_recorded_one(
    folder: Path, backfills: _Backfills
) -> None:
    live = diagnose(folder, live_reader(backfills.get(folder)))
    recorded = diagnose(folder, _replay(folder))
    assert [c.name for c, _ in live] == [c.name for c, _ in recorded]
    assert live, f"{folder}: no case in kfops-expected.yaml"
    for (case, ours), (_, theirs) in zip(live, recorded, strict=True):
        assert _shape(ours) == _shape(theirs), f"{folder} case {case.name}: live and recorded differ"


@pytest.mark.parametrize("folder", SCENARIOS, ids=_ids(SCENARIOS))
def test_recording_again_writes_the_same_file(folder: Path, tmp_path: Path) -> None:
    """The recorder is deterministic: on a copy of the scenario, another day, the same bytes."""
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    try:
        record(copy, tmp_path / "work", now_s=datetime.now(UTC).timestamp() - 86_400)
    except (RuntimeError, SeriesError) as error:
        pytest.fail(f"{folder}: recording failed: {error}", pytrace=False)
    written = (copy / QUERIES).read_text(encoding="utf-8")
    assert written == (folder / QUERIES).read_text(encoding="utf-8"), (
        f"{folder / QUERIES} is not what the recorder writes: run `make record-kserve`"
    )
