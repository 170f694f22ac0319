"""The `kfops` command through its real entry point: exit codes, JSON schema, clear errors.

Exit codes: 0 healthy, 1 problem found, 2 usage error, 3 could not diagnose. A user never sees
a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import jsonschema
import pytest
import typer
from typer.testing import CliRunner

from kfops.cli import main as cli_main
from tests.support.scenarios import ROOT, Case, cases, settings_file

SCHEMA = json.loads((ROOT / "docs" / "json-schema" / "diagnosis-v1.json").read_text())
EXAMPLES = ROOT / "examples" / "snapshots" / "gpu-node-down"
UNREACHABLE = EXAMPLES / "node-unreachable-training-stuck"
HEALTHY = EXAMPLES / "healthy-fleet"
GALERA_EXAMPLES = ROOT / "examples" / "snapshots" / "galera-migration-failure"


def kfops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "kfops", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def validate(document: dict[str, object]) -> None:
    items = document["items"] if document.get("schema") == "kfops.dev/diagnosis-list/v1" else [document]
    assert isinstance(items, list)
    for item in items:
        jsonschema.validate(item, SCHEMA)


def test_help_lists_the_commands() -> None:
    result = kfops("--help")
    assert result.returncode == 0
    for command in ("runbooks", "explain", "diagnose", "demo"):
        assert command in result.stdout


def test_runbooks_and_explain() -> None:
    listed = kfops("runbooks")
    assert listed.returncode == 0 and "gpu-node-down" in listed.stdout
    explained = kfops("explain", "gpu-node-down")
    assert explained.returncode == 0
    for rung in ("node-ready", "gpu-allocatable", "gpu-operands", "spare-capacity"):
        assert f"`{rung}`" in explained.stdout
    assert "otherwise" in explained.stdout  # every rung shows its default branch


ALL_CASES = cases()


def _verdicts(stdout: str) -> list[tuple[str, str, str | None]]:
    document = json.loads(stdout)
    validate(document)
    items = document.get("items", [document])
    return [(i["target"], i["status"], i["conclusion"]["cause"]) for i in items]


def _expected(case: Case) -> list[tuple[str, str, str | None]]:
    return [(e["target"], e["status"], e.get("cause")) for e in case.diagnoses]


def _raise_exit(code: int) -> NoReturn:
    raise typer.Exit(code)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_every_scenario_of_every_ladder_through_the_cli_as_json(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each kfops-expected.yaml case, as its args say, through the command line's own parsing and exit
    codes (in-process: a subprocess each would cost a minute; the entry point is tested below). The
    CLI leaves with os._exit while a probe thread lingers, which would end pytest: here it raises."""
    monkeypatch.setattr(cli_main, "_exit", _raise_exit)
    env = {"KFOPS_PROMETHEUS_URL": "", "COLUMNS": "160"}
    if (config := settings_file(case.scenario)) is not None:
        env["KFOPS_CONFIG"] = str(config)
    args = ["diagnose", case.ladder, "--snapshot", str(case.scenario), *case.args, "-o", "json"]
    result = CliRunner().invoke(cli_main.app, args, env=env)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception
    )
    assert result.exit_code == case.exit, result.stdout[-2000:] + result.stderr
    if case.exit == 2:  # a named target that does not exist: one sentence on stderr, no document
        assert "not found" in result.stderr and not result.stdout.strip()
        return
    assert _verdicts(result.stdout) == _expected(case)


@pytest.mark.parametrize("ladder", ["gpu-node-down", "kserve-flapping"])
def test_the_real_entry_point_diagnoses_a_scenario_as_json(ladder: str) -> None:
    case = next(c for c in ALL_CASES if c.ladder == ladder and c.exit == 1)
    result = kfops("diagnose", case.ladder, "--snapshot", str(case.scenario), *case.args, "-o", "json")
    assert result.returncode == case.exit, result.stdout[-2000:] + result.stderr
    assert _verdicts(result.stdout) == _expected(case)


