"""`kfops diagnose kserve-flapping`: TARGET or --namespace/--name, checked before anything is read,
and an InferenceService that does not exist is one clear sentence, never a traceback.

The ladder itself is tested on snapshots (tests/unit/test_kserve_diagnostics.py, tests/scenarios);
these are the command line's own answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import kfops
from tests.unit.test_kserve_diagnostics import ISVC, NODE, _pa, _pod, _revision


def _snapshot(tmp_path: Path, objects: list[dict[str, object]]) -> Path:
    (tmp_path / "kfops-snapshot.yaml").write_text(
        yaml.safe_dump({"capturedAt": "2026-11-20T10:30:00Z", "cluster": "cli-test"})
    )
    (tmp_path / "objects.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    return tmp_path


HEALTHY = [
    ISVC,
    _revision("sklearn-iris-predictor-00001", 1),
    _pa("sklearn-iris-predictor-00001"),
    _pod("x2x9k"),
    NODE,
]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["team-a"], "'team-a' is not an InferenceService as NAMESPACE/NAME"),
        (["team-a/x/y"], "is not an InferenceService as NAMESPACE/NAME"),
        (["Team-A/sklearn-iris"], "'Team-A' is not a valid namespace"),
        (["team-a/sklearn_iris"], "'sklearn_iris' is not a valid InferenceService name"),
        (["team-a/" + "m" * 64], "is not a valid InferenceService name"),
        (["--namespace", "team-a"], "--namespace and --name go together"),
        (["--name", "sklearn-iris"], "--namespace and --name go together"),
        (
            ["team-a/sklearn-iris", "--name", "other"],
            "either TARGET (NAMESPACE/NAME) or --namespace with --name",
        ),
        (["--namespace", "team.a", "--name", "sklearn-iris"], "'team.a' is not a valid namespace"),
        (
            ["--run-id", "3f1c9a52-6e0b-4c8e-9d1a-5b2f7e8c4a10"],
            "apply to stuck-pipeline, not to kserve-flapping",
        ),
    ],
)
def test_malformed_targets_are_refused_before_any_read(args: list[str], said: str) -> None:
    result = kfops("diagnose", "kserve-flapping", *args)
    assert result.returncode == 2
    assert said in result.stderr


def test_a_target_and_name_do_not_apply_to_other_ladders() -> None:
    positional = kfops("diagnose", "gpu-node-down", "team-a/sklearn-iris")
    named = kfops("diagnose", "stuck-pipeline", "--name", "sklearn-iris")
    assert positional.returncode == 2 and "applies to kserve-flapping" in positional.stderr
    assert named.returncode == 2 and "--name applies to kserve-flapping" in named.stderr


def test_an_unknown_inferenceservice_is_a_usage_error_naming_where_to_look(tmp_path: Path) -> None:
    result = kfops(
        "diagnose", "kserve-flapping", "team-a/nope", "--snapshot", str(_snapshot(tmp_path, HEALTHY))
    )
    assert result.returncode == 2
    assert (
        "InferenceService team-a/nope not found (`kubectl get inferenceservices -n team-a` lists them)"
        in result.stderr
    )


@pytest.mark.parametrize(
    "args", [["team-a/sklearn-iris"], ["--namespace", "team-a", "--name", "sklearn-iris"], ["isvc-alias"]]
)
def test_the_positional_target_and_the_options_diagnose_the_same_service(
    tmp_path: Path, args: list[str]
) -> None:
    snapshot = _snapshot(tmp_path, HEALTHY)
    ladder = "kserve-flapping"
    if args == ["isvc-alias"]:
        ladder, args = "isvc", ["team-a/sklearn-iris"]
    result = kfops("diagnose", ladder, *args, "--snapshot", str(snapshot), "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["target"] == "team-a/sklearn-iris"
    assert document["status"] == "healthy"


def test_without_a_target_the_sweep_examines_what_is_not_ready(tmp_path: Path) -> None:
    down = json.loads(json.dumps(ISVC))
    for condition in down["status"]["conditions"]:
        if condition["type"] in ("Ready", "PredictorReady"):
            condition.update(status="False", reason="RevisionMissing", message="Revision not ready")
    result = kfops(
        "diagnose", "kserve", "--snapshot", str(_snapshot(tmp_path, [down, *HEALTHY[1:]])), "-o", "json"
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["target"] == "team-a/sklearn-iris"
    rungs = {f["rung"]: f["status"] for f in document["findings"]}
    assert rungs["flapping-services"] == "FAIL" and rungs["isvc-conditions"] == "FAIL"
