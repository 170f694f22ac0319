"""Why the Argo workflow-controller crash-loops, from its previous log and its last termination.

The lines are Argo's and its libraries' own (see src/kfops/diagnostics/pipelines/controller_logs.py
for the files read): ``WorkflowController.UpdateConfig`` logs ``Failed to register watch for
controller config map: %v`` at fatal level through logrus (text format: quotes in the message are
escaped), the error coming from Argo's ``config/controller.go`` or sigs.k8s.io/yaml's ``yaml.go``;
RBAC refusals and leader-election failures are client-go's, copied from argoproj issues. The
ladder runs on the scenario snapshots (tests/scenarios/stuck-pipeline) and on copies changed here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_kfp
from kfops.diagnostics.pipelines.controller_logs import ControllerCrash, classify_controller_log
from kfops.model import Diagnosis
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios" / "stuck-pipeline"
TARGET = "team-a/churn-model-training-z7v4k"
PREVIOUS_LOG = "logs/kubeflow/workflow-controller-d5kcggmlqf-jlsr8/workflow-controller.previous.log"

#: argoproj/argo-workflows issue #3523 (a controller log, verbatim): config/controller.go's own error
CONFIG_KEY_LINE = (
    'level=fatal msg="Failed to register watch for controller config map: if you have an item in '
    "your config map named 'config', you must only have one item\""
)
#: UpdateConfig's fatal line around sigs.k8s.io/yaml UnmarshalStrict's unknown-field error (the
#: containerRuntimeExecutor key Argo v3.4 removed), as logrus' text formatter prints it
UNKNOWN_FIELD_LINE = (
    'time="2026-11-09T06:13:12.254Z" level=fatal msg="Failed to register watch for controller config '
    'map: error unmarshaling JSON: while decoding JSON: json: unknown field \\"containerRuntimeExecutor\\""'
)
#: the same with a YAML syntax error (sigs.k8s.io/yaml: "error converting YAML to JSON: " + go-yaml's)
BAD_YAML_LINE = (
    'time="2026-11-09T06:13:12.254Z" level=fatal msg="Failed to register watch for controller config '
    'map: error converting YAML to JSON: yaml: line 4: mapping values are not allowed in this context"'
)
#: argoproj/argo-workflows issue #10405: client-go's reflector, refused by the API server
REFLECTOR_FORBIDDEN = (
    "W0130 14:16:32.340178       1 reflector.go:324] pkg/mod/k8s.io/client-go@v0.24.3/tools/cache/"
    "reflector.go:167: failed to list *v1alpha1.WorkflowArtifactGCTask: workflowartifactgctasks.argoproj.io "
    'is forbidden: User "system:serviceaccount:argo:argo" cannot list resource "workflowartifactgctasks" '
    'in API group "argoproj.io" in the namespace "argo"'
)
#: argoproj/argo-workflows issue #1609: the same at the cluster scope
CLUSTER_FORBIDDEN = (
    "E0914 22:42:56.770690       1 reflector.go:126] github.com/argoproj/argo/workflow/controller/"
    "controller.go:159: Failed to list *v1alpha1.WorkflowTemplate: workflowtemplates.argoproj.io is "
    'forbidden: User "system:serviceaccount:argo:argo" cannot list resource "workflowtemplates" in API '
    'group "argoproj.io" at the cluster scope'
)
#: UpdateConfig's fatal line when the ConfigMap read itself is refused (the API server's wording,
#: escaped by logrus)
CONFIGMAP_FORBIDDEN = (
    'time="2026-11-09T06:13:12.254Z" level=fatal msg="Failed to register watch for controller config '
    'map: configmaps \\"workflow-controller-configmap\\" is forbidden: User '
    '\\"system:serviceaccount:kubeflow:argo\\" cannot get resource \\"configmaps\\" in API group \\"\\" in '
    'the namespace \\"kubeflow\\""'
)
#: argoproj/argo-workflows issue #9324 (v3.3.8): leader election cannot reach the API server
LEASE_TIMEOUT = (
    'E0808 20:46:20.179509       1 leaderelection.go:367] Failed to update lock: Put "https://x.x.x.x:443/'
    'apis/coordination.k8s.io/v1/namespaces/argo/leases/workflow-controller": context deadline exceeded'
)
RENEW_FAILED = (
    "I0808 20:46:20.179617       1 leaderelection.go:283] failed to renew lease argo/workflow-controller: "
    "timed out waiting for the condition"
)
#: argoproj/argo-workflows issue #7613 (v3.2.6)
LOCK_ETCD = (
    "E0121 07:54:48.551558       1 leaderelection.go:325] error retrieving resource lock "
    "argo/workflow-controller: etcdserver: request timed out"
)
#: the controller's ordinary start (controller-down's previous log, from Argo's config.go/controller.go)
STARTING = (
    'time="2026-11-09T06:13:06.046Z" level=info msg="index config" indexWorkflowSemaphoreKeys=true\n'
    'time="2026-11-09T06:13:06.046Z" level=info msg="config map" name=workflow-controller-configmap\n'
)


@pytest.mark.parametrize(
    ("log", "cls", "field"),
    [
        (STARTING + UNKNOWN_FIELD_LINE, "config-invalid", "containerRuntimeExecutor"),
        (STARTING + CONFIG_KEY_LINE, "config-invalid", ""),
        (STARTING + BAD_YAML_LINE, "config-invalid", ""),
        (STARTING + REFLECTOR_FORBIDDEN, "rbac-forbidden", ""),
        (STARTING + CONFIGMAP_FORBIDDEN, "rbac-forbidden", ""),
        (STARTING + LOCK_ETCD + "\n" + LEASE_TIMEOUT + "\n" + RENEW_FAILED, "api-unreachable", ""),
        (STARTING, "unknown", ""),
        ("", "unknown", ""),
    ],
)
def test_real_controller_lines_are_classified(log: str, cls: str, field: str) -> None:
    got, line, got_field, _ = classify_controller_log(log)
    assert (got, got_field) == (cls, field)
    if cls != "unknown":  # the line itself, cut around the match when long
        assert line and line.strip("…") in log


def test_the_quoted_line_is_the_matching_line_not_the_last() -> None:
    _, line, _, _ = classify_controller_log(UNKNOWN_FIELD_LINE + "\n" + STARTING)
    assert line == UNKNOWN_FIELD_LINE


def test_rbac_refusals_name_the_missing_permission_quoted_or_escaped() -> None:
    *_, namespaced = classify_controller_log(REFLECTOR_FORBIDDEN)
    *_, cluster = classify_controller_log(CLUSTER_FORBIDDEN)
    *_, escaped = classify_controller_log(CONFIGMAP_FORBIDDEN)
    assert namespaced is not None and cluster is not None and escaped is not None
    assert (namespaced.verb, namespaced.resource, namespaced.group, namespaced.namespace) == (
        "list",
        "workflowartifactgctasks",
        "argoproj.io",
        "argo",
    )
    assert namespaced.service_account == ("argo", "argo")
    assert (cluster.resource, cluster.namespace) == ("workflowtemplates", "")
    assert (escaped.verb, escaped.resource, escaped.group, escaped.namespace) == (
        "get",
        "configmaps",
        "",
        "kubeflow",
    )


def test_a_configmap_refusal_is_rbac_not_a_config_that_does_not_parse() -> None:
    """Both go through UpdateConfig's 'Failed to register watch …' line; only the error tells."""
    assert classify_controller_log(CONFIGMAP_FORBIDDEN)[0] == "rbac-forbidden"
    assert classify_controller_log(UNKNOWN_FIELD_LINE)[0] == "config-invalid"


