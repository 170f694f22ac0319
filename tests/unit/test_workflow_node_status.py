"""Where a Workflow's node status lives: inline, compressed, offloaded, or undecodable.

Argo's encoding (argoproj/argo-workflows workflow/packer/packer.go, util/file/fileutil.go):
``status.compressedNodes`` is base64 (standard alphabet) of gzip of the JSON nodes map, used only
when ``status.nodes`` is empty; ``status.offloadNodeStatusVersion`` ("fnv:<hash>",
persist/sqldb/offload_node_status_repo.go) means the nodes are in Argo's database and the object
holds none (workflow/hydrator/hydrator.go). The compressed strings here are built with Python's
gzip and base64 from the real nodes map of the gpu-pending scenario.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_kfp
from kfops.diagnostics.pipelines.steps import StepPod, stalled_by_pods, step_pod
from kfops.diagnostics.pipelines.workflows import (
    MAX_DECOMPRESSED_NODES,
    UndecodableNodes,
    decode_compressed_nodes,
    workflow_facts,
)
from kfops.model import Diagnosis
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios" / "stuck-pipeline"
OFFLOAD_VERSION = "fnv:2904391187"


def _workflow(scenario: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SCENARIOS / scenario / "workflows.yaml").read_text())
    return loaded


def _compress(content: bytes) -> str:
    return base64.b64encode(gzip.compress(content)).decode()


def _with_status(obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The Workflow with status.nodes dropped and `fields` set in status, as Argo leaves it."""
    status = {k: v for k, v in obj["status"].items() if k != "nodes"}
    return {**obj, "status": {**status, **fields}}


def _diagnose(folder: Path, target: str | None) -> list[Diagnosis]:
    reader = SnapshotKubeReader.open(folder)
    settings = Settings()
    return Engine(reader, settings, kfp=open_kfp(settings, reader)).diagnose(find("stuck-pipeline"), target)


def _finding(diagnosis: Diagnosis, rung: str) -> tuple[str, str, str]:
    found = next(f for f in diagnosis.findings if f.rung == rung)
    return found.status.value, found.branch, found.summary


# ------------------------------------------------------------------------------------- compressed
def test_compressed_nodes_decode_to_exactly_the_inline_nodes() -> None:
    inline = _workflow("gpu-pending")
    nodes = inline["status"]["nodes"]
    compressed = _with_status(inline, compressedNodes=_compress(json.dumps(nodes).encode()))
    assert "nodes" not in compressed["status"]

    want, got = workflow_facts(inline), workflow_facts(compressed)
    assert (want.node_status, got.node_status) == ("inline", "compressed")
    assert len(got.nodes) == len(nodes) == 9
    assert got == replace(want, node_status="compressed")
    assert got.nodes_known and got.node_status_gap() == ""
    assert [n.step for n in got.active_pod_nodes()] == ["train-model"]


def test_the_scenario_compressed_nodes_are_gpu_pending_nodes() -> None:
    """compressed-nodes/workflows.yaml is gpu-pending's Workflow with its nodes compressed."""
    inline, compressed = _workflow("gpu-pending"), _workflow("compressed-nodes")
    assert decode_compressed_nodes(compressed["status"]["compressedNodes"]) == inline["status"]["nodes"]
    assert workflow_facts(compressed) == replace(workflow_facts(inline), node_status="compressed")


def test_compressed_nodes_are_only_read_when_status_nodes_is_empty() -> None:
    """Argo's DecompressWorkflow: `len(wf.Status.Nodes) == 0 && wf.Status.CompressedNodes != ""`."""
    inline = _workflow("gpu-pending")
    other = _compress(json.dumps({"x": {"name": "x", "type": "Pod", "phase": "Failed"}}).encode())
    both = {**inline, "status": {**inline["status"], "compressedNodes": other}}
    facts = workflow_facts(both)
    assert facts.node_status == "inline" and "x" not in facts.nodes and len(facts.nodes) == 9


