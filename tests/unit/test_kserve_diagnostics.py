"""The kserve-flapping ladder's parsers and arithmetic on the exact objects and strings real
KServe v0.16 / Knative 1.21 / kubelet clusters write (domain.md §3), and the whole ladder on
small snapshots written here: a healthy service raises no alarm, each fault names its cause.
"""

from __future__ import annotations

import copy
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.snapshot.prometheus import SnapshotPromReader
from kfops.diagnostics.kserve.arithmetic import Calibration, Objectives, breaches, calibrate
from kfops.diagnostics.kserve.isvc import deployment_mode, isvc_facts, normalise_mode
from kfops.diagnostics.kserve.knative import hpa_facts, pa_facts, revision_facts
from kfops.diagnostics.kserve.predictor import (
    PodEvent,
    Predictor,
    PredictorPod,
    Termination,
    evictions,
    is_oom,
    oom_kills,
    predictor_pod,
    probe_killed,
)
from kfops.diagnostics.kserve.sweep import Inventory, candidates
from kfops.diagnostics.kube.events import event_facts
from kfops.diagnostics.kube.timefmt import parse_duration
from kfops.diagnostics.prometheus import kserve_queries as q
from kfops.model import Diagnosis, Status, Verdict
from kfops.runbooks.engine import Engine
from kfops.runbooks.kserve_flapping import LADDER
from kfops.runbooks.kserve_flapping.proposals import round_up
from kfops.settings import Settings

NOW = "2026-11-20T10:30:00Z"
GI = Decimal(2**30)

ISVC: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {
        "name": "sklearn-iris",
        "namespace": "team-a",
        "uid": "6f1d2c3a-9b1e-4a2b-9c3d-4e5f6a7b8c9d",
        "creationTimestamp": "2026-11-19T08:00:00Z",
        "annotations": {"serving.kserve.io/deploymentMode": "Serverless"},
    },
    "spec": {
        "predictor": {
            "minReplicas": 1,
            "model": {
                "modelFormat": {"name": "sklearn"},
                "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                "resources": {
                    "requests": {"cpu": "1", "memory": "4Gi"},
                    "limits": {"cpu": "1", "memory": "4Gi"},
                },
            },
        }
    },
    "status": {
        "deploymentMode": "Serverless",
        "url": "http://sklearn-iris.team-a.example.com",
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": "2026-11-19T08:02:00Z"}
            for t in (
                "IngressReady",
                "LatestDeploymentReady",
                "PredictorConfigurationReady",
                "PredictorReady",
                "PredictorRouteReady",
                "Ready",
                "RoutesReady",
            )
        ],
        "components": {
            "predictor": {
                "latestCreatedRevision": "sklearn-iris-predictor-00001",
                "latestReadyRevision": "sklearn-iris-predictor-00001",
                "latestRolledoutRevision": "sklearn-iris-predictor-00001",
                "traffic": [
                    {"latestRevision": True, "percent": 100, "revisionName": "sklearn-iris-predictor-00001"}
                ],
            }
        },
    },
}


def _revision(name: str, generation: int, ready: bool = True, **extra: Any) -> dict[str, Any]:
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": "2026-11-19T08:02:00Z"}
        for t in ("Active", "ContainerHealthy", "ResourcesAvailable", "Ready")
    ]
    if not ready:
        conditions = [
            {
                "type": "ContainerHealthy",
                "status": "False",
                "reason": "ExitCode137",
                "message": "Container failed with: OOMKilled",
                "lastTransitionTime": "2026-11-20T10:10:00Z",
            },
            {
                "type": "Ready",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "Initial scale was never achieved",
                "lastTransitionTime": "2026-11-20T10:10:00Z",
            },
        ]
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "creationTimestamp": extra.get("created", "2026-11-19T08:00:05Z"),
            "labels": {
                "serving.knative.dev/service": "sklearn-iris-predictor",
                "serving.knative.dev/configurationGeneration": str(generation),
                "serving.kserve.io/inferenceservice": "sklearn-iris",
            },
            "annotations": {
                "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
                "autoscaling.knative.dev/min-scale": str(extra.get("min_scale", 1)),
                **extra.get("annotations", {}),
            },
        },
        "spec": {"containerConcurrency": 0},
        "status": {"conditions": conditions, "actualReplicas": 1, "desiredReplicas": 1},
    }


