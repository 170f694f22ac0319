"""The parity loader writes KServe and Knative objects as their controllers would have.

A kserve-flapping snapshot holds InferenceServices, Revisions, PodAutoscalers, HPAs and the
knative-serving ConfigMaps. These tests load one such snapshot, written here in the shapes of
KServe v0.16 / Knative 1.21 / autoscaling/v2, into the real API server with our CRDs (which
validate it), read every object back and check its status arrived, its timestamps shifted like
everything else, and that the purge removes all of it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from kubernetes import client

from kfops.clients.resources import CONFIGMAPS, HPAS, INFERENCESERVICES, PODAUTOSCALERS, REVISIONS

from .controlplane import ControlPlane, FakeKubelet
from .crds import install_crds
from .loader import Loaded, LoadError, Rest, load_scenario, purge, shift_time

CAPTURED: Final = "2026-11-20T03:12:00Z"
NS: Final = "team-a"
ISVC: Final = "sklearn-iris"


def _condition(kind: str, status: str, at: str, reason: str = "", message: str = "") -> dict[str, str]:
    found = {"type": kind, "status": status, "lastTransitionTime": at}
    if reason:
        found["reason"] = reason
    if message:
        found["message"] = message
    return found


def _objects() -> list[dict[str, Any]]:
    failing = f"{ISVC}-predictor-00002"
    serving = f"{ISVC}-predictor-00001"
    return [
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {
                "name": ISVC,
                "namespace": NS,
                "annotations": {"serving.kserve.io/deploymentMode": "Serverless"},
            },
            "spec": {
                "predictor": {
                    "minReplicas": 0,
                    "maxReplicas": 3,
                    "scaleMetric": "concurrency",
                    "scaleTarget": 5,
                    "canaryTrafficPercent": 10,
                    "annotations": {"autoscaling.knative.dev/target": "5"},
                    "model": {
                        "modelFormat": {"name": "sklearn"},
                        "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                        "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                    },
                }
            },
            "status": {
                "url": f"http://{ISVC}.{NS}.example.com",
                "deploymentMode": "Serverless",
                "observedGeneration": 2,
                "conditions": [
                    _condition("PredictorReady", "True", "2026-11-20T02:00:00Z"),
                    _condition("Ready", "True", "2026-11-20T02:00:00Z"),
                    _condition(
                        "LatestDeploymentReady",
                        "False",
                        "2026-11-20T03:00:00Z",
                        "RevisionFailed",
                        f"Revision {failing} failed with message: Container failed with: OOMKilled.",
                    ),
                ],
                "components": {
                    "predictor": {
                        "latestCreatedRevision": failing,
                        "latestReadyRevision": serving,
                        "previousRolledoutRevision": serving,
                        "latestRolledoutRevision": serving,
                        "traffic": [
                            {"revisionName": serving, "percent": 90, "latestRevision": False, "tag": "prev"},
                            {"revisionName": failing, "percent": 10, "latestRevision": True, "tag": "latest"},
                        ],
                    }
                },
            },
        },
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Revision",
            "metadata": {
                "name": failing,
                "namespace": NS,
                "labels": {
                    "serving.knative.dev/configuration": f"{ISVC}-predictor",
                    "serving.knative.dev/configurationGeneration": "2",
                    "serving.kserve.io/inferenceservice": ISVC,
                    "component": "predictor",
                },
                "annotations": {
                    "autoscaling.knative.dev/min-scale": "0",
                    "autoscaling.knative.dev/target": "5",
                    "serving.knative.dev/progress-deadline": "600s",
                },
            },
            "spec": {
                "containerConcurrency": 0,
                "timeoutSeconds": 300,
                "containers": [{"name": "kserve-container", "image": "kserve/sklearnserver:v0.16.0"}],
            },
            "status": {
                "observedGeneration": 1,
                "actualReplicas": 0,
                "desiredReplicas": 1,
                "conditions": [
                    _condition(
                        "Ready",
                        "False",
                        "2026-11-20T03:00:00Z",
                        "ExitCode137",
                        "Container failed with: OOMKilled",
                    ),
                    _condition("ResourcesAvailable", "False", "2026-11-20T03:00:00Z", "ExitCode137"),
                ],
                "containerStatuses": [
                    {"name": "kserve-container", "imageDigest": "index.docker.io/x@sha256:0"}
                ],
            },
        },
        {
            "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
            "kind": "PodAutoscaler",
            "metadata": {
                "name": failing,
                "namespace": NS,
                "annotations": {"autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev"},
            },
            "spec": {
                "protocolType": "http1",
                "reachability": "Reachable",
                "containerConcurrency": 0,
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": f"{failing}-deployment",
                },
            },
            "status": {
                "serviceName": failing,
                "metricsServiceName": f"{failing}-private",
                "desiredScale": 1,
                "actualScale": 0,
                "conditions": [_condition("Ready", "Unknown", "2026-11-20T03:00:00Z", "Queued")],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "mnist-predictor", "namespace": NS},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mnist-predictor"},
                "minReplicas": 1,
                "maxReplicas": 3,
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
            "status": {
                "currentReplicas": 1,
                "desiredReplicas": 3,
                "lastScaleTime": "2026-11-20T03:05:00Z",
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 240}}}
                ],
                "conditions": [
                    _condition("AbleToScale", "True", "2026-11-20T03:05:00Z", "SucceededRescale"),
                    _condition("ScalingLimited", "True", "2026-11-20T03:05:00Z", "TooManyReplicas"),
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "config-autoscaler", "namespace": "knative-serving"},
            "data": {
                "container-concurrency-target-default": "100",
                "container-concurrency-target-percentage": "70",
            },
        },
    ]


def _write(folder: Path, objects: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kfops-snapshot.yaml").write_text(yaml.safe_dump({"capturedAt": CAPTURED}), encoding="utf-8")
    (folder / "objects.yaml").write_text(yaml.safe_dump_all(objects), encoding="utf-8")
    return folder


@pytest.fixture
def loaded(
    control_plane: ControlPlane, admin_api: client.ApiClient, tmp_path: Path
) -> Iterator[tuple[Loaded, Rest]]:
    install_crds(admin_api)
    kubelet = FakeKubelet(control_plane.pki)
    try:
        yield load_scenario(admin_api, kubelet, _write(tmp_path / "kserve", _objects())), Rest(admin_api)
    finally:
        kubelet.stop()
        purge(admin_api)


def test_kserve_objects_load_with_their_status_and_shifted_times(loaded: tuple[Loaded, Rest]) -> None:
    result, rest = loaded
    delta = result.delta
    assert result.namespaces == ("knative-serving", NS)
    wanted = {(o["kind"], o["metadata"]["name"]): o for o in _objects()}

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        return shift_time(value, delta) if isinstance(value, str) else value

    for ref in (INFERENCESERVICES, REVISIONS, PODAUTOSCALERS, HPAS):
        [item] = rest.items(ref.path(NS))
        name = item["metadata"]["name"]
        snapshot = wanted[(ref.kind, name)]
        assert item["status"] == moved(snapshot["status"]), f"{ref.kind} {name}: status"
        assert item["spec"] == {**item["spec"], **moved(snapshot["spec"])}, f"{ref.kind} {name}: spec"
    isvc = rest.request("GET", INFERENCESERVICES.path(NS, ISVC))
    ready = next(c for c in isvc["status"]["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == shift_time("2026-11-20T02:00:00Z", delta)
    assert delta > timedelta(0)  # capturedAt lies in the past: "now" moved to the load time
    config = rest.request("GET", CONFIGMAPS.path("knative-serving", "config-autoscaler"))
    assert config["data"]["container-concurrency-target-default"] == "100"


def test_the_purge_removes_every_kserve_object(
    loaded: tuple[Loaded, Rest], admin_api: client.ApiClient
) -> None:
    _, rest = loaded
    assert all(rest.items(ref.path(NS)) for ref in (INFERENCESERVICES, REVISIONS, PODAUTOSCALERS, HPAS))
    purge(admin_api)
    for ref in (INFERENCESERVICES, REVISIONS, PODAUTOSCALERS, HPAS):
        assert rest.items(ref.path()) == [], f"{ref.kind} left behind"
    assert rest.items(CONFIGMAPS.path("knative-serving")) == []


def test_a_podautoscaler_status_the_upstream_schema_refuses_fails_the_load(
    control_plane: ControlPlane, admin_api: client.ApiClient, tmp_path: Path
) -> None:
    """Upstream's schema requires serviceName and metricsServiceName: a snapshot without them is
    refused by the API server, with its message, rather than loaded half-written."""
    install_crds(admin_api)
    objects = _objects()
    pa = next(o for o in objects if o["kind"] == "PodAutoscaler")
    del pa["status"]["metricsServiceName"]
    kubelet = FakeKubelet(control_plane.pki)
    try:
        with pytest.raises(LoadError, match="metricsServiceName"):
            load_scenario(admin_api, kubelet, _write(tmp_path / "bad", objects))
    finally:
        kubelet.stop()
        purge(admin_api)