@pytest.mark.parametrize(
    ("compressed", "why"),
    [
        ("not base64 at all!", "not base64"),
        (base64.b64encode(b'{"plain": "json, never gzipped"}').decode(), "not gzip"),
        (base64.b64encode(gzip.compress(json.dumps({"a": {}}).encode())[:-12]).decode(), "not gzip"),
        (_compress(b"\xff\xfe not text"), "not JSON"),
        (_compress(b"{truncated json"), "not JSON"),
        (_compress(b'["a", "list"]'), "not a JSON map"),
        (_compress(b'{"node": "a string, not a node"}'), "not a JSON map"),
        (12345, "not a string"),
    ],
)
def test_garbage_in_compressed_nodes_is_marked_undecodable_not_a_crash(compressed: object, why: str) -> None:
    facts = workflow_facts(_with_status(_workflow("gpu-pending"), compressedNodes=compressed))
    assert facts.node_status == "undecodable"
    assert why in facts.node_status_detail
    assert facts.nodes == {} and not facts.nodes_known
    gap = facts.node_status_gap()
    assert f"could not be decoded ({facts.node_status_detail})" in gap
    assert "`argo get team-a/churn-model-training-x2m7q`" in gap
    # no nodes is no evidence: never "no step running, nothing moved since it started"
    assert facts.phase == "Running" and facts.started is not None
    assert not facts.stuck(facts.started.replace(year=facts.started.year + 1), 30)


def test_the_decompressed_size_is_capped() -> None:
    nodes = json.dumps(_workflow("gpu-pending")["status"]["nodes"]).encode()
    text = _compress(nodes)
    assert decode_compressed_nodes(text, limit=len(nodes)) == json.loads(nodes)
    with pytest.raises(UndecodableNodes, match="decompresses to more than"):
        decode_compressed_nodes(text, limit=len(nodes) - 1)


def test_a_gzip_bomb_past_the_real_cap_is_refused() -> None:
    """64 MiB and one byte of JSON whitespace, compressed a MiB at a time: about 65 KiB of base64."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    chunk = b" " * (1024 * 1024)
    parts = [packer.compress(b"{")]
    parts += [packer.compress(chunk) for _ in range(MAX_DECOMPRESSED_NODES // len(chunk))]
    parts += [packer.compress(b"}"), packer.flush()]
    bomb = base64.b64encode(b"".join(parts)).decode()
    assert len(bomb) < 200 * 1024

    facts = workflow_facts(_with_status(_workflow("gpu-pending"), compressedNodes=bomb))
    assert facts.node_status == "undecodable"
    assert facts.node_status_detail == "decompresses to more than 64 MiB"


# ------------------------------------------------------------------------------------- offloaded
def test_offloaded_node_status_is_said_with_its_version_and_where_to_look() -> None:
    facts = workflow_facts(_workflow("offloaded-nodes"))
    assert (facts.node_status, facts.node_status_detail) == ("offloaded", OFFLOAD_VERSION)
    assert facts.nodes == {} and not facts.nodes_known
    assert facts.node_status_gap() == (
        f"node status is offloaded to Argo's persistence database (offloadNodeStatusVersion "
        f"{OFFLOAD_VERSION}); kfops reads only the API object — open the run in the Argo UI or "
        "`argo get team-a/churn-model-training-k9fzt`"
    )
    assert facts.started is not None
    assert not facts.stuck(facts.started.replace(year=facts.started.year + 1), 30)


def test_an_offload_version_wins_over_nodes_left_in_the_object() -> None:
    """hydrator.go: with a version set, the database's nodes replace whatever the object holds."""
    inline = _workflow("gpu-pending")
    both = {**inline, "status": {**inline["status"], "offloadNodeStatusVersion": OFFLOAD_VERSION}}
    facts = workflow_facts(both)
    assert facts.node_status == "offloaded" and facts.nodes == {}


# ------------------------------------------------------------------------------------- the ladder
def test_an_offloaded_run_is_never_a_silent_healthy_nor_a_stalled_one() -> None:
    """Before: no nodes read as "no step running for 40 min" — a false run-stalled. Now the rungs
    about the steps answer NO_DATA naming the offload and `argo get`, and the verdict says so."""
    [diagnosis] = _diagnose(SCENARIOS / "offloaded-nodes", "team-a/churn-model-training-k9fzt")
    look = "`argo get team-a/churn-model-training-k9fzt`"
    for rung in ("workflow", "current-step"):
        status, branch, summary = _finding(diagnosis, rung)
        assert (status, branch) == ("NO_DATA", "node-status-unavailable")
        assert f"offloaded to Argo's persistence database (offloadNodeStatusVersion {OFFLOAD_VERSION})" in (
            summary
        )
        assert look in summary
    assert diagnosis.conclusion.cause is None
    assert "every rung ruled out a cause" not in diagnosis.conclusion.summary
    assert "Not checked: workflow:" in diagnosis.conclusion.summary
    assert look in diagnosis.conclusion.summary


