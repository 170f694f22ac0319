"""The kserve-flapping ladder assembled: rungs in order, causes in order, proposals.

It walks what a senior SRE checks when an InferenceService will not stay Ready — its
conditions and Ready history, the deployment mode, the Knative Revisions and traffic, the
autoscaler, the predictor pods (images, scheduling, crashes, wedged replicas), memory, probes,
evictions, the nodes, and with Prometheus the concurrency target (Little's law) and the SLOs.
Causes are ordered so that what takes replicas away from outside (a node, memory pressure, a
failing canary) is named before what the model server does to itself, and the vaguer causes
(scaling, SLO, unexplained flapping) come last.
"""

from __future__ import annotations

from collections.abc import Callable

from kfops.diagnostics.kserve.isvc import check_isvc_target
from kfops.model import Cause, Findings, Ladder
from kfops.runbooks.causes import answered, answered_either, summary_of
from kfops.runbooks.kserve_flapping.pod_rungs import (
    PREDICTOR_EVICTIONS,
    PREDICTOR_MEMORY,
    PREDICTOR_NODES,
    PREDICTOR_PODS,
    PREDICTOR_PROBES,
)
from kfops.runbooks.kserve_flapping.proposals import propose
from kfops.runbooks.kserve_flapping.service_rungs import (
    AUTOSCALER_RUNG,
    DEPLOYMENT_MODE,
    ISVC_CONDITIONS,
    REVISIONS_RUNG,
    SWEEP_RUNG,
    select_targets,
)
from kfops.runbooks.kserve_flapping.traffic_rungs import CONCURRENCY, SLO

#: the KfopsKServe* alerts of deploy/prometheus/kfops-alerts.yaml (they carry kfops_runbook too)
ALERTS = (
    "KfopsKServeErrorBudgetFastBurn",
    "KfopsKServeErrorBudgetSlowBurn",
    "KfopsKServeLatencyP50High",
    "KfopsKServeLatencyP95High",
    "KfopsKServeLatencyP99High",
    "KfopsKServeColdStartsHigh",
    "KfopsKServeReadyFlapping",
)


def _quote(prefix: str, *answers: tuple[str, tuple[str, ...]]) -> Callable[[Findings], str]:
    """The prefix and the answer of the first rung that answered one of its branches."""

    def say(found: Findings) -> str:
        for rung, branches in answers:
            finding = found.get(rung)
            if finding is not None and finding.branch in branches:
                return f"{prefix}: {finding.summary}"
        return prefix

    return say


CAUSES = (
    Cause(
        "node-not-ready",
        "a node running a predictor replica is not Ready",
        answered("predictor-nodes", "node-not-ready"),
        summary_of("predictor-nodes", "A node of the predictor is down"),
    ),
    Cause(
        "node-pressure-evictions",
        "the kubelet evicts predictor pods: their node runs low on memory or disk",
        answered_either(("predictor-evictions", ("evicted",)), ("predictor-nodes", ("node-pressure",))),
        _quote(
            "Predictor pods are evicted under node pressure",
            ("predictor-evictions", ("evicted",)),
            ("predictor-nodes", ("node-pressure",)),
        ),
    ),
    Cause(
        "canary-failing",
        "a canary Revision fails while traffic is split; the previous Revision serves",
        answered("revisions", "canary-failing"),
        summary_of("revisions", "The canary is failing"),
    ),
    Cause(
        "image-pull",
        "a predictor image cannot be pulled",
        answered("predictor-pods", "image-pull"),
        summary_of("predictor-pods", "The predictor's image cannot be pulled"),
    ),
    Cause(
        "oom-killed",
        "the model server runs out of memory (OOMKilled, exit code 137)",
        answered("predictor-memory", "oom"),
        summary_of("predictor-memory", "The model server is OOM-killed"),
    ),
    Cause(
        "probe-too-short",
        "the startup/liveness probe kills the model server before the model has loaded",
        answered("predictor-probes", "probe-too-short"),
        summary_of("predictor-probes", "The probes kill the model server while it loads"),
    ),
    Cause(
        "rollout-stuck",
        "the newest Revision never becomes Ready (progress deadline, crash), or none ever did",
        answered("revisions", "rollout-stuck", "no-ready-revision"),
        summary_of("revisions", "The rollout is stuck"),
        confidence="medium",
    ),
    Cause(
        "unschedulable",
        "a predictor pod fits no node (GPUs, CPU/memory, taints)",
        answered("predictor-pods", "pending"),
        summary_of("predictor-pods", "A predictor pod cannot be scheduled"),
    ),
    Cause(
        "cold-start-storm",
        "scale-to-zero with slow cold starts: requests keep waiting for a pod and a model load",
        answered("autoscaler", "cold-start-storm"),
        summary_of("autoscaler", "Scale-to-zero cold-starts too often"),
    ),
    Cause(
        "concurrency-target-off",
        "the autoscaler's concurrency target does not fit the model's latency (Little's law)",
        answered("concurrency", "target-off"),
        summary_of("concurrency", "The concurrency target is miscalibrated"),
        confidence="medium",
    ),
    Cause(
        "wedged-replica",
        "one replica runs but never becomes Ready while the others serve",
        answered("predictor-pods", "wedged"),
        summary_of("predictor-pods", "A predictor replica is wedged"),
        confidence="medium",
    ),
    Cause(
        "predictor-crashloop",
        "the model server (or storage-initializer) crash-loops",
        answered("predictor-pods", "crashloop"),
        summary_of("predictor-pods", "The predictor crash-loops"),
    ),
    Cause(
        "cannot-scale",
        "the autoscaler wants more pods than it gets",
        answered("autoscaler", "cannot-scale"),
        summary_of("autoscaler", "The predictor cannot scale"),
        confidence="low",
    ),
    Cause(
        "slo-breached",
        "the service breaks its latency, error or cold-start objectives and no rung found why",
        answered("slo", "breached"),
        summary_of("slo", "The SLO is breached"),
        confidence="low",
    ),
    Cause(
        "flapping-unexplained",
        "Ready flaps or is down and no rung found why (check the conditions and the KServe controller)",
        answered_either(
            ("isvc-conditions", ("flapping", "down", "unreconciled")), ("flapping-services", ("found",))
        ),
        summary_of(
            "isvc-conditions",
            "The InferenceService is not staying Ready and no rung found why",
            "flapping-services",
        ),
        confidence="low",
    ),
)