def _pa(name: str, desired: int = 1, actual: int = 1, min_scale: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
        "kind": "PodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "annotations": {
                "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
                "autoscaling.knative.dev/metric": "concurrency",
                "autoscaling.knative.dev/min-scale": str(min_scale),
            },
        },
        "spec": {"containerConcurrency": 0, "protocolType": "http1", "reachability": "Reachable"},
        "status": {"desiredScale": desired, "actualScale": actual, "serviceName": name},
    }


def _pod(suffix: str, **changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"sklearn-iris-predictor-00001-deployment-7c9b8d5f4-{suffix}",
            "namespace": "team-a",
            "uid": f"0a0a0a0a-2222-4b3c-8d4e-0000000000{len(suffix):02d}",
            "creationTimestamp": "2026-11-19T08:00:10Z",
            "labels": {
                "serving.kserve.io/inferenceservice": "sklearn-iris",
                "component": "predictor",
                "serving.knative.dev/revision": "sklearn-iris-predictor-00001",
                "serving.knative.dev/service": "sklearn-iris-predictor",
            },
        },
        "spec": {
            "nodeName": "cpu-node-1",
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "kserve/sklearnserver:v0.16.0",
                    "resources": {
                        "requests": {"cpu": "1", "memory": "4Gi"},
                        "limits": {"cpu": "1", "memory": "4Gi"},
                    },
                    "livenessProbe": {"tcpSocket": {"port": 8080}},
                },
                {
                    "name": "queue-proxy",
                    "image": "gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.21.1",
                },
            ],
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-11-19T08:00:10Z",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-19T08:01:50Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-19T08:00:10Z"},
            ],
            "containerStatuses": [
                {
                    "name": "kserve-container",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": "2026-11-19T08:00:40Z"}},
                },
                {
                    "name": "queue-proxy",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": "2026-11-19T08:00:40Z"}},
                },
            ],
        },
    }
    for path, value in changes.items():
        target = pod
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return pod


NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "cpu-node-1"},
    "status": {
        "conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "lastTransitionTime": "2026-11-01T00:00:00Z",
            },
        ]
    },
}


def _oom_pod() -> dict[str, Any]:
    return _pod(
        "oom01",
        **{
            "status.containerStatuses": [
                {
                    "name": "kserve-container",
                    "ready": False,
                    "restartCount": 6,
                    "state": {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": "back-off 5m0s restarting failed container=kserve-container "
                            "pod=sklearn-iris-predictor-00001-deployment-7c9b8d5f4-oom01_team-a",
                        }
                    },
                    "lastState": {
                        "terminated": {
                            "exitCode": 137,
                            "reason": "OOMKilled",
                            "startedAt": "2026-11-20T10:20:00Z",
                            "finishedAt": "2026-11-20T10:24:00Z",
                        }
                    },
                },
                {"name": "queue-proxy", "ready": True, "restartCount": 0, "state": {"running": {}}},
            ]
        },
    )


def _event(pod: str, reason: str, message: str, kind: str = "Warning", field: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.17f0a", "namespace": "team-a"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "team-a", "fieldPath": field},
        "reason": reason,
        "message": message,
        "type": kind,
        "count": 4,
        "firstTimestamp": "2026-11-20T10:05:00Z",
        "lastTimestamp": "2026-11-20T10:25:00Z",
    }


