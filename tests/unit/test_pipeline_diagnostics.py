"""The stuck-pipeline ladder's parsers, on the exact strings real clusters print (domain.md §2)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_kfp
from kfops.diagnostics.kube.quantity import memory_for_humans, parse_quantity
from kfops.diagnostics.pipelines.backend import classify_db_line
from kfops.diagnostics.pipelines.quotas import EXCEEDED
from kfops.diagnostics.pipelines.steps import missing_object, scheduling_kind
from kfops.diagnostics.pipelines.workflows import is_run_id, workflow_facts
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            "0/5 nodes are available: 2 Insufficient nvidia.com/gpu, 3 node(s) had untolerated taint "
            "{node-role.kubernetes.io/control-plane: }. preemption: 0/5 nodes are available: "
            "2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.",
            "gpu-shortage",
        ),
        ("0/3 nodes are available: 3 Insufficient memory. preemption: …", "insufficient-resources"),
        ("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.", "taint-affinity"),
        ("0/2 nodes are available: 2 node(s) had untolerated taint(s).", "taint-affinity"),
        ("0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims.", "waiting-volume"),
        ("0/1 nodes are available: 1 Too many pods.", "unschedulable"),
    ],
)
def test_scheduler_messages_are_classified_most_specific_first(message: str, kind: str) -> None:
    assert scheduling_kind(message) == kind


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        ('secret "s3-credentials" not found', ("Secret", "s3-credentials")),
        ('configmap "kfp-launcher" not found', ("ConfigMap", "kfp-launcher")),
        ("couldn't find key password in Secret team-a/mlflow-db", ("Secret", "mlflow-db")),
        ("container has runAsNonRoot and image will run as root", None),
    ],
)
def test_create_container_config_errors_name_the_missing_object(
    message: str, missing: tuple[str, str] | None
) -> None:
    assert missing_object(message) == missing


def test_a_quota_refusal_is_parsed_into_its_parts() -> None:
    message = (
        'pods "train-pipeline-x7k2p-system-container-impl-3094823446" is forbidden: exceeded quota: '
        "kf-resource-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=4, "
        "limited: requests.nvidia.com/gpu=4"
    )
    match = EXCEEDED.search(message)
    assert match is not None
    assert match.groups() == (
        "kf-resource-quota",
        "requests.nvidia.com/gpu=1",
        "requests.nvidia.com/gpu=4",
        "requests.nvidia.com/gpu=4",
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (
            "F1120 10:02:11 main.go:137] Failed to initialize the databases. Error: dial tcp "
            "10.96.12.4:3306: connect: connection refused",
            "unreachable",
        ),
        (
            "mysql_real_connect failed: errno: 2002, error: Can't connect to MySQL server on 'mysql' (115)",
            "unreachable",
        ),
        ("Error 1045 (28000): Access denied for user 'root'@'10.0.0.7'", "access-denied"),
        ("Error 1213: Deadlock found when trying to get lock; try restarting transaction", "deadlock"),
    ],
)
def test_database_errors_in_kfp_server_logs_are_classified(line: str, kind: str) -> None:
    found = classify_db_line(f"I1120 10:00:00 starting\n{line}\n")
    assert found is not None
    assert found[0] == kind
    assert found[2] == line


def test_a_log_without_database_errors_is_not_an_error() -> None:
    assert (
        classify_db_line("I1120 10:00:00 Starting persistence agent\nI1120 10:00:01 synced 3 workflows")
        is None
    )


def test_quantities() -> None:
    assert parse_quantity("2Gi") == Decimal(2 * 1024**3)
    assert parse_quantity("500m") == Decimal("0.5")
    assert parse_quantity("1e3") == Decimal(1000)
    assert parse_quantity("lots") is None
    assert memory_for_humans(Decimal(4 * 1024**3)) == "4Gi"
    assert memory_for_humans(Decimal(1536 * 1024**2)) == "1536Mi"


def test_run_ids_are_uuids() -> None:
    assert is_run_id("3f1c9a52-6e0b-4c8e-9d1a-5b2f7e8c4a10")
    assert not is_run_id("3f1c9a52-6e0b-4c8e-9d1a-5b2f7e8c4a1")
    assert not is_run_id("team-a/train")


#: how KFP v2 sets a step's resources: a JSON podSpecPatch on the executor template
PATCH = '{"containers":[{"name":"main","resources":{"limits":{"memory":"2Gi"}}}]}'


def test_a_retried_kfp_step_is_named_after_its_task_with_its_limits() -> None:
    workflow = workflow_facts(
        {
            "metadata": {"name": "wf", "namespace": "team-a", "labels": {"pipeline/runid": "r"}},
            "spec": {
                "templates": [
                    {
                        "name": "system-container-impl",
                        "retryStrategy": {"limit": "2"},
                        "podSpecPatch": PATCH,
                    }
                ]
            },
            "status": {
                "phase": "Running",
                "startedAt": "2026-11-20T10:00:00Z",
                "nodes": {
                    "wf-1": {
                        "name": "wf.root.train.executor",
                        "type": "Retry",
                        "templateName": "system-container-impl",
                        "phase": "Running",
                        "children": ["wf-2"],
                    },
                    "wf-2": {
                        "name": "wf.root.train.executor(0)",
                        "type": "Pod",
                        "templateName": "system-container-impl",
                        "phase": "Failed",
                        "message": "OOMKilled (exit code 137)",
                        "startedAt": "2026-11-20T10:05:00Z",
                        "finishedAt": "2026-11-20T10:09:00Z",
                    },
                },
            },
        }
    )
    retry = workflow.nodes["wf-1"]
    assert retry.step == "train"
    assert workflow.nodes["wf-2"].step == "train"
    assert workflow.retry_limits == {"system-container-impl": 2}
    assert workflow.memory_limits == {"system-container-impl": "2Gi"}
    assert workflow.attempts(retry) == (workflow.nodes["wf-2"],)
    assert workflow.run_id == "r"
    last = workflow.last_progress()
    assert last is not None and last.minute == 9


def _pod_node(name: str, phase: str, finished: str, **extra: object) -> dict[str, object]:
    return {
        "name": f"wf.root.{name}.executor",
        "displayName": "executor",
        "type": "Pod",
        "templateName": "system-container-impl",
        "phase": phase,
        "startedAt": "2026-11-20T10:00:00Z",
        "finishedAt": finished,
        **extra,
    }


def test_failed_steps_are_the_failed_pod_nodes_newest_first() -> None:
    workflow = workflow_facts(
        {
            "metadata": {"name": "wf", "namespace": "team-a"},
            "status": {
                "phase": "Failed",
                "message": "child 'wf-9' failed",
                "nodes": {
                    "wf-1": _pod_node("load", "Succeeded", "2026-11-20T10:01:00Z"),
                    "wf-2": _pod_node("a", "Failed", "2026-11-20T10:02:00Z", message="Error (exit code 1)"),
                    "wf-3": _pod_node("b", "Error", "2026-11-20T10:04:00Z", message="pod deleted"),
                    "wf-4": _pod_node("c", "Failed", "2026-11-20T10:03:00Z"),
                    "wf-5": {"name": "wf.root", "type": "DAG", "phase": "Failed"},
                },
            },
        }
    )
    assert [n.step for n in workflow.failed_pod_nodes()] == ["b", "c", "a"]


def test_a_failed_run_names_its_failed_step_not_argos_child_message() -> None:
    """run-failed: Argo's status.message says only "child '…' failed"; the summary names the step."""
    folder = Path(__file__).resolve().parents[1] / "scenarios" / "stuck-pipeline" / "run-failed"
    reader = SnapshotKubeReader.open(folder)
    settings = Settings()
    [diagnosis] = Engine(reader, settings, kfp=open_kfp(settings, reader)).diagnose(
        find("stuck-pipeline"), "team-a/churn-model-training-c8w2j"
    )
    summary = next(f for f in diagnosis.findings if f.rung == "workflow").summary
    assert summary.endswith(
        "child 'churn-model-training-c8w2j-1631551839' failed; failed: step evaluate-model (Pod executor, "
        "template system-container-impl) Failed: Error (exit code 1)"
    )
    assert "step evaluate-model" in diagnosis.conclusion.summary


def test_a_failed_steps_exit_code_comes_from_its_pod_when_the_node_has_none(tmp_path: Path) -> None:
    """A node without outputs.exitCode (and a bare message): the pod's main container says 1."""
    folder = tmp_path / "run-failed"
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "scenarios" / "stuck-pipeline" / "run-failed", folder
    )
    path = folder / "workflows.yaml"
    loaded = yaml.safe_load(path.read_text())
    workflow = loaded["items"][0] if "items" in loaded else loaded
    node = workflow["status"]["nodes"]["churn-model-training-c8w2j-1110201843"]
    node["message"] = "Error"
    del node["outputs"]
    path.write_text(yaml.safe_dump(loaded))
    reader = SnapshotKubeReader.open(folder)
    settings = Settings()
    [diagnosis] = Engine(reader, settings, kfp=open_kfp(settings, reader)).diagnose(
        find("stuck-pipeline"), "team-a/churn-model-training-c8w2j"
    )
    summary = next(f for f in diagnosis.findings if f.rung == "workflow").summary
    assert summary.endswith("template system-container-impl) Failed: Error (exit code 1)")
