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
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_kfp
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
    assert _finding(diagnosis, "workflow")[:2] == ("NO_DATA", "node-status-unavailable")