def _snapshot(tmp: Path, objects: list[dict[str, Any]], answers: dict[str, list[Any]] | None = None) -> Path:
    (tmp / "kfops-snapshot.yaml").write_text(yaml.safe_dump({"capturedAt": NOW, "cluster": "unit"}))
    (tmp / "objects.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    if answers is not None:
        (tmp / "prometheus").mkdir()
        entries = [
            {
                "query": query,
                "type": "instant",
                "result": [{"metric": m, "value": [1763634600, v]} for m, v in r],
            }
            for query, r in answers.items()
        ]
        (tmp / "prometheus" / "queries.yaml").write_text(yaml.safe_dump(entries))
    return tmp


def _diagnose(root: Path, target: str | None = "team-a/sklearn-iris") -> list[Diagnosis]:
    reader = SnapshotKubeReader.open(root)
    prom = SnapshotPromReader.open(reader.store)
    return Engine(reader, Settings(), prom).diagnose(LADDER, target)


def _healthy() -> list[dict[str, Any]]:
    return [
        copy.deepcopy(ISVC),
        _revision("sklearn-iris-predictor-00001", 1),
        _pa("sklearn-iris-predictor-00001"),
        _pod("x2x9k"),
        NODE,
    ]


def _requests(
    rate: str, sum_rate: str, p50: str, p95: str, p99: str, errors: str | None = None
) -> dict[str, Any]:
    ns, name = "team-a", "sklearn-iris"
    answers: dict[str, Any] = {
        q.request_rate(ns, name, True): [({}, rate)],
        q.latency_sum_rate(ns, name, True): [({}, sum_rate)],
        q.latency_quantile(ns, name, True, 0.5): [({}, p50)],
        q.latency_quantile(ns, name, True, 0.95): [({}, p95)],
        q.latency_quantile(ns, name, True, 0.99): [({}, p99)],
        q.ready_changes(ns, name, 60): [({"namespace": ns, "name": name, "type": "Ready"}, "0")],
        q.cold_starts(ns, name, 60): [({}, "0")],
    }
    if errors is not None:
        answers[q.error_rate(ns, name, True)] = [({}, errors)]
    return answers


# ---------------------------------------------------------------- parsers
def test_the_inferenceservice_is_read_as_kserve_writes_it() -> None:
    isvc = isvc_facts(ISVC)

    assert (isvc.ref, isvc.predictor, isvc.ready_now, isvc.stopped) == (
        "team-a/sklearn-iris",
        "sklearn-iris-predictor",
        True,
        False,
    )
    assert (isvc.latest_created, isvc.latest_ready) == ("sklearn-iris-predictor-00001",) * 2
    assert (isvc.resources.where, isvc.resources.memory_limit) == ("model", "4Gi")
    assert isvc.min_scale == 1 and not isvc.split


@pytest.mark.parametrize(
    ("status", "annotation", "default", "mode"),
    [
        ("Serverless", "", "Knative", "Knative"),
        ("RawDeployment", "Serverless", "Knative", "Standard"),
        ("", "RawDeployment", "Knative", "Standard"),
        ("", "ModelMesh", "Knative", "ModelMesh"),
        ("", "", "Standard", "Standard"),
        ("", "", "Serverless", "Knative"),
    ],
)
def test_the_deployment_mode_comes_from_status_then_annotation_then_the_default(
    status: str, annotation: str, default: str, mode: str
) -> None:
    raw = copy.deepcopy(ISVC)
    raw["status"]["deploymentMode"] = status
    raw["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": annotation} if annotation else {}
    assert deployment_mode(isvc_facts(raw), default).mode == mode
    assert normalise_mode("rawdeployment") == "Standard"


def test_a_failed_revision_names_its_reason_and_deadline() -> None:
    revision = revision_facts(
        _revision(
            "sklearn-iris-predictor-00002",
            2,
            ready=False,
            annotations={"serving.knative.dev/progress-deadline": "20m"},
        )
    )

    assert revision.failed and not revision.ready
    assert revision.problem is not None and revision.problem.reason == "ExitCode137"
    assert revision.progress_deadline_s == 1200
    assert (
        parse_duration("600s") == 600 and parse_duration("1h30m") == 5400 and parse_duration("soon") is None
    )


def test_podautoscaler_and_hpa_are_reduced_to_desired_actual_and_target() -> None:
    pa = pa_facts(_pa("sklearn-iris-predictor-00001", desired=3, actual=1, min_scale=0))
    hpa = hpa_facts(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "sklearn-iris-predictor", "namespace": "team-a"},
            "spec": {
                "minReplicas": 2,
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
            "status": {"currentReplicas": 2, "desiredReplicas": 2},
        }
    )

    assert (pa.desired, pa.actual, pa.min_scale, pa.metric) == (3, 1, 0, "concurrency")
    assert (hpa.desired, hpa.actual, hpa.min_scale, hpa.max_scale, hpa.metric, hpa.target) == (
        2,
        2,
        2,
        5,
        "cpu",
        80,
    )


