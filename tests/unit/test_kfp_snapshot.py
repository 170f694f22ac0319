"""The snapshot KFP reader answers like the API server did at capture time; opening KFP sources."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kfops.clients.errors import (
    ConfigurationError,
    NotFound,
    ReadTimeout,
    ServerError,
    SnapshotError,
    Unauthorized,
    Unreachable,
)
from kfops.clients.live.kfp import LiveKfpReader
from kfops.clients.live.kfp_writer import LiveKfpWriter
from kfops.clients.snapshot.kfp import SnapshotKfpReader
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.snapshot.store import SnapshotMeta, SnapshotStore
from kfops.clients.sources import open_kfp, open_kfp_writer
from kfops.settings import Settings
from tests.support.kfp_standin import KfpStandIn, kfp_run, kfp_task, write_kfp_snapshot
from tests.support.snapshots import node, write_snapshot

RUN = "0b5e2a1c-7f3d-4c1e-9a2b-3c4d5e6f7a8b"
OTHER = "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f"
MISSING = "11111111-2222-4333-8444-555555555555"
URL = "http://ml-pipeline.kubeflow.svc:8888"
CAPTURED = datetime(2026, 11, 20, 3, 12, tzinfo=UTC)


def store(root: Path) -> SnapshotStore:
    """A store over `root` without loading Kubernetes objects: the KFP reader only needs its root."""
    return SnapshotStore(root=root, meta=SnapshotMeta(captured_at=CAPTURED, captured_at_source="capturedAt"))


def open_reader(root: Path) -> SnapshotKfpReader:
    reader = SnapshotKfpReader.open(store(root))
    assert reader is not None
    return reader


def test_a_recorded_run_is_answered_as_the_api_did(tmp_path: Path) -> None:
    run = kfp_run(RUN, "RUNNING", tasks=(kfp_task("t1", "train", pod_name="p-train"),))
    write_kfp_snapshot(tmp_path, {RUN: run})
    fetched = open_reader(tmp_path).get_run(RUN)
    assert fetched.value == run
    assert fetched.query == f"GET {URL}/apis/v2beta1/runs/{RUN}"
    assert fetched.observed_at == CAPTURED
    assert fetched.nbytes == (tmp_path / "kfp" / "runs" / f"{RUN}.json").stat().st_size


def test_a_run_without_a_file_is_not_found_like_the_api(tmp_path: Path) -> None:
    write_kfp_snapshot(tmp_path, {RUN: kfp_run(RUN)})
    with pytest.raises(NotFound) as caught:
        open_reader(tmp_path).get_run(MISSING)
    assert caught.value.status == 404
    assert caught.value.resource == "kfp"
    assert f"ResourceNotFoundError: Run {MISSING} not found" in caught.value.message


def test_the_same_message_as_the_live_api_for_a_missing_run(tmp_path: Path) -> None:
    write_kfp_snapshot(tmp_path, {})
    with pytest.raises(NotFound) as replayed:
        open_reader(tmp_path).get_run(MISSING)
    with KfpStandIn() as kfp, pytest.raises(NotFound) as live:
        LiveKfpReader.from_settings(Settings(kfp_url=kfp.url)).get_run(MISSING)
    assert replayed.value.message == live.value.message


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("unreachable", Unreachable),
        ("timeout", ReadTimeout),
        ("unauthorized", Unauthorized),
        ("server-error", ServerError),
    ],
)
def test_an_api_fault_fails_every_call_that_way(tmp_path: Path, error: str, kind: type[Exception]) -> None:
    write_kfp_snapshot(tmp_path, {RUN: kfp_run(RUN)}, fault={"error": error, "message": "as captured"})
    reader = open_reader(tmp_path)
    for run_id in (RUN, MISSING):
        with pytest.raises(kind) as caught:
            reader.get_run(run_id)
        assert str(caught.value) == "as captured"
        assert getattr(caught.value, "resource", None) == "kfp"


def test_a_run_fault_fails_only_that_run(tmp_path: Path) -> None:
    write_kfp_snapshot(
        tmp_path,
        {RUN: kfp_run(RUN), OTHER: {"fault": {"error": "timeout", "message": "no answer in 5 s"}}},
    )
    reader = open_reader(tmp_path)
    assert reader.get_run(RUN).value["run_id"] == RUN
    with pytest.raises(ReadTimeout, match="no answer in 5 s"):
        reader.get_run(OTHER)


def test_describe_says_it_is_the_recording(tmp_path: Path) -> None:
    write_kfp_snapshot(tmp_path, {})
    assert open_reader(tmp_path).describe() == f"KFP API answers of {URL} recorded in {tmp_path / 'kfp'}"


def test_no_kfp_folder_means_kfp_was_not_configured(tmp_path: Path) -> None:
    assert SnapshotKfpReader.open(store(tmp_path)) is None


def test_a_run_id_that_is_not_a_uuid_is_refused_like_the_live_reader(tmp_path: Path) -> None:
    write_kfp_snapshot(tmp_path, {})
    with pytest.raises(ValueError, match="is not a KFP run id"):
        open_reader(tmp_path).get_run("../api")


@pytest.mark.parametrize(
    ("relative", "text", "says"),
    [
        (f"runs/{RUN}.json", "{not json", f"cannot read {{root}}/kfp/runs/{RUN}.json"),
        (f"runs/{RUN}.json", "[1, 2]", "expected the JSON object of a V2beta1Run, got list"),
        (f"runs/{RUN}.json", json.dumps({"run_id": OTHER}), f"holds run '{OTHER}', but the file is named"),
        ("runs/latest.json", "{}", "'latest' is not a UUID"),
        (f"runs/{RUN}.json", json.dumps({"fault": {"error": "boom"}}), "a fault needs error: one of"),
        ("api.yaml", "- a list", "expected a mapping with the API's url"),
        ("api.yaml", "url: [1]", "url must be a string"),
        ("api.yaml", "url: x\nfault: {error: nope}", "a fault needs error: one of unreachable, timeout"),
    ],
)
def test_a_malformed_file_is_a_snapshot_error_naming_it(
    tmp_path: Path, relative: str, text: str, says: str
) -> None:
    write_kfp_snapshot(tmp_path, {})
    path = tmp_path / "kfp" / relative
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SnapshotError) as caught:
        SnapshotKfpReader.open(store(tmp_path))
    assert str(path) in str(caught.value)
    assert says.format(root=tmp_path) in str(caught.value)


# --- open_kfp / open_kfp_writer ----------------------------------------------------------------


@pytest.fixture
def snapshot(tmp_path: Path) -> Iterator[Path]:
    root = write_snapshot(tmp_path / "snap", [node("gpu-1")])
    yield root


def test_open_kfp_on_a_snapshot_reads_its_kfp_folder(snapshot: Path) -> None:
    write_kfp_snapshot(snapshot, {RUN: kfp_run(RUN, "FAILED")})
    kube = SnapshotKubeReader.open(snapshot)
    reader = open_kfp(Settings(kfp_url="http://ignored:8888"), kube)
    assert isinstance(reader, SnapshotKfpReader)
    assert reader.get_run(RUN).value["state"] == "FAILED"
    assert kube.store.meta.captured_at == reader.get_run(RUN).observed_at


def test_open_kfp_on_a_snapshot_without_kfp_is_none(snapshot: Path) -> None:
    assert open_kfp(Settings(kfp_url="http://ignored:8888"), SnapshotKubeReader.open(snapshot)) is None


def test_open_kfp_live_needs_a_url() -> None:
    assert open_kfp(Settings(), None) is None
    from_settings = open_kfp(Settings(kfp_url="http://ml-pipeline.kubeflow.svc:8888"), None)
    assert isinstance(from_settings, LiveKfpReader)
    assert from_settings.url == "http://ml-pipeline.kubeflow.svc:8888"
    overridden = open_kfp(Settings(kfp_url="http://a:1"), None, url="https://kfp.example.com/pipeline")
    assert isinstance(overridden, LiveKfpReader)
    assert overridden.url == "https://kfp.example.com/pipeline"


def test_open_kfp_writer_reaches_the_live_api() -> None:
    with KfpStandIn({RUN: kfp_run(RUN)}) as kfp:
        writer = open_kfp_writer(Settings(kfp_url=kfp.url, kfp_userid="oncall@example.com"), None)
        assert isinstance(writer, LiveKfpWriter)
        writer.terminate_run(RUN)
        assert kfp.state(RUN) == "CANCELING"
        assert kfp.calls("POST")[0].headers["kubeflow-userid"] == "oncall@example.com"


def test_open_kfp_writer_refuses_without_a_url() -> None:
    with pytest.raises(ConfigurationError, match=r"^no KFP API URL: set KFOPS_KFP_URL \(e\.g\. http://"):
        open_kfp_writer(Settings(), None)


def test_open_kfp_writer_refuses_a_snapshot(snapshot: Path) -> None:
    with pytest.raises(ConfigurationError, match="a snapshot is not a live cluster"):
        open_kfp_writer(Settings(kfp_url="http://x:8888"), SnapshotKubeReader.open(snapshot))


def test_the_stand_in_serves_a_snapshots_runs(snapshot: Path) -> None:
    write_kfp_snapshot(snapshot, {RUN: kfp_run(RUN, "PENDING"), OTHER: {"fault": {"error": "timeout"}}})
    with KfpStandIn.from_snapshot(snapshot) as kfp:
        assert set(kfp.runs) == {RUN}
        assert LiveKfpReader.from_settings(Settings(kfp_url=kfp.url)).get_run(RUN).value["state"] == "PENDING"
