"""The snapshot reader answers like the API server would have at capture time."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kfops.clients.errors import Forbidden, NotFound, ReadTimeout, SnapshotError
from kfops.clients.resources import EVENTS, NODES, PODS
from kfops.clients.snapshot.kube import SnapshotKubeReader
from tests.support.snapshots import node, pod, write_snapshot


def test_list_with_field_and_label_selectors(tmp_path: Path) -> None:
    root = write_snapshot(
        tmp_path,
        [
            node("gpu-1"),
            node("gpu-2"),
            pod("a", "ns1", "gpu-1", app="x"),
            pod("b", "ns2", "gpu-1"),
            pod("c", "ns1", "gpu-2", app="x"),
        ],
    )
    reader = SnapshotKubeReader.open(root)
    on_gpu1 = reader.list(PODS, field_selector="spec.nodeName=gpu-1")
    assert [p["metadata"]["name"] for p in on_gpu1.value] == ["a", "b"]
    assert on_gpu1.query == "GET /api/v1/pods?fieldSelector=spec.nodeName=gpu-1"
    assert [p["metadata"]["name"] for p in reader.list(PODS, "ns1", label_selector="app=x").value] == [
        "a",
        "c",
    ]
    assert (
        reader.list(PODS, field_selector="spec.nodeName!=gpu-1,metadata.namespace=ns1").value[0]["metadata"][
            "name"
        ]
        == "c"
    )
    assert reader.now() == datetime(2026, 11, 20, 3, 12, tzinfo=UTC)


def test_get_missing_object_is_not_found_with_the_request(tmp_path: Path) -> None:
    reader = SnapshotKubeReader.open(write_snapshot(tmp_path, [node("gpu-1")]))
    assert reader.get(NODES, "gpu-1").value["metadata"]["name"] == "gpu-1"
    with pytest.raises(NotFound) as err:
        reader.get(NODES, "gpu-9")
    assert err.value.query == "GET /api/v1/nodes/gpu-9"


def test_multi_document_yaml_and_cluster_info_dump_layout(tmp_path: Path) -> None:
    (tmp_path / "kfops-snapshot.yaml").write_text('capturedAt: "2026-11-20T03:12:00Z"\n')
    (tmp_path / "nodes.yaml").write_text(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n"
        "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n2\n"
    )
    # kubectl cluster-info dump: typed lists whose items carry no kind/apiVersion, logs.txt per pod
    (tmp_path / "kube-system").mkdir()
    (tmp_path / "kube-system" / "pods.json").write_text(
        json.dumps(
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "items": [
                    {"metadata": {"name": "p1", "namespace": "kube-system"}, "spec": {"nodeName": "n1"}}
                ],
            }
        )
    )
    (tmp_path / "kube-system" / "p1").mkdir()
    (tmp_path / "kube-system" / "p1" / "logs.txt").write_text("line1\nline2\nline3\n")
    reader = SnapshotKubeReader.open(tmp_path)
    assert [n["metadata"]["name"] for n in reader.list(NODES).value] == ["n1", "n2"]
    assert reader.list(PODS, field_selector="spec.nodeName=n1").value[0]["kind"] == "Pod"
    assert reader.pod_log("kube-system", "p1", "any", tail_lines=2).value == "line2\nline3"


def test_logs_current_and_previous(tmp_path: Path) -> None:
    root = write_snapshot(
        tmp_path,
        [pod("p", "gpu-operator", "n1")],
        logs={"gpu-operator/p/driver.previous.log": "a\nb\nfatal\n"},
    )
    reader = SnapshotKubeReader.open(root)
    assert reader.pod_log("gpu-operator", "p", "driver", previous=True, tail_lines=1).value == "fatal"
    with pytest.raises(NotFound, match="driver"):
        reader.pod_log("gpu-operator", "p", "driver", previous=False)


def test_faults_replay_forbidden_and_timeouts(tmp_path: Path) -> None:
    message = (
        'pods is forbidden: User "kfops" cannot list resource "pods" in API group "" at the cluster scope'
    )
    root = write_snapshot(
        tmp_path,
        [node("gpu-1")],
        meta={
            "faults": [
                {"verb": "list", "resource": "pods", "error": "forbidden", "message": message},
                {
                    "verb": "list",
                    "resource": "events",
                    "error": "timeout",
                    "message": "context deadline exceeded",
                },
            ]
        },
    )
    reader = SnapshotKubeReader.open(root)
    with pytest.raises(Forbidden) as err:
        reader.list(PODS, field_selector="spec.nodeName=gpu-1")
    assert err.value.message == message and err.value.verb == "list" and err.value.resource == "pods"
    assert "RBAC forbids 'list' on 'pods'" in err.value.headline
    with pytest.raises(ReadTimeout):
        reader.list(EVENTS)
    assert reader.get(NODES, "gpu-1").value  # other reads are unaffected


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"bad.yaml": "kind: [unclosed"}, "not valid YAML"),
        ({"x.yaml": "apiVersion: v1\nkind: Node\nmetadata: {}\n"}, "metadata.name"),
        ({"x.yaml": "- just\n- a list\n"}, "expected a Kubernetes object"),
        ({"kfops-snapshot.yaml": "capturedAt: yesterday\n"}, "RFC 3339"),
        ({"notes.txt": "hello"}, "no Kubernetes objects"),
    ],
)
def test_broken_snapshots_are_refused_naming_the_file(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SnapshotError, match=message):
        SnapshotKubeReader.open(tmp_path)


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        SnapshotKubeReader.open(tmp_path / "nope")