def _predictor(pods: list[dict[str, Any]], events: list[dict[str, Any]] | None = None) -> Predictor:
    parsed: tuple[PredictorPod, ...] = tuple(predictor_pod(p) for p in pods)
    found = tuple(
        PodEvent(event_facts(e), e["involvedObject"]["kind"], e["involvedObject"]["name"], "")
        for e in events or []
    )
    return Predictor(isvc_facts(ISVC), parsed, found, None)


def test_an_oom_kill_is_read_from_the_last_state_and_a_probe_kill_is_not_oom() -> None:
    oom = _oom_pod()
    [kill] = oom_kills(_predictor([oom]))
    assert (kill.container, kill.reason, kill.exit_code, kill.limit) == (
        "kserve-container",
        "OOMKilled",
        137,
        "4Gi",
    )

    # exit 137 without the OOMKilled reason is SIGKILL: an OOM kill unless the kubelet killed it for a probe
    name = oom["metadata"]["name"]
    sigkill = Termination("kserve-container", "Error", 137, None, False)
    killing = _event(
        name, "Killing", "Container kserve-container failed liveness probe, will be restarted", "Normal"
    )
    assert is_oom(sigkill, name, frozenset())
    assert not is_oom(sigkill, name, probe_killed(_predictor([oom], [killing]).events))


def test_an_eviction_names_the_node_the_resource_and_the_usage() -> None:
    evicted = _pod(
        "ev001",
        **{
            "status": {
                "phase": "Failed",
                "reason": "Evicted",
                "message": "The node was low on resource: memory. "
                "Threshold quantity: 100Mi, available: 52396Ki. "
                "Container kserve-container was using 5Gi, request is 4Gi, has larger consumption of memory. "
                "Container queue-proxy was using 30Mi, request is 400Mi, has larger consumption of memory.",
                "startTime": "2026-11-20T09:00:00Z",
            }
        },
    )
    [eviction] = evictions(_predictor([evicted]))

    assert (eviction.node, eviction.resource) == ("cpu-node-1", "memory")
    assert eviction.usage["kserve-container"] == ("5Gi", "4Gi")


def test_probe_allowance_uses_the_kubernetes_defaults() -> None:
    pod = predictor_pod(_pod("p0001"))
    [liveness] = pod.probes["kserve-container"]
    assert liveness.allowance_s == 30
    assert liveness.arithmetic() == "liveness probe allows 0 s + 10 s × 3 = 30 s"


# ---------------------------------------------------------------- arithmetic
def test_littles_law_recommends_a_target_and_shows_every_number() -> None:
    # 40 req/s at a mean of 0.5 s on 2 pods: 10 in flight per pod; P95 0.8 s against a 0.2 s SLO
    c = calibrate(
        rate=40,
        latency_sum_rate=20,
        pods=2,
        target=100,
        target_source="container-concurrency-target-default",
        utilization=0.7,
        p95_s=0.8,
        slo_p95_s=0.2,
        factor=2,
    )

    assert (c.mean_latency_s, c.in_flight) == (0.5, 10)
    assert c.recommended == 3  # floor(10 × 0.2 / 0.8 / 0.7) = floor(3.57)
    assert c.off and c.direction == "too high"
    for part in ("λ = 40", "W = 0.5 s", "pods = 2", "c = λ × W / pods = 10", "u = 70%", "= 3;", "T = 100"):
        assert part in c.arithmetic()


def _calibrated(target: float, p95_s: float, pods: int = 1, min_pods: int = 1) -> Calibration:
    # 10 req/s × a mean of 0.15 s = 1.5 in flight over the pods
    return calibrate(
        rate=10,
        latency_sum_rate=1.5,
        pods=pods,
        target=target,
        target_source="spec.predictor.scaleTarget",
        utilization=0.7,
        p95_s=p95_s,
        slo_p95_s=0.2,
        factor=2,
        min_pods=min_pods,
    )