def test_the_sweep_does_not_count_an_offloaded_workflow_as_stuck_and_says_so() -> None:
    [diagnosis] = _diagnose(SCENARIOS / "offloaded-nodes", None)
    assert diagnosis.target == "*"
    status, branch, summary = _finding(diagnosis, "stuck-workflows")
    assert (status, branch) == ("NO_DATA", "node-status-unavailable")
    assert "cannot tell whether Workflow team-a/churn-model-training-k9fzt is stuck" in summary
    assert "kfops diagnose stuck-pipeline --workflow churn-model-training-k9fzt --namespace team-a" in summary
    [listed] = [e for f in diagnosis.findings for e in f.evidence if "unfinished Workflows" in e.summary]
    assert "0 with no step running" in listed.summary
    assert "1 not judged" in listed.summary
    assert "team-a/churn-model-training-k9fzt: offloaded" in listed.summary


def test_an_undecodable_run_still_gets_its_pods_diagnosed(tmp_path: Path) -> None:
    """compressed-nodes with its string corrupted: the rungs about nodes say NO_DATA with the
    decoding error, and the step pods still show the GPU shortage."""
    folder = tmp_path / "undecodable"
    shutil.copytree(SCENARIOS / "compressed-nodes", folder)
    path = folder / "workflows.yaml"
    obj = yaml.safe_load(path.read_text())
    obj["status"]["compressedNodes"] = obj["status"]["compressedNodes"][:-40]  # truncated
    path.write_text(yaml.safe_dump(obj))

    [diagnosis] = _diagnose(folder, "team-a/churn-model-training-x2m7q")
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == ("problem", "gpu-shortage")
    for rung in ("workflow", "current-step"):
        status, branch, summary = _finding(diagnosis, rung)
        assert (status, branch) == ("NO_DATA", "node-status-unavailable")
        assert "status.compressedNodes could not be decoded (not " in summary
    assert _finding(diagnosis, "step-scheduling")[:2] == ("FAIL", "gpu-shortage")


def _offloaded_copy(tmp_path: Path, scenario: str) -> Path:
    """A copy of a stuck-pipeline scenario whose Workflow's node status is offloaded."""
    folder = tmp_path / f"{scenario}-offloaded"
    shutil.copytree(SCENARIOS / scenario, folder)
    path = folder / "workflows.yaml"
    obj = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(_with_status(obj, offloadNodeStatusVersion=OFFLOAD_VERSION)))
    return folder


def test_no_retry_is_proposed_for_an_offloaded_run(tmp_path: Path) -> None:
    """KFP refuses it: "Cannot retry workflow with offloaded node status" (kubeflow/pipelines
    backend/src/common/util/workflow.go, CanRetry)."""
    folder = _offloaded_copy(tmp_path, "run-failed")

    [diagnosis] = _diagnose(folder, "team-a/churn-model-training-c8w2j")
    assert diagnosis.conclusion.cause == "run-failed"  # status.phase and message stay in the object
    assert [p.action for p in diagnosis.proposals] == []
    [inline] = _diagnose(SCENARIOS / "run-failed", "team-a/churn-model-training-c8w2j")
    assert [p.action for p in inline.proposals] == ["kfp.retry-run"]


def test_task_result_rbac_is_still_found_from_the_pods_when_nodes_are_offloaded(tmp_path: Path) -> None:
    """taskResultsCompletionStatus stays in the object; with no nodes, "every step finished" is
    the step pods' to say, so the run that stays Running for want of RBAC is still named."""
    folder = _offloaded_copy(tmp_path, "task-results-rbac")

    [diagnosis] = _diagnose(folder, "team-forecast/demand-forecast-8gkqh")
    assert diagnosis.conclusion.cause == "task-results-rbac"
    assert _finding(diagnosis, "task-results")[:2] == ("FAIL", "rbac-missing")
    # every step pod finished long ago: the pods show the run stalled, the RBAC cause still comes first
    assert _finding(diagnosis, "workflow")[:2] == ("WARN", "stalled-by-pods")


