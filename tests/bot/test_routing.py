"""Alert labels → (runbook, target): built-in rules, rules files, and what does not route."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfops.bot.requests import Reply
from kfops.bot.routing import Router, RoutesError, load_rules, to_request, unique


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("alertname", ["KubeNodeNotReady", "KubeNodeUnreachable", "KfopsGPUNodeNotReady"])
def test_node_alerts_route_to_gpu_node_down_with_the_node_label(alertname: str) -> None:
    decision = Router().route({"alertname": alertname, "node": "gpu-a100-3", "severity": "warning"})

    assert decision.route is not None
    assert (decision.route.ladder, decision.route.target) == ("gpu-node-down", "gpu-a100-3")
    assert decision.route.target_label == "node"
    assert decision.route.rule == "gpu-node-down-alerts"


def test_the_kfops_runbook_label_names_the_ladder_by_id_or_alias() -> None:
    decision = Router().route({"alertname": "SomethingOurs", "kfops_runbook": "gpu", "node": "gpu-h100-1"})

    assert decision.route is not None
    assert (decision.route.ladder, decision.route.target) == ("gpu-node-down", "gpu-h100-1")
    assert decision.route.rule == "kfops-runbook-label"


def test_an_unknown_kfops_runbook_falls_through_and_the_reason_says_why() -> None:
    decision = Router().route({"alertname": "Mystery", "kfops_runbook": "no-such-ladder"})

    assert decision.route is None
    assert "no-such-ladder" in decision.reason
    assert "Mystery" in decision.reason


def test_exported_node_wins_over_the_scrapers_node_label() -> None:
    labels = {"alertname": "KubeNodeNotReady", "node": "cpu-infra-1", "exported_node": "gpu-a100-3"}

    route = Router().route(labels).route

    assert route is not None
    assert (route.target, route.target_label) == ("gpu-a100-3", "exported_node")


def test_kubernetes_node_is_used_when_node_is_absent() -> None:
    route = Router().route({"alertname": "KubeNodeNotReady", "kubernetes_node": "gpu-a100-7"}).route

    assert route is not None
    assert (route.target, route.target_label) == ("gpu-a100-7", "kubernetes_node")


def test_instance_is_a_target_only_when_relabelled_to_a_bare_name() -> None:
    router = Router()

    scrape_address = router.route({"alertname": "KubeNodeNotReady", "instance": "10.0.3.7:9100"})
    bare_name = router.route({"alertname": "KubeNodeNotReady", "instance": "gpu-a100-3"})

    assert scrape_address.route is not None and scrape_address.route.target is None
    assert bare_name.route is not None and bare_name.route.target == "gpu-a100-3"


def test_an_alert_without_a_valid_node_label_asks_for_the_sweep() -> None:
    decision = Router().route({"alertname": "KubeNodeNotReady", "node": "Not A Node Name; rm -rf"})

    assert decision.route is not None
    assert decision.route.target is None
    assert "sweep" in decision.reason


def test_an_unmatched_alert_returns_none_with_a_reason() -> None:
    decision = Router().route({"alertname": "KubePersistentVolumeFillingUp", "namespace": "kubeflow"})

    assert decision.route is None
    assert "KubePersistentVolumeFillingUp" in decision.reason


@pytest.mark.parametrize("alertname", ["Watchdog", "InfoInhibitor"])
def test_alerting_plumbing_never_routes(alertname: str) -> None:
    decision = Router().route({"alertname": alertname, "kfops_runbook": "gpu-node-down"})

    assert decision.route is None
    assert "plumbing" in decision.reason


def test_a_rules_file_routes_before_the_built_in_rules(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
routes:
  - name: dcgm
    match:
      alertname: [DCGMXidErrors, DCGMGPUFellOff]
    match_re:
      cluster: "prod-.*"
    ladder: gpu
    target_label: [Hostname, node]
""",
    )
    router = Router.from_file(path)

    dcgm = router.route({"alertname": "DCGMXidErrors", "cluster": "prod-eu", "Hostname": "gpu-a100-9"})
    other_cluster = router.route({"alertname": "DCGMXidErrors", "cluster": "dev", "Hostname": "gpu-a100-9"})
    builtin = router.route({"alertname": "KubeNodeNotReady", "node": "gpu-a100-3"})

    assert dcgm.route is not None
    assert (dcgm.route.ladder, dcgm.route.target, dcgm.route.rule) == ("gpu-node-down", "gpu-a100-9", "dcgm")
    assert dcgm.route.target_label == "Hostname"
    assert other_cluster.route is None
    assert builtin.route is not None and builtin.route.target == "gpu-a100-3"


def test_defaults_false_keeps_only_the_files_rules(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "defaults: false\nroutes:\n  - match: {alertname: Ours}\n    ladder: gpu-node-down\n",
    )
    router = Router.from_file(path)

    assert router.route({"alertname": "Ours", "node": "gpu-1"}).route is not None
    builtin = router.route({"alertname": "KubeNodeNotReady", "node": "gpu-1"})
    assert builtin.route is None
    assert "no rule matches" in builtin.reason