def test_a_target_too_high_is_off_from_twice_r_when_p95_misses_its_slo() -> None:
    # P95 0.3 s > 0.2 s: R = floor(1.5 × 0.2 / 0.3 / 0.7) = floor(1.43) = 1
    assert [_calibrated(t, p95_s=0.3).off for t in (1, 2, 3)] == [False, True, True]
    assert _calibrated(2, p95_s=0.3).direction == "too high"


def test_a_ratio_alone_is_not_a_fault() -> None:
    # a lightly loaded service on Knative's default target 100 meets its SLO: R = 2, T = 100, fine
    calm = _calibrated(100, p95_s=0.15)
    assert (calm.recommended, calm.off) == (2, False)
    # R ≥ 2T, but Knative runs only the minimum of pods: the low target costs nothing
    assert _calibrated(1, p95_s=0.02, pods=2, min_pods=2).off is False


def test_a_target_too_low_is_off_when_knative_runs_more_pods_than_the_minimum() -> None:
    # 3 pods: c = 0.5; P95 0.02 s: R = floor(0.5 × 0.2 / 0.02 / 0.7) = floor(7.14) = 7 ≥ 2 × 1
    low = _calibrated(1, p95_s=0.02, pods=3)
    assert (low.recommended, low.off, low.direction) == (7, True, "too low")
    assert _calibrated(4, p95_s=0.02, pods=3).off is False  # 7 < 2 × 4


def test_slo_breaches_ignore_nan_and_absent_values() -> None:
    objectives = Objectives(0.05, 0.2, 0.5, 0.001, 10)

    assert breaches(objectives, math.nan, math.nan, math.nan, None, None) == ()
    found = breaches(objectives, 0.03, 0.35, 0.4, 0.02, 12)
    assert [b.describe() for b in found] == [
        "P95 latency 350 ms > 200 ms",
        "5xx ratio 2.00% > 0.10%",
        "cold starts 12/h ≥ 10/h",
    ]


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (4 * GI * Decimal("1.5"), "6Gi"),
        (3 * GI * Decimal("1.5"), "4608Mi"),
        (Decimal(5 * 2**30) * Decimal("1.2"), "6Gi"),
    ],
)
def test_memory_is_rounded_up_to_256mi(value: Decimal, rounded: str) -> None:
    from kfops.diagnostics.kube.quantity import memory_for_humans

    assert memory_for_humans(round_up(value)) == rounded


def test_the_sweep_puts_down_before_flapping_and_skips_stopped_services() -> None:
    down = copy.deepcopy(ISVC)
    down["metadata"]["name"] = "bert"
    down["status"]["conditions"][5] = {"type": "Ready", "status": "False", "reason": "RevisionMissing"}
    stopped = copy.deepcopy(down)
    stopped["metadata"]["name"] = "paused"
    stopped["metadata"]["annotations"]["serving.kserve.io/stop"] = "true"
    inventory = Inventory(tuple(isvc_facts(i) for i in (ISVC, down, stopped)))
    from kfops.diagnostics.kserve.sweep import Flapping

    found = candidates(inventory, Flapping({"team-a/sklearn-iris": 7}, 60, 3))

    assert [(c.ref, c.down) for c in found] == [("team-a/bert", True), ("team-a/sklearn-iris", False)]


def test_the_sweep_ranks_down_then_flapping_then_cold_start_storms_by_count() -> None:
    from kfops.diagnostics.kserve.sweep import ColdStartStorms, Flapping

    def named(name: str, ready: str = "True") -> dict[str, Any]:
        isvc = copy.deepcopy(ISVC)
        isvc["metadata"]["name"] = name
        isvc["status"]["conditions"][5] = {"type": "Ready", "status": ready}
        return isvc

    services = [named("calm"), named("down", "False"), named("flap-2"), named("flap-9")]
    services += [named("storm-12"), named("storm-30")]
    inventory = Inventory(tuple(isvc_facts(i) for i in services))
    flapping = Flapping({"team-a/flap-2": 4, "team-a/flap-9": 9}, 60, 3)
    storms = ColdStartStorms({"team-a/storm-12": 12, "team-a/storm-30": 30, "team-a/flap-2": 11}, 60, 10)

    found = candidates(inventory, flapping, storms)

    assert [c.ref.split("/")[1] for c in found] == ["down", "flap-9", "flap-2", "storm-30", "storm-12"]
    assert found[2].why == "Ready changed 4 times in 60 min, 11 cold starts"
    assert found[3].why == "scaled up from zero 30 times in 60 min"
    assert [c.ref for c in candidates(inventory, None, None)] == ["team-a/down"]