LADDER = Ladder(
    id="kserve-flapping",
    title="KServe predictor flapping",
    meaning="A KServe InferenceService does not stay Ready: its Ready condition is False, or goes up and "
    "down, or it answers too slowly or with errors — its predictor keeps losing replicas, failing to roll "
    "out a new Revision, or scaling the wrong way.",
    impact="Clients of the model get 5xx, timeouts or slow answers; with scale-to-zero every cold start "
    "makes a request wait for a pod and a model load. A failing canary or a stuck rollout keeps the old "
    "model serving, so a fix or a new model never reaches production.",
    target_input="inferenceservice",
    subject="the InferenceServices",
    rungs=(
        ISVC_CONDITIONS,
        DEPLOYMENT_MODE,
        REVISIONS_RUNG,
        AUTOSCALER_RUNG,
        PREDICTOR_PODS,
        PREDICTOR_MEMORY,
        PREDICTOR_PROBES,
        PREDICTOR_EVICTIONS,
        PREDICTOR_NODES,
        CONCURRENCY,
        SLO,
    ),
    causes=CAUSES,
    propose=propose,
    check_target=check_isvc_target,
    sweep=SWEEP_RUNG,
    select_targets=select_targets,
    aliases=("kserve", "isvc", "inferenceservice"),
    alerts=ALERTS,
    usage="Run `kfops diagnose kserve-flapping NAMESPACE/NAME` (or `--namespace NS --name NAME`) for one "
    "InferenceService; without a target, kfops lists every InferenceService, takes those not Ready now and "
    "— with Prometheus and the kube-state-metrics config in deploy/prometheus/ksm-inferenceservice.yaml — "
    "those whose Ready changed more than `kserve_flap_changes` (3) times in `kserve_flap_window_min` (60) "
    "minutes, and — from kube-state-metrics' replica counts — those that scaled up from zero at least "
    "`kserve_slo_cold_starts_per_h` (10) times in the last hour (what KfopsKServeColdStartsHigh pages for); "
    "it examines the worst three: down first, then flapping, then cold-starting. The concurrency and SLO "
    "rungs need Prometheus "
    "(`KFOPS_PROMETHEUS_URL`) and Knative's request metrics (`request-metrics-protocol: prometheus` in "
    "knative-serving/config-observability); without them the ladder answers from the Kubernetes API. "
    "Add `--verbose` for the evidence and exact queries.",
    mitigation=(
        "If a node of the predictor is down or under memory pressure, fix the node first (`kfops diagnose "
        "gpu-node-down --node N` for a GPU node); raise the model server's memory request to its real use "
        "(kserve.set-resources) so the kubelet does not evict it first.",
        "If a canary Revision fails, send the traffic back to the previous Revision (kserve.rollback-canary) "
        "and fix the canary before trying again.",
        "If the model server is OOMKilled because its memory limit is too tight, raise the request and the "
        "limit (kserve.set-resources: the limit × 1.5, request = limit); a new Revision rolls out with it.",
        "If the startup or liveness probe kills the model while it loads, give it a startupProbe long enough "
        "for the load (the exact patch is proposed).",
        "If cold starts hammer a scale-to-zero service, set minReplicas to 1 (kserve.set-min-replicas): one "
        "warm replica costs less than every first request waiting for a pod and a model load.",
        "If the concurrency target does not fit the model's latency, recalibrate it to the Little's-law "
        "value kfops computes (kserve.set-scale-target), then watch P95 and the replica count.",
        "If one replica is wedged while the others serve, delete it (pod.delete); if the image, the "
        "scheduler or a crash is the cause, fix the spec as the manual steps say.",
    ),
)
