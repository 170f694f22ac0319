"""The owners a Slack message mentions: Profile owners of the namespaces an alert names."""

from __future__ import annotations

from pathlib import Path

from kfops.bot.requests import DiagnosisRequest
from kfops.bot.runs import Run
from kfops.bot.slack_notify import profile_owners
from kfops.clients.snapshot.kube import SnapshotKubeReader
from tests.support.snapshots import write_snapshot


def _profile(name: str, owner: str) -> dict[str, object]:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Profile",
        "metadata": {"name": name},
        "spec": {"owner": {"kind": "User", "name": owner}},
    }


def test_profile_owner_of_the_alerts_namespace_is_mentioned(tmp_path: Path) -> None:
    reader = SnapshotKubeReader.open(write_snapshot(tmp_path, [_profile("team-nlp", "nlp-lead@example.com")]))
    owners = profile_owners(reader)
    request = DiagnosisRequest(
        ladder="gpu-node-down",
        target="gpu-a100-3",
        source="alertmanager",
        requested_by="alertmanager:kfops",
        labels=(
            ("namespace", "team-nlp"),
            ("exported_namespace", "team-missing"),
            ("owner", "direct@example.com"),
        ),
    )
    run = Run(run_id="kf-20261120-031200-abcdef", ladder="gpu-node-down", target="gpu-a100-3")
    assert owners(run, request) == ["direct@example.com", "nlp-lead@example.com"]