# ------------------------------------------------------------------- offloaded, judged by its pods
STALLED = "offloaded-stalled"
CAPTURED = datetime(2026, 11, 3, 3, 20, tzinfo=UTC)
TRAIN_POD = "churn-model-training-k9fzt-system-container-impl-386636926"
TRAIN_DONE = datetime(2026, 11, 3, 2, 41, 13, tzinfo=UTC)  # its wait container's finishedAt


def _raw_step_pods(scenario: str) -> list[dict[str, Any]]:
    pods: dict[str, Any] = yaml.safe_load((SCENARIOS / scenario / "pods.yaml").read_text())
    return [p for p in pods["items"] if p["metadata"]["namespace"] == "team-a"]


def _step_pods(scenario: str) -> list[StepPod]:
    return [step_pod(p) for p in _raw_step_pods(scenario)]


def test_every_step_pod_finished_long_ago_is_a_stall_dated_by_the_newest_container_time() -> None:
    workflow = workflow_facts(_workflow(STALLED))
    stall = stalled_by_pods(workflow, _step_pods(STALLED), CAPTURED, 30)
    assert stall is not None
    assert stall.last is not None and stall.last.pod.name == TRAIN_POD
    assert (stall.since, stall.pods) == (TRAIN_DONE, 5)
    assert round(stall.minutes(CAPTURED), 2) == 38.78
    assert stall.describe(CAPTURED) == (
        f"no step pod has run since 02:41 UTC, 38m ago; last: pod {TRAIN_POD} finished Succeeded "
        "(5 step pods, none Running or Pending)"
    )


def test_the_threshold_counts_from_the_last_pod_activity() -> None:
    workflow, pods = workflow_facts(_workflow(STALLED)), _step_pods(STALLED)
    assert stalled_by_pods(workflow, pods, TRAIN_DONE + timedelta(minutes=29, seconds=59), 30) is None
    assert stalled_by_pods(workflow, pods, TRAIN_DONE + timedelta(minutes=30), 30) is not None


def test_a_pending_pod_means_not_stalled() -> None:
    """A pod the scheduler has not placed yet, or one in ContainerCreating, may still run."""
    raws = _raw_step_pods(STALLED)
    train = next(p for p in raws if p["metadata"]["name"] == TRAIN_POD)
    for cs in train["status"]["containerStatuses"]:
        cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
    train["status"]["phase"] = "Pending"
    pods = [step_pod(p) for p in raws]
    assert stalled_by_pods(workflow_facts(_workflow(STALLED)), pods, CAPTURED + timedelta(days=1), 30) is None


def test_a_running_pod_means_not_stalled() -> None:
    """offloaded-nodes: the training pod still runs, however long ago it started."""
    workflow = workflow_facts(_workflow("offloaded-nodes"))
    later = CAPTURED + timedelta(days=1)
    assert stalled_by_pods(workflow, _step_pods("offloaded-nodes"), later, 30) is None


def test_no_step_pod_at_all_is_judged_by_the_workflow_age() -> None:
    workflow = workflow_facts(_workflow(STALLED))
    assert workflow.started is not None
    young = workflow.started + timedelta(minutes=29)
    assert stalled_by_pods(workflow, [], young, 30) is None
    old = workflow.started + timedelta(minutes=30)
    stall = stalled_by_pods(workflow, [], old, 30)
    assert stall is not None and (stall.last, stall.since, stall.pods) == (None, workflow.started, 0)
    assert stall.describe(old).startswith("it has no step pod (none created yet, or all garbage-collected)")


def test_a_young_workflow_is_not_stalled_even_with_old_pods() -> None:
    """The Workflow's start counts as activity: a run resubmitted under old pods is not stalled."""
    workflow = replace(workflow_facts(_workflow(STALLED)), started=CAPTURED - timedelta(minutes=5))
    assert stalled_by_pods(workflow, _step_pods(STALLED), CAPTURED, 30) is None


