"""`kfops diagnose stuck-pipeline`: targets are checked before anything is read, and a target
that names nothing is one clear sentence, never a traceback.

The ladder itself is tested offline on snapshots (tests/scenarios) and live through the parity
harness (tests/live/test_parity.py); these are the command line's own answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import kfops

RUN_ID = "3f1c9a52-6e0b-4c8e-9d1a-5b2f7e8c4a10"


def _snapshot(tmp_path: Path, objects: list[dict[str, object]]) -> Path:
    (tmp_path / "kfops-snapshot.yaml").write_text(
        yaml.safe_dump({"capturedAt": "2026-11-20T10:30:00Z", "cluster": "cli-test"})
    )
    (tmp_path / "objects.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    return tmp_path


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--run-id", "not-a-uuid"], "'not-a-uuid' is not a KFP run id: expected a UUID"),
        (["--run-id", RUN_ID, "--workflow", "wf", "--namespace", "ns"], "either --run-id or --workflow"),
        (["--workflow", "wf"], "--workflow and --namespace go together"),
        (["--namespace", "team-a"], "--workflow and --namespace go together"),
        (["--workflow", "Bad_Name", "--namespace", "team-a"], "'Bad_Name' is not a valid Workflow name"),
        (["--workflow", "wf", "--namespace", "team.a"], "'team.a' is not a valid namespace"),
    ],
)
def test_malformed_targets_are_refused_before_any_read(args: list[str], said: str) -> None:
    result = kfops("diagnose", "stuck-pipeline", *args)
    assert result.returncode == 2
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_pipeline_options_do_not_apply_to_other_ladders() -> None:
    result = kfops("diagnose", "gpu-node-down", "--run-id", RUN_ID)
    assert result.returncode == 2
    assert "apply to stuck-pipeline, not to gpu-node-down" in result.stderr


def test_a_snapshot_cannot_be_combined_with_a_kfp_url(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path, [])
    result = kfops(
        "diagnose", "stuck-pipeline", "--snapshot", str(snapshot), "--kfp-url", "http://127.0.0.1:9"
    )
    assert result.returncode == 2
    assert "cannot be combined with --kfp-url" in result.stderr


def test_an_unknown_workflow_is_a_usage_error_naming_where_to_look(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path, [])
    result = kfops(
        "diagnose", "stuck-pipeline", "--snapshot", str(snapshot), "--workflow", "wf", "--namespace", "team-a"
    )
    assert result.returncode == 2
    assert "no Argo Workflow team-a/wf: `kubectl get workflows -n team-a`" in result.stderr


def test_a_run_id_no_workflow_carries_and_no_kfp_api_is_a_usage_error(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path, [])
    result = kfops("diagnose", "stuck-pipeline", "--snapshot", str(snapshot), "--run-id", RUN_ID.upper())
    assert result.returncode == 2
    assert f"no Argo Workflow carries pipeline/runid={RUN_ID} in any namespace" in result.stderr
    assert "set kfp_url" in result.stderr


PROFILE: dict[str, object] = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "Profile",
    "metadata": {"name": "team-a"},
}
CONTROLLER: list[dict[str, object]] = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "workflow-controller", "namespace": "kubeflow", "uid": "wc"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "workflow-controller"}}},
        "status": {"replicas": 1, "availableReplicas": 1},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "workflow-controller-configmap", "namespace": "kubeflow"},
    },
]


def test_a_sweep_with_nothing_running_is_healthy_and_says_what_it_examined(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path, [PROFILE, *CONTROLLER])
    result = kfops("diagnose", "stuck-pipeline", "--snapshot", str(snapshot), "-o", "json")
    assert result.returncode == 0, result.stdout
    diagnosis = yaml.safe_load(result.stdout)
    assert diagnosis["status"] == "healthy"
    assert "the unfinished pipeline runs" in diagnosis["conclusion"]["summary"]
    assert "0 unfinished Workflows in 1 Profile namespaces" in diagnosis["findings"][0]["summary"]


def test_a_sweep_says_the_controller_is_down_before_any_run_is_stuck_long_enough(tmp_path: Path) -> None:
    down = {**CONTROLLER[0], "status": {"replicas": 1, "availableReplicas": 0}}
    snapshot = _snapshot(tmp_path, [PROFILE, down, CONTROLLER[1]])
    result = kfops("diagnose", "stuck-pipeline", "--snapshot", str(snapshot), "-o", "json")
    assert result.returncode == 1, result.stdout
    diagnosis = yaml.safe_load(result.stdout)
    assert (diagnosis["status"], diagnosis["conclusion"]["cause"]) == ("problem", "workflow-controller-down")
    assert (
        "workflow-controller is down: workflow-controller 0/1 available" in diagnosis["conclusion"]["summary"]
    )
    assert [p["action"] for p in diagnosis["proposals"]] == ["deployment.restart"]
