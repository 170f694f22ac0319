"""CustomResourceDefinitions for the kinds kfops reads, installed into the live control plane.

Each ``*.yaml`` here is one upstream CRD cut down to what diagnosis needs: the same
group, scope, names and versions as upstream, real types for the fields kfops reads
(so a server-side dry-run catches a wrong type), and
``x-kubernetes-preserve-unknown-fields`` for the rest. A comment at the top of each
file names the upstream release its fields follow, and any deliberate difference.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import metadata

CRD_DIR: Final = Path(__file__).resolve().parent
POLL_INTERVAL_S: Final = 0.1


def load_crds() -> list[dict[str, Any]]:
    """Every CRD manifest in :data:`CRD_DIR`, in file-name order."""
    return [yaml.safe_load(path.read_text()) for path in sorted(CRD_DIR.glob("*.yaml"))]


def _create_or_replace(api: client.ApiextensionsV1Api, body: dict[str, Any]) -> None:
    name = body["metadata"]["name"]
    try:
        api.create_custom_resource_definition(client.V1CustomResourceDefinition.model_validate(body))
    except ApiException as error:
        if error.status != 409:
            raise
        current = api.read_custom_resource_definition(name)
        meta = {**body["metadata"], "resourceVersion": metadata(current).resource_version}
        api.replace_custom_resource_definition(
            name, client.V1CustomResourceDefinition.model_validate({**body, "metadata": meta})
        )


def _not_established(crd: client.V1CustomResourceDefinition) -> str | None:
    """None if ``Established=True``, else why not (the conditions seen so far)."""
    conditions = (crd.status.conditions if crd.status else None) or []
    if any(c.type == "Established" and c.status == "True" for c in conditions):
        return None
    seen = "; ".join(f"{c.type}={c.status} {c.reason or ''}: {c.message or ''}" for c in conditions)
    return seen or "no conditions yet"


def install_crds(api_client: client.ApiClient, timeout: float = 30.0) -> list[str]:
    """Create (or replace) every CRD in :data:`CRD_DIR` and wait until each is Established.

    Returns the CRD names. Raises RuntimeError naming every CRD that is not
    Established after ``timeout`` seconds (e.g. because its names clash with
    another CRD's, which shows as ``NamesAccepted=False``).
    """
    api = client.ApiextensionsV1Api(api_client)
    names: list[str] = []
    for body in load_crds():
        _create_or_replace(api, body)
        names.append(body["metadata"]["name"])

    deadline = time.monotonic() + timeout
    while True:
        waiting = {name: _not_established(api.read_custom_resource_definition(name)) for name in names}
        pending = {name: why for name, why in waiting.items() if why is not None}
        if not pending:
            return names
        if time.monotonic() > deadline:
            detail = ", ".join(f"{name} ({why})" for name, why in sorted(pending.items()))
            raise RuntimeError(f"CRDs not Established after {timeout:g}s: {detail}")
        time.sleep(POLL_INTERVAL_S)