# ---------------------------------------------------------------- the ladder on small snapshots
def test_a_healthy_service_without_prometheus_raises_no_alarm(tmp_path: Path) -> None:
    [diagnosis] = _diagnose(_snapshot(tmp_path, _healthy()))

    assert diagnosis.conclusion.verdict is Verdict.HEALTHY, diagnosis.conclusion.summary
    assert not diagnosis.proposals and not diagnosis.errors
    by_rung = {f.rung: f for f in diagnosis.findings}
    assert by_rung["concurrency"].status is Status.SKIPPED
    assert "flap count unknown" in by_rung["isvc-conditions"].summary


def test_a_healthy_calibrated_service_with_prometheus_raises_no_alarm(tmp_path: Path) -> None:
    objects = _healthy()
    objects[1]["metadata"]["annotations"]["autoscaling.knative.dev/target"] = "2"
    # 10 req/s × 0.1 s = 1 in flight; P95 0.09 s: R = floor(1 × 0.2 / 0.09 / 0.7) = 3; T = 2 is within ×2
    answers = _requests("10", "1", "0.04", "0.09", "0.2")
    [diagnosis] = _diagnose(_snapshot(tmp_path, objects, answers))
    by_rung = {f.rung: f for f in diagnosis.findings}

    assert by_rung["slo"].branch == "met", by_rung["slo"].summary
    assert by_rung["concurrency"].branch == "calibrated", by_rung["concurrency"].summary
    assert diagnosis.conclusion.verdict is Verdict.HEALTHY, diagnosis.conclusion.summary


def test_no_traffic_is_idle_not_a_breach(tmp_path: Path) -> None:
    [diagnosis] = _diagnose(_snapshot(tmp_path, _healthy(), _requests("0", "0", "NaN", "NaN", "NaN")))
    by_rung = {f.rung: f for f in diagnosis.findings}

    assert (by_rung["slo"].branch, by_rung["concurrency"].branch) == ("no-traffic", "idle")
    assert diagnosis.conclusion.verdict is Verdict.HEALTHY


def test_an_oom_killed_model_server_gets_more_memory(tmp_path: Path) -> None:
    objects = _healthy()
    objects[3] = _oom_pod()
    [diagnosis] = _diagnose(_snapshot(tmp_path, objects))

    assert diagnosis.conclusion.cause == "oom-killed", diagnosis.conclusion.summary
    [proposal] = diagnosis.proposals
    assert proposal.action == "kserve.set-resources"
    assert proposal.params["memory_limit"] == proposal.params["memory_request"] == "6Gi"
    assert proposal.params["current_limit"] == "4Gi"
    assert proposal.params["uid"] == ISVC["metadata"]["uid"] and proposal.params["component"] == "predictor"
    assert "4Gi × 1.5 = 6Gi" in str(proposal.params["arithmetic"])


def test_a_miscalibrated_target_proposes_the_littles_law_value(tmp_path: Path) -> None:
    # 40 req/s × 0.5 s on 1 pod = 20 in flight; P95 0.8 s: R = floor(20 × 0.25 / 0.7) = 7, T = 100
    answers = _requests("40", "20", "0.3", "0.8", "1.2")
    [diagnosis] = _diagnose(_snapshot(tmp_path, _healthy(), answers))
    by_rung = {f.rung: f for f in diagnosis.findings}

    assert by_rung["concurrency"].branch == "target-off"
    assert "λ = 40 req/s" in by_rung["concurrency"].summary and "= 7;" in by_rung["concurrency"].summary
    assert diagnosis.conclusion.cause == "concurrency-target-off"
    [proposal] = diagnosis.proposals
    assert (proposal.action, proposal.params["scale_target"], proposal.params["current"]) == (
        "kserve.set-scale-target",
        7,
        None,
    )