def test_text_output_shows_the_ladder_and_proposals() -> None:
    result = kfops("diagnose", "gpu-node-down", "--snapshot", str(UNREACHABLE), "--verbose")
    assert result.returncode == 1
    assert "PROBLEM" in result.stdout and "node-ready" in result.stdout
    assert "node.out-of-service-taint" in result.stdout
    assert "GET /api/v1/nodes/" in result.stdout  # --verbose shows the exact queries


def test_markdown_output() -> None:
    result = kfops("diagnose", "gpu-node-down", "--snapshot", str(UNREACHABLE), "-o", "markdown")
    assert result.returncode == 1
    assert "| | Rung | Answer |" in result.stdout and "### Proposed next steps" in result.stdout


def test_healthy_fleet_exits_zero() -> None:
    result = kfops("diagnose", "gpu-node-down", "--snapshot", str(HEALTHY))
    assert result.returncode == 0, result.stdout
    assert "HEALTHY" in result.stdout


def test_demo_runs_every_bundled_incident() -> None:
    result = kfops("demo")
    assert result.returncode == 0, result.stderr
    for scenario in (*EXAMPLES.iterdir(), *GALERA_EXAMPLES.iterdir()):
        assert scenario.name in result.stdout


def test_demo_diagnoses_the_galera_examples_from_their_recorded_answers() -> None:
    """Without the snapshot's galera/ answers the Galera ladder could only say no node is configured."""
    result = kfops("demo", "--output", "json")
    assert result.returncode == 0, result.stderr
    documents = {(d["runbook"], d["scenario"]): d for d in json.loads(result.stdout)}
    examples = [c for c in cases("galera-migration-failure") if c.scenario.parent == GALERA_EXAMPLES]
    assert {c.scenario.name for c in examples} >= {"healthy", "migration-dirty", "ddl-blocked"}
    for case in examples:
        [expected] = case.diagnoses
        document = documents[(case.ladder, case.scenario.name)]
        got = (document["target"], document["status"], document["conclusion"]["cause"])
        assert got == (expected["target"], expected["status"], expected.get("cause")), case.id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diagnose", "no-such-ladder", "--snapshot", str(HEALTHY)], "unknown runbook 'no-such-ladder'"),
        (["explain", "nope"], "unknown runbook 'nope'"),
        (
            ["diagnose", "gpu-node-down", "--node", "Bad_Name!", "--snapshot", str(HEALTHY)],
            "not a valid node name",
        ),
        (
            ["diagnose", "gpu-node-down", "--node", "gpu-zz-9", "--snapshot", str(HEALTHY)],
            "node 'gpu-zz-9' not found",
        ),
        (["diagnose", "gpu-node-down", "--snapshot", "/nonexistent/snap"], "cannot use snapshot"),
        (["diagnose", "gpu-node-down", "--output", "yaml", "--snapshot", str(HEALTHY)], "yaml"),
    ],
)
def test_bad_input_is_one_clear_sentence_and_exit_2(args: list[str], message: str) -> None:
    result = kfops(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_unknown_node_names_the_gpu_nodes_that_exist() -> None:
    result = kfops("diagnose", "gpu-node-down", "--node", "gpu-zz-9", "--snapshot", str(HEALTHY))
    assert "GPU nodes in this cluster:" in result.stderr


def test_no_kubeconfig_is_exit_3_with_advice(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": ""}
    result = kfops("diagnose", "gpu-node-down", "--node", "gpu-1", env=env)
    assert result.returncode == 3
    assert "cannot connect to Kubernetes" in result.stderr


def test_unreachable_api_server_is_exit_3_in_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [
            {
                "name": "c",
                "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True},
            }
        ],
        "users": [{"name": "u", "user": {"token": "abc"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    kubeconfig.write_text(json.dumps(config))
    result = kfops(
        "diagnose", "gpu-node-down", "--node", "gpu-1", "--kubeconfig", str(kubeconfig), "--deadline", "20"
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "could not diagnose anything" in result.stderr and f"127.0.0.1:{port}" in result.stderr
    assert result.stderr.count("\n") == 1