def test_only_the_workflows_own_pods_count() -> None:
    """A namespace-wide list: another run's Running pod does not keep this one from being stalled."""
    raws = _raw_step_pods("offloaded-nodes")
    running = next(p for p in raws if p["status"]["phase"] == "Running")
    running["metadata"]["labels"]["workflows.argoproj.io/workflow"] = "another-run"
    pods = [*_step_pods(STALLED), step_pod(running)]
    assert stalled_by_pods(workflow_facts(_workflow(STALLED)), pods, CAPTURED, 30) is not None


def test_a_pod_without_container_times_is_dated_by_its_creation() -> None:
    raws = _raw_step_pods(STALLED)
    train = next(p for p in raws if p["metadata"]["name"] == TRAIN_POD)
    for key in ("initContainerStatuses", "containerStatuses"):
        train["status"].pop(key)
    pod = step_pod(train)
    assert pod.created is not None and pod.last_active == pod.created
    stall = stalled_by_pods(workflow_facts(_workflow(STALLED)), [step_pod(p) for p in raws], CAPTURED, 30)
    assert stall is not None and stall.since == pod.created


def test_known_nodes_or_a_finished_run_are_never_judged_by_pods() -> None:
    stalled, pods = _workflow(STALLED), _step_pods(STALLED)
    inline = {
        **stalled,
        "status": {k: v for k, v in stalled["status"].items() if k != "offloadNodeStatusVersion"},
    }
    assert workflow_facts(inline).nodes_known
    assert stalled_by_pods(workflow_facts(inline), pods, CAPTURED, 30) is None
    done = replace(workflow_facts(stalled), phase="Failed")
    assert stalled_by_pods(done, pods, CAPTURED, 30) is None


def test_an_offloaded_run_whose_pods_stopped_is_run_stalled_not_healthy() -> None:
    [diagnosis] = _diagnose(SCENARIOS / STALLED, "team-a/churn-model-training-k9fzt")
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == ("problem", "run-stalled")
    status, branch, summary = _finding(diagnosis, "workflow")
    assert (status, branch) == ("WARN", "stalled-by-pods")
    assert f"offloaded to Argo's persistence database (offloadNodeStatusVersion {OFFLOAD_VERSION})" in summary
    assert "`argo get team-a/churn-model-training-k9fzt`" in summary
    assert (
        f"no step pod has run since 02:41 UTC, 38m ago; last: pod {TRAIN_POD} finished Succeeded" in summary
    )
    assert _finding(diagnosis, "current-step")[:2] == ("NO_DATA", "node-status-unavailable")
    assert [p.action for p in diagnosis.proposals] == ["kfp.terminate-run"]


def test_the_sweep_counts_an_offloaded_run_stalled_by_its_pods_with_one_pod_list() -> None:
    [diagnosis] = _diagnose(SCENARIOS / STALLED, None)
    assert (diagnosis.target, diagnosis.conclusion.cause) == (
        "team-a/churn-model-training-k9fzt",
        "run-stalled",
    )
    status, branch, summary = _finding(diagnosis, "stuck-workflows")
    assert (status, branch) == ("FAIL", "stuck")
    assert (
        "no step moving for 39 min (judged from its step pods: no step pod has run since 02:41 UTC" in summary
    )
    sweep = [e for f in diagnosis.findings if f.rung == "stuck-workflows" for e in f.evidence]
    [listed] = [e for e in sweep if "unfinished Workflows" in e.summary]
    assert "1 with no step running or moving for 30 min (1 judged from their step pods" in listed.summary
    assert "not judged" not in listed.summary
    [pods] = [e for e in sweep if "workflows.argoproj.io/workflow" in e.query]
    assert "workflows.argoproj.io/workflow in (churn-model-training-k9fzt)" in pods.query.replace("%20", " ")
    assert pods.summary == (
        "5 step pods of 1 Workflows without node status in team-a: 1 with every step pod finished and "
        "none moving for 30 min"
    )


def test_the_sweep_reads_no_pod_when_every_workflow_has_its_nodes() -> None:
    [diagnosis] = _diagnose(SCENARIOS / "healthy-running", None)
    sweep = [e for f in diagnosis.findings if f.rung == "stuck-workflows" for e in f.evidence]
    assert sweep and not [e for e in sweep if "workflows.argoproj.io/workflow" in e.query]
