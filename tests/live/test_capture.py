"""`kfops capture` round-trips: a snapshot captured from the live API server diagnoses the same.

The Xid 79 scenario is loaded into the real API server (with a pod carrying a password in its
environment, which capture must scrub); kfops diagnoses it live, captures it, and the capture
replayed offline must reach the same verdict, cause, rungs and proposals.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from kfops.cli.capture import capture
from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_galera, open_prometheus
from kfops.model import Diagnosis
from kfops.runbooks.engine import Engine
from kfops.runbooks.galera_migration_failure import LADDER as GALERA
from kfops.runbooks.gpu_node_down import LADDER
from kfops.runbooks.kserve_flapping import LADDER as KSERVE
from kfops.settings import Settings
from tests.support.scenarios import ROOT, scenario_settings

from .controlplane import ControlPlane, FakeKubelet
from .crds import install_crds
from .loader import load_scenario

SCENARIO = ROOT / "tests" / "scenarios" / "gpu-node-down" / "xid79-prometheus"
NODE = "gpu-h100-2"
KSERVE_SCENARIO = ROOT / "tests" / "scenarios" / "kserve-flapping" / "oom-killed"
OWN_BACKUPS = ROOT / "tests" / "scenarios" / "galera-migration-failure" / "own-backup-cronjob"


def _shape(diagnosis: Diagnosis) -> tuple[object, ...]:
    return (
        diagnosis.target,
        diagnosis.conclusion.verdict,
        diagnosis.conclusion.cause,
        [(f.rung, f.status, f.branch) for f in diagnosis.findings],
        sorted(p.action for p in diagnosis.proposals),
    )


def test_a_capture_replays_to_the_same_diagnosis_without_secrets(
    control_plane: ControlPlane, admin_api: client.ApiClient, tmp_path: Path
) -> None:
    kubelet = FakeKubelet(control_plane.pki)
    try:
        loaded = load_scenario(admin_api, kubelet, SCENARIO)
        core = client.CoreV1Api(admin_api)
        core.create_namespaced_pod(
            "team-llm",
            client.V1Pod.model_validate(
                {
                    "metadata": {"name": "leaky-client"},
                    "spec": {
                        "nodeName": NODE,
                        "containers": [
                            {
                                "name": "main",
                                "image": "client:1",
                                "env": [{"name": "DB_PASSWORD", "value": "hunter2-secret"}],
                            }
                        ],
                    },
                }
            ),
        )
        core.create_namespaced_secret(
            "team-llm",
            client.V1Secret.model_validate(
                {"metadata": {"name": "db"}, "stringData": {"password": "hunter2-secret"}}
            ),
        )
        settings = Settings()
        reader = LiveKubeReader.connect(str(control_plane.kubeconfig), "admin", clock=loaded.clock)
        prom = open_prometheus(settings, SnapshotKubeReader.open(SCENARIO))  # the scenario's Prometheus
        [live] = Engine(reader, settings, prom).diagnose(LADDER, NODE)
        out = tmp_path / "captured"
        result = capture(out, reader, prom, settings, [LADDER], NODE)
    finally:
        kubelet.stop()
    assert live.conclusion.cause == "gpu-hardware-xid"
    replay_reader = SnapshotKubeReader.open(out)
    [replayed] = Engine(replay_reader, settings, open_prometheus(settings, replay_reader)).diagnose(
        LADDER, NODE
    )
    assert _shape(replayed) == _shape(live)
    assert result.logs >= 1 and result.queries >= 1 and result.faults == 0
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "hunter2-secret" not in text and "[REDACTED]" in text
    assert "kind: Secret" not in text


def test_an_inferenceservice_capture_replays_to_the_same_diagnosis(
    control_plane: ControlPlane, admin_api: client.ApiClient, tmp_path: Path
) -> None:
    """The InferenceService, its Revisions, PodAutoscaler, pods, events and logs are all captured."""
    install_crds(admin_api)  # idempotent
    kubelet = FakeKubelet(control_plane.pki)
    try:
        loaded = load_scenario(admin_api, kubelet, KSERVE_SCENARIO)
        target = "team-vision/resnet50"
        settings = Settings()
        reader = LiveKubeReader.connect(str(control_plane.kubeconfig), "admin", clock=loaded.clock)
        prom = open_prometheus(settings, SnapshotKubeReader.open(KSERVE_SCENARIO))
        [live] = Engine(reader, settings, prom).diagnose(KSERVE, target)
        out = tmp_path / "captured"
        result = capture(out, reader, prom, settings, [KSERVE], inferenceservice=target)
    finally:
        kubelet.stop()
    assert live.conclusion.cause == "oom-killed"
    replay_reader = SnapshotKubeReader.open(out)
    [replayed] = Engine(replay_reader, settings, open_prometheus(settings, replay_reader)).diagnose(
        KSERVE, target
    )
    assert _shape(replayed) == _shape(live)
    text = "".join(p.read_text() for p in out.rglob("*.yaml"))
    for kind in ("InferenceService", "Revision", "PodAutoscaler", "Pod"):
        assert f"kind: {kind}\n" in text, f"no {kind} captured"
    assert result.queries >= 1 and result.faults == 0


def test_a_crd_that_is_not_installed_is_captured_as_not_served(
    control_plane: ControlPlane, admin_api: client.ApiClient, tmp_path: Path
) -> None:
    """Without mariadb-operator the list of Backups is a 404: the capture records it as a
    ``not-found`` fault, so the replay says the CRD is not installed too (not "0 Backups"); the
    team's own backup CronJob and its Jobs are captured as read."""
    kubelet = FakeKubelet(control_plane.pki)
    try:
        loaded = load_scenario(admin_api, kubelet, OWN_BACKUPS)  # deletes the Backup CRD
        settings = scenario_settings(OWN_BACKUPS)
        reader = LiveKubeReader.connect(str(control_plane.kubeconfig), "admin", clock=loaded.clock)
        galera = open_galera(settings, SnapshotKubeReader.open(OWN_BACKUPS))  # the recorded database
        [live] = Engine(reader, settings, None, galera=galera).diagnose(GALERA)
        out = tmp_path / "captured"
        result = capture(out, reader, None, settings, [GALERA], galera=galera)
    finally:
        kubelet.stop()
        install_crds(admin_api)  # the next test must find mariadb-operator's CRDs again
    assert live.conclusion.cause == "migration-dirty"
    replay_reader = SnapshotKubeReader.open(out)
    [replayed] = Engine(replay_reader, settings, None, galera=open_galera(settings, replay_reader)).diagnose(
        GALERA
    )
    assert _shape(replayed) == _shape(live)
    assert result.faults == 1
    [said] = [e.summary for f in replayed.findings if f.rung == "galera-backup" for e in f.evidence[:1]]
    assert said.startswith("mariadb-operator's Backup CRD is not installed"), said
    text = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert "error: not-found" in text and "kind: CronJob\n" in text


def test_the_capture_command(control_plane: ControlPlane, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "snap"
    args = [
        sys.executable,
        "-m",
        "kfops",
        "capture",
        "--output",
        str(out),
        "--kubeconfig",
        str(control_plane.kubeconfig),
        "--context",
        "admin",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "captured" in done.stdout and (out / "kfops-snapshot.yaml").exists()
    again = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
    replay = subprocess.run(
        [sys.executable, "-m", "kfops", "diagnose", "gpu-node-down", "--snapshot", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode in (0, 1, 3) and "Traceback" not in replay.stderr
