"""`kfops diagnose galera-migration-failure`: bad input is one clear sentence, never a traceback.

The diagnosis itself is tested on the real Galera cluster (tests/galera/test_galera_ladder.py)
and offline on snapshots (tests/scenarios); these are the command line's own refusals.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.cli.test_cli import kfops

NO_CREDENTIALS = {"KFOPS_GALERA_USER": "", "KFOPS_GALERA_PASSWORD": ""}


def _kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig for an API server that is not there: the Kubernetes rungs fail, kfops goes on."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_a_malformed_node_address_is_a_usage_error() -> None:
    result = kfops("diagnose", "galera-migration-failure", "--galera-node", "db:0:1:x")
    assert result.returncode == 2
    assert "is not a Galera node address (HOST:PORT" in result.stderr


def test_a_schema_name_that_is_not_an_identifier_is_refused() -> None:
    result = kfops("diagnose", "galera", "--galera-node", "db:3306", "--schema", "x`; DROP DATABASE y")
    assert result.returncode == 2
    assert "is not a schema name" in result.stderr


def test_galera_options_do_not_apply_to_other_ladders() -> None:
    result = kfops("diagnose", "gpu-node-down", "--galera-node", "db:3306")
    assert result.returncode == 2
    assert "--galera-node and --schema apply to galera-migration-failure" in result.stderr


def test_missing_credentials_say_where_to_put_them(tmp_path: Path) -> None:
    result = kfops(
        "diagnose",
        "galera",
        "--galera-node",
        "127.0.0.1:9",
        "--kubeconfig",
        str(_kubeconfig(tmp_path)),
        env=NO_CREDENTIALS,
    )
    assert result.returncode == 3
    assert "no Galera credentials: set KFOPS_GALERA_USER and KFOPS_GALERA_PASSWORD" in result.stderr


def test_an_unreachable_node_is_an_error_finding_not_a_crash(tmp_path: Path) -> None:
    result = kfops(
        "diagnose",
        "galera",
        "--galera-node",
        "127.0.0.1:9",
        "--kubeconfig",
        str(_kubeconfig(tmp_path)),
        "--output",
        "json",
        "--deadline",
        "20",
        env={"KFOPS_GALERA_USER": "kfops", "KFOPS_GALERA_PASSWORD": "pw"},
    )
    assert result.returncode == 3
    document = yaml.safe_load(result.stdout)
    findings = {f["rung"]: f for f in document["findings"]}
    assert findings["galera-reachable"]["status"] == "ERROR"
    assert "127.0.0.1:9: cannot reach the source" in findings["galera-reachable"]["summary"]
    assert document["status"] == "inconclusive"
    assert "pw" not in result.stdout.replace("password", "")


def test_snapshot_and_live_nodes_cannot_be_mixed() -> None:
    snapshot = Path(__file__).resolve().parents[1] / "galera" / "kube" / "base"
    result = kfops("diagnose", "galera", "--snapshot", str(snapshot), "--galera-node", "db:3306")
    assert result.returncode == 2
    assert "--snapshot replays the Galera answers it recorded" in result.stderr
