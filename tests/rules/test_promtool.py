"""kfops' Prometheus alert rules (deploy/prometheus): promtool checks, unit tests, conventions.

`promtool check rules` validates both rule files (the plain one and the PrometheusRule's spec),
and `promtool test rules` runs every unit-test file in deploy/prometheus/tests. A missing
promtool FAILS these tests, and never skips them: `bash scripts/testenv/install-prometheus.sh`
installs it. The Python checks hold every alert to the conventions `kfops serve` routes on:
`kfops_runbook` names one of the five ladders, `runbook_url` points at that ladder's page, and
the severity, summary, description and flapping guard (`for:`) are all present.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus"
PLAIN = RULES_DIR / "kfops-alerts.yaml"
OPERATOR = RULES_DIR / "prometheusrule.yaml"
GENERATOR = RULES_DIR / "generate-prometheusrule.sh"
UNIT_TESTS = sorted((RULES_DIR / "tests").glob("*.yaml"))
INSTALL = "scripts/testenv/install-prometheus.sh"

LADDERS = frozenset(
    {
        "gpu-node-down",
        "stuck-pipeline",
        "kserve-flapping",
        "profile-controller-crashloop",
        "galera-migration-failure",
    }
)
SEVERITIES = frozenset({"critical", "warning", "info"})
RUNBOOK_URL = "https://github.com/kfops/kfops/blob/main/docs/runbooks/{}.md"
PROMTOOL_TIMEOUT_S = 100


def _promtool() -> str:
    """promtool's path, or a FAILED test (not an error, not a skip) naming the install script."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            f"promtool is not on PATH: run `bash {INSTALL}` (installs Debian's prometheus package). "
            "The alert-rule tests never skip.",
            pytrace=False,
        )
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_S, check=False, cwd=RULES_DIR
    )


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = _load(PLAIN)["groups"]
    return groups


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _groups() for rule in group["rules"] if "alert" in rule]


def _rules_found(output: str) -> int:
    match = re.search(r"SUCCESS: (\d+) rules found", output)
    assert match, output
    return int(match.group(1))


# --- promtool ---------------------------------------------------------------------------------


def test_promtool_checks_the_plain_rule_file() -> None:
    result = _run(_promtool(), "check", "rules", str(PLAIN))

    assert result.returncode == 0, result.stdout + result.stderr
    assert _rules_found(result.stdout + result.stderr) == sum(len(g["rules"]) for g in _groups())


def test_promtool_checks_the_prometheusrule_spec(tmp_path: Path) -> None:
    # promtool reads plain rule files only: check the PrometheusRule's spec as one.
    spec = tmp_path / "prometheusrule-spec.yaml"
    spec.write_text(yaml.safe_dump(_load(OPERATOR)["spec"], sort_keys=False), encoding="utf-8")

    result = _run(_promtool(), "check", "rules", str(spec))

    assert result.returncode == 0, result.stdout + result.stderr
    assert _rules_found(result.stdout + result.stderr) == sum(len(g["rules"]) for g in _groups())


def test_there_are_unit_tests() -> None:
    assert UNIT_TESTS, f"no promtool unit tests in {RULES_DIR / 'tests'}"


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=[p.name for p in UNIT_TESTS])
def test_promtool_unit_tests_pass(unit_test: Path) -> None:
    result = _run(_promtool(), "test", "rules", str(unit_test))
    output = result.stdout + result.stderr

    assert result.returncode == 0, output
    assert "SUCCESS" in output, output
    assert "FAILED" not in output, output


# --- the two files hold the same rules ----------------------------------------------------------


def test_the_prometheusrule_holds_the_same_rules_as_the_plain_file() -> None:
    operator = _load(OPERATOR)

    assert operator["apiVersion"] == "monitoring.coreos.com/v1"
    assert operator["kind"] == "PrometheusRule"
    assert operator["metadata"]["name"]
    assert operator["spec"]["groups"] == _groups()


def test_the_prometheusrule_is_what_the_generator_prints() -> None:
    result = subprocess.run(["bash", str(GENERATOR)], capture_output=True, text=True, timeout=30, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout == OPERATOR.read_text(encoding="utf-8"), (
        f"{OPERATOR.name} is stale: run `bash {GENERATOR.relative_to(ROOT)} > {OPERATOR.relative_to(ROOT)}`"
    )


# --- conventions kfops routes on ------------------------------------------------------------------


def test_alert_names_are_unique_and_share_the_kfops_prefix() -> None:
    names = [alert["alert"] for alert in _alerts()]

    assert len(names) == len(set(names)), names
    assert all(re.fullmatch(r"Kfops[A-Z][A-Za-z0-9]+", name) for name in names), names


@pytest.mark.parametrize("alert", _alerts(), ids=lambda a: a["alert"])
def test_every_alert_carries_the_labels_and_annotations_kfops_routes_on(alert: dict[str, Any]) -> None:
    labels = alert.get("labels", {})
    annotations = alert.get("annotations", {})

    assert labels.get("severity") in SEVERITIES
    assert labels.get("kfops_runbook") in LADDERS
    assert annotations.get("runbook_url") == RUNBOOK_URL.format(labels["kfops_runbook"])
    assert annotations.get("summary", "").strip()
    # The description is per alert: it must template something from the firing series.
    assert "{{" in annotations.get("description", "")


@pytest.mark.parametrize("alert", _alerts(), ids=lambda a: a["alert"])
def test_every_alert_has_a_flapping_guard(alert: dict[str, Any]) -> None:
    # One odd scrape must not page: a non-zero `for:` on every alert.
    assert re.fullmatch(r"[1-9][0-9]*[smhd]", str(alert.get("for", ""))), alert.get("for")


def test_the_five_ladders_all_have_alerts() -> None:
    assert {alert["labels"]["kfops_runbook"] for alert in _alerts()} == LADDERS


def test_every_alert_has_a_firing_and_a_not_firing_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        for case in _load(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {alert["alert"] for alert in _alerts()}

    assert names - firing == set(), "alerts without a firing test case"
    assert names - quiet == set(), "alerts without a not-firing test case"