def test_no_routes_file_means_the_built_in_rules() -> None:
    router = Router.from_file("")

    assert router.rules == ()
    assert router.route({"alertname": "KubeNodeNotReady", "node": "gpu-1"}).route is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("routes: [", "not valid YAML"),
        ("- just a list", "must be a mapping"),
        ("routs: []", "unknown keys ['routs']"),
        ("routes: {a: 1}", "'routes' must be a list"),
        ("defaults: maybe\nroutes: []", "'defaults' must be true or false"),
        ("routes:\n  - match: {alertname: X}\n    ladder: no-such", "routes[0]: unknown runbook 'no-such'"),
        ("routes:\n  - match: {alertname: X}", "routes[0]: 'ladder' must name a runbook"),
        ("routes:\n  - ladder: gpu-node-down", "needs 'match' or 'match_re'"),
        (
            "routes:\n  - name: bad\n    match_re: {node: '('}\n    ladder: gpu-node-down",
            "routes[0] (bad): match_re.node: bad regex",
        ),
        ("routes:\n  - match: {alertname: X}\n    ladder: gpu\n    when: now", "unknown keys ['when']"),
        ("routes:\n  - match: {alertname: {a: b}}\n    ladder: gpu", "match.alertname must be a string"),
        ("routes:\n  - match: {alertname: X}\n    ladder: gpu\n    target_label: 3", "'target_label' must"),
        ("routes:\n  - 42", "routes[0]: must be a mapping"),
    ],
)
def test_a_malformed_rules_file_is_refused_with_a_clear_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)

    with pytest.raises(RoutesError) as caught:
        Router.from_file(path)

    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoutesError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")


def test_requests_carry_the_route_and_sorted_labels_and_collapse_per_target() -> None:
    router = Router()
    labels_a = {"alertname": "KubeNodeNotReady", "node": "gpu-1"}
    labels_b = {"alertname": "KubeNodeUnreachable", "node": "gpu-1"}
    requests = []
    for labels in (labels_a, labels_b):
        route = router.route(labels).route
        assert route is not None
        requests.append(to_request(route, labels, source="alertmanager", requested_by="x", reply=Reply()))

    collapsed = unique(requests)

    assert len(collapsed) == 1
    assert collapsed[0].labels == (("alertname", "KubeNodeNotReady"), ("node", "gpu-1"))
    assert (collapsed[0].ladder, collapsed[0].target, collapsed[0].source) == (
        "gpu-node-down",
        "gpu-1",
        "alertmanager",
    )


def test_the_stalled_pipelines_alert_names_no_run_and_asks_for_the_sweep() -> None:
    decision = Router().route({"alertname": "KfopsPipelineRunsStalled", "kfops_runbook": "stuck-pipeline"})

    assert decision.route is not None
    assert (decision.route.ladder, decision.route.target) == ("stuck-pipeline", None)


@pytest.mark.parametrize(
    ("labels", "target", "label"),
    [
        (
            {"run_id": "3F1C9A52-6E0B-4C8E-9D1A-5B2F7E8C4A10"},
            "3f1c9a52-6e0b-4c8e-9d1a-5b2f7e8c4a10",
            "run_id",
        ),
        ({"workflow": "train-x7k2p", "namespace": "team-a"}, "team-a/train-x7k2p", "workflow"),
        (
            {
                "workflow": "train-x7k2p",
                "namespace": "argo",
                "exported_workflow": "w2",
                "exported_namespace": "t",
            },
            "t/w2",
            "exported_workflow",
        ),
        ({"workflow": "train-x7k2p"}, None, None),  # a Workflow without its namespace names nothing
        ({"run_id": "not-a-uuid"}, None, None),
    ],
)
def test_a_pipeline_alert_names_a_run_id_or_a_namespaced_workflow(
    labels: dict[str, str], target: str | None, label: str | None
) -> None:
    route = Router().route({"alertname": "PipelineStuck", "kfops_runbook": "stuck-pipeline", **labels}).route

    assert route is not None
    assert (route.target, route.target_label) == (target, label)


@pytest.mark.parametrize(
    "alertname",
    [
        "KfopsKServeErrorBudgetFastBurn",
        "KfopsKServeLatencyP95High",
        "KfopsKServeColdStartsHigh",
        "KfopsKServeReadyFlapping",
    ],
)
def test_kserve_alerts_route_to_kserve_flapping_with_namespace_and_inferenceservice(alertname: str) -> None:
    labels = {"alertname": alertname, "namespace": "team-a", "inferenceservice": "sklearn-iris"}

    decision = Router().route(labels)

    assert decision.route is not None
    assert (decision.route.ladder, decision.route.target) == ("kserve-flapping", "team-a/sklearn-iris")
    assert decision.route.target_label == "inferenceservice"


@pytest.mark.parametrize(
    ("labels", "target", "label"),
    [
        (
            {"inferenceservice": "sklearn-iris", "namespace": "team-a"},
            "team-a/sklearn-iris",
            "inferenceservice",
        ),
        (
            {
                "inferenceservice": "sklearn-iris",
                "namespace": "monitoring",
                "exported_inferenceservice": "bert",
                "exported_namespace": "team-nlp",
            },
            "team-nlp/bert",
            "exported_inferenceservice",
        ),
        ({"inferenceservice": "sklearn-iris"}, None, None),  # no namespace: names nothing, so the sweep
        ({"inferenceservice": "Sklearn_Iris", "namespace": "team-a"}, None, None),
        ({"inferenceservice": "sklearn-iris", "namespace": "team.a"}, None, None),  # a subdomain, not a label
        ({"inferenceservice": "x" * 64, "namespace": "team-a"}, None, None),  # longer than a label
    ],
)
def test_a_kserve_alert_names_a_namespaced_inferenceservice_or_asks_for_the_sweep(
    labels: dict[str, str], target: str | None, label: str | None
) -> None:
    route = Router().route({"alertname": "ModelDown", "kfops_runbook": "kserve", **labels}).route

    assert route is not None
    assert route.ladder == "kserve-flapping"
    assert (route.target, route.target_label) == (target, label)