def test_config_errors_win_over_earlier_rbac_warnings() -> None:
    assert classify_controller_log(REFLECTOR_FORBIDDEN + "\n" + UNKNOWN_FIELD_LINE)[0] == "config-invalid"


@pytest.mark.parametrize(
    ("crash", "helps"),
    [
        (ControllerCrash("config-invalid", "p", "workflow-controller", line=UNKNOWN_FIELD_LINE), False),
        (ControllerCrash("rbac-forbidden", "p", "workflow-controller", line=CLUSTER_FORBIDDEN), False),
        (ControllerCrash("api-unreachable", "p", "workflow-controller", line=LOCK_ETCD), False),
        (ControllerCrash("oom", "p", "workflow-controller", memory_limit="1Gi", restarts=4), False),
        (ControllerCrash("unknown", "p", "workflow-controller"), True),
        (ControllerCrash("unread", "p", "workflow-controller", error="forbidden"), True),
    ],
)
def test_only_an_unexplained_crash_is_worth_a_restart(crash: ControllerCrash, helps: bool) -> None:
    assert crash.restart_helps is helps
    said = crash.describe()
    assert ("a restart may help" in said) is helps
    if crash.line:
        assert crash.line in said


# ------------------------------------------------------------------------------- the whole ladder
def _diagnose(folder: Path, target: str | None = TARGET) -> Diagnosis:
    reader = SnapshotKubeReader.open(folder)
    settings = Settings()
    [diagnosis] = Engine(reader, settings, kfp=open_kfp(settings, reader)).diagnose(
        find("stuck-pipeline"), target
    )
    return diagnosis


def _summary(diagnosis: Diagnosis, rung: str) -> str:
    return next(f for f in diagnosis.findings if f.rung == rung).summary


