"""Finding the Galera nodes and credentials from the cluster, against the real API server.

kfops running in the cluster is told a mariadb-operator MariaDB (or a StatefulSet) and a Secret
by name; the nodes are the pods behind the headless Service, the credentials the Secret's
username/password. What cannot be found is one sentence, never a traceback.
"""

from __future__ import annotations

import base64

import pytest
from kubernetes import client

from kfops.clients.errors import ConfigurationError
from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.sources import open_galera
from kfops.settings import Settings

from .controlplane import ControlPlane
from .crds import install_crds


@pytest.fixture
def admin_reader(control_plane: ControlPlane) -> LiveKubeReader:
    return LiveKubeReader.connect(str(control_plane.kubeconfig), "admin")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_nodes_from_a_mariadb_and_credentials_from_a_secret(
    admin_api: client.ApiClient, core: client.CoreV1Api, namespace: str, admin_reader: LiveKubeReader
) -> None:
    install_crds(admin_api)  # idempotent: the mariadb-operator MariaDB kind
    client.CustomObjectsApi(admin_api).create_namespaced_custom_object(
        "k8s.mariadb.com",
        "v1alpha1",
        namespace,
        "mariadbs",
        {
            "apiVersion": "k8s.mariadb.com/v1alpha1",
            "kind": "MariaDB",
            "metadata": {"name": "mariadb"},
            "spec": {"replicas": 3, "galera": {"enabled": True}},
        },
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret.model_validate(
            {
                "metadata": {"name": "kfops-galera"},
                "data": {"username": _b64("kfops"), "password": _b64("s3cret-pw")},
            }
        ),
    )
    settings = Settings(galera_mariadb=f"{namespace}/mariadb", galera_secret=f"{namespace}/kfops-galera")
    reader = open_galera(settings, admin_reader)
    assert reader is not None
    assert reader.nodes() == tuple(
        f"mariadb-{i}.mariadb-internal.{namespace}.svc.cluster.local:3306" for i in range(3)
    )
    assert reader.expected_size() == 3
    assert "as kfops" in reader.describe() and "s3cret-pw" not in reader.describe()


def test_a_statefulset_names_its_service(
    admin_api: client.ApiClient, namespace: str, admin_reader: LiveKubeReader
) -> None:
    client.AppsV1Api(admin_api).create_namespaced_stateful_set(
        namespace,
        client.V1StatefulSet.model_validate(
            {
                "metadata": {"name": "galera"},
                "spec": {
                    "replicas": 2,
                    "serviceName": "galera-headless",
                    "selector": {"matchLabels": {"app": "galera"}},
                    "template": {
                        "metadata": {"labels": {"app": "galera"}},
                        "spec": {"containers": [{"name": "mariadb", "image": "mariadb:11.4"}]},
                    },
                },
            }
        ),
    )
    settings = Settings(galera_mariadb=f"statefulset/{namespace}/galera", galera_user="kfops")
    reader = open_galera(settings, admin_reader)
    assert reader is not None
    assert reader.nodes() == (
        f"galera-0.galera-headless.{namespace}.svc.cluster.local:3306",
        f"galera-1.galera-headless.{namespace}.svc.cluster.local:3306",
    )


def test_what_cannot_be_found_is_one_sentence(namespace: str, admin_reader: LiveKubeReader) -> None:
    with pytest.raises(
        ConfigurationError, match=rf"cannot discover the Galera nodes from mariadb {namespace}/nope"
    ):
        open_galera(Settings(galera_mariadb=f"{namespace}/nope", galera_user="kfops"), admin_reader)
    with pytest.raises(ConfigurationError, match="must be NAMESPACE/NAME"):
        open_galera(Settings(galera_mariadb="just-a-name", galera_user="kfops"), admin_reader)
    with pytest.raises(ConfigurationError, match="cannot read the Galera credentials Secret"):
        open_galera(Settings(galera_nodes="db:3306", galera_secret=f"{namespace}/missing"), admin_reader)
    with pytest.raises(ConfigurationError, match="no Galera credentials: set KFOPS_GALERA_USER"):
        open_galera(Settings(galera_nodes="db:3306"), admin_reader)