def test_a_cold_start_storm_proposes_one_warm_replica(tmp_path: Path) -> None:
    objects = _healthy()
    objects[0]["spec"]["predictor"]["minReplicas"] = 0
    objects[1] = _revision("sklearn-iris-predictor-00001", 1, min_scale=0)
    objects[2] = _pa("sklearn-iris-predictor-00001", desired=0, actual=0, min_scale=0)
    objects = [*objects[:3], NODE]
    answers = _requests("0", "0", "NaN", "NaN", "NaN")
    answers[q.cold_starts("team-a", "sklearn-iris", 60)] = [({}, "14")]
    [diagnosis] = _diagnose(_snapshot(tmp_path, objects, answers))
    by_rung = {f.rung: f for f in diagnosis.findings}

    assert (
        by_rung["predictor-pods"].branch == "healthy"
        and "scaled to zero" in by_rung["predictor-pods"].summary
    )
    assert diagnosis.conclusion.cause == "cold-start-storm", diagnosis.conclusion.summary
    [proposal] = diagnosis.proposals
    assert (proposal.action, proposal.params["min_replicas"], proposal.params["current"]) == (
        "kserve.set-min-replicas",
        1,
        0,
    )


def test_a_stuck_rollout_while_the_old_revision_serves(tmp_path: Path) -> None:
    objects = _healthy()
    objects[0]["status"]["components"]["predictor"]["latestCreatedRevision"] = "sklearn-iris-predictor-00002"
    objects.append(_revision("sklearn-iris-predictor-00002", 2, ready=False, created="2026-11-20T10:00:00Z"))
    objects.append(_pa("sklearn-iris-predictor-00002", desired=1, actual=0))
    [diagnosis] = _diagnose(_snapshot(tmp_path, objects))
    by_rung = {f.rung: f for f in diagnosis.findings}

    assert by_rung["revisions"].branch == "rollout-stuck", by_rung["revisions"].summary
    # the revision says OOMKilled: memory outranks the stuck rollout in the causes
    assert diagnosis.conclusion.cause == "oom-killed"


def test_probe_kills_while_the_model_loads(tmp_path: Path) -> None:
    objects = _healthy()
    name = objects[3]["metadata"]["name"]
    objects.append(
        _event(
            name, "Unhealthy", "Liveness probe failed: dial tcp 10.244.1.17:8080: connect: connection refused"
        )
    )
    objects.append(
        _event(
            name, "Killing", "Container kserve-container failed liveness probe, will be restarted", "Normal"
        )
    )
    [diagnosis] = _diagnose(_snapshot(tmp_path, objects))

    assert diagnosis.conclusion.cause == "probe-too-short", diagnosis.conclusion.summary
    assert "0 s + 10 s × 3 = 30 s" in diagnosis.conclusion.summary
    [proposal] = diagnosis.proposals
    assert proposal.action == "kserve.lengthen-probe"
    assert any(
        "kubectl -n team-a patch inferenceservice sklearn-iris --type merge" in s for s in proposal.steps
    )
    assert any('"failureThreshold":60' in s for s in proposal.steps)


def test_an_unreachable_prometheus_is_an_error_not_healthy(tmp_path: Path) -> None:
    root = _snapshot(tmp_path, _healthy(), {})
    meta = yaml.safe_load((root / "kfops-snapshot.yaml").read_text())
    meta["faults"] = [
        {"verb": "query", "resource": "prometheus", "error": "unreachable", "message": "connection refused"}
    ]
    (root / "kfops-snapshot.yaml").write_text(yaml.safe_dump(meta))
    [diagnosis] = _diagnose(root)
    by_rung = {f.rung: f for f in diagnosis.findings}

    assert by_rung["slo"].status is Status.ERROR and by_rung["concurrency"].status is Status.ERROR
    assert by_rung["isvc-conditions"].status is Status.OK  # answers from the API alone
    assert diagnosis.conclusion.verdict is Verdict.INCONCLUSIVE


def test_the_ladder_is_triggered_by_every_kserve_alert_kfops_ships() -> None:
    rules = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "deploy/prometheus/kfops-alerts.yaml").read_text()
    )
    shipped = {
        rule["alert"]
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert", "").startswith("KfopsKServe")
    }
    assert set(LADDER.alerts) == shipped