def test_a_configmap_that_does_not_parse_is_named_and_never_restarted() -> None:
    diagnosis = _diagnose(SCENARIOS / "controller-config-invalid")
    summary = _summary(diagnosis, "workflow-controller")
    assert "workflow-controller-configmap does not parse" in summary
    assert "Go struct field Config.parallelism of type int" in summary
    assert "a restart would crash the same way" in summary
    assert diagnosis.conclusion.summary.startswith("The Argo workflow-controller crash-loops")
    assert "a restart would crash the same way" in diagnosis.conclusion.summary
    [fix] = diagnosis.proposals
    assert fix.action == "argo.fix-controller-config" and fix.mode.value == "manual"
    assert "kubectl -n kubeflow edit configmap workflow-controller-configmap" in "\n".join(fix.steps)
    assert "Config.parallelism of type int" in fix.steps[0]


def test_an_unknown_key_is_named_in_the_fix() -> None:
    diagnosis = _diagnose(SCENARIOS / "controller-down")
    [fix] = diagnosis.proposals
    assert fix.action == "argo.fix-controller-config"
    assert "Remove or rename the key 'containerRuntimeExecutor'" in fix.steps[1]


def test_an_oom_killed_controller_gets_a_memory_step_not_a_restart() -> None:
    diagnosis = _diagnose(SCENARIOS / "controller-oom")
    assert "OOMKilled (limit 1Gi" in _summary(diagnosis, "workflow-controller")
    [fix] = diagnosis.proposals
    assert fix.action == "argo.raise-controller-memory"
    assert "1536Mi" in fix.title
    assert "--limits=memory=1536Mi" in fix.steps[0]
    # OOMKilled comes from the last termination state: no log was read for it
    evidence = next(f for f in diagnosis.findings if f.rung == "workflow-controller").evidence
    assert not any("log" in e.query for e in evidence)


def _with_previous_log(tmp_path: Path, text: str | None, faults: list[dict[str, str]] | None = None) -> Path:
    folder = tmp_path / "snapshot"
    shutil.copytree(SCENARIOS / "controller-config-invalid", folder)
    log = folder / PREVIOUS_LOG
    if text is None:
        log.unlink()
    else:
        log.write_text(text)
    if faults:
        meta = folder / "kfops-snapshot.yaml"
        loaded = yaml.safe_load(meta.read_text())
        meta.write_text(yaml.safe_dump({**loaded, "faults": faults}))
    return folder


def test_an_rbac_crash_names_the_missing_rule(tmp_path: Path) -> None:
    diagnosis = _diagnose(_with_previous_log(tmp_path, STARTING + CLUSTER_FORBIDDEN))
    assert "the API server refuses one of its reads (RBAC)" in _summary(diagnosis, "workflow-controller")
    [fix] = diagnosis.proposals
    assert fix.action == "rbac.grant-controller" and fix.target == "serviceaccount/argo/argo"
    steps = "\n".join(fix.steps)
    assert '{apiGroups: ["argoproj.io"], resources: ["workflowtemplates"], verbs: ["list"]}' in steps
    assert (
        "kubectl auth can-i list workflowtemplates.argoproj.io --as system:serviceaccount:argo:argo" in steps
    )


def test_an_unreachable_api_server_is_said_without_a_restart(tmp_path: Path) -> None:
    diagnosis = _diagnose(_with_previous_log(tmp_path, STARTING + LOCK_ETCD))
    assert [p.action for p in diagnosis.proposals] == ["kube.check-apiserver-path"]


def test_an_unexplained_crash_keeps_the_restart(tmp_path: Path) -> None:
    diagnosis = _diagnose(_with_previous_log(tmp_path, STARTING))
    assert "names no known cause" in _summary(diagnosis, "workflow-controller")
    assert [p.action for p in diagnosis.proposals] == ["deployment.restart"]


@pytest.mark.parametrize("how", ["missing", "forbidden"])
def test_an_unreadable_previous_log_is_evidence_not_a_crash(tmp_path: Path, how: str) -> None:
    faults = (
        [{"verb": "log", "resource": "pods/log", "error": "forbidden", "message": 'pods "x" is forbidden'}]
        if how == "forbidden"
        else None
    )
    diagnosis = _diagnose(_with_previous_log(tmp_path, None if how == "missing" else STARTING, faults))
    finding = next(f for f in diagnosis.findings if f.rung == "workflow-controller")
    assert finding.status.value == "FAIL"
    assert "previous log could not be read" in finding.summary
    assert diagnosis.conclusion.cause == "workflow-controller-down"
    assert [p.action for p in diagnosis.proposals] == ["deployment.restart"]


def test_the_log_is_read_once_and_only_for_a_crash_loop() -> None:
    healthy = _diagnose(SCENARIOS / "run-failed", "team-a/churn-model-training-c8w2j")
    evidence = next(f for f in healthy.findings if f.rung == "workflow-controller").evidence
    assert not any("/log" in e.query for e in evidence)
    crashing = _diagnose(SCENARIOS / "controller-config-invalid")
    evidence = next(f for f in crashing.findings if f.rung == "workflow-controller").evidence
    assert len([e for e in evidence if "/log" in e.query]) == 1
