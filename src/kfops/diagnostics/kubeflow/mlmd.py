"""Which MLMD schema version the deployed metadata server expects (domain.md §5.5).

Read from the image tag of ``metadata-grpc-deployment``; MLMD 1.14.0 (the version Kubeflow
ships) expects schema 10. A tag kfops has no verified number for falls back to
settings.mlmd_schema_version, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from kfops.clients.errors import NotFound
from kfops.clients.resources import DEPLOYMENTS
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.model import Observed

MLMD_DEPLOYMENT = "metadata-grpc-deployment"
#: MLMD server release → the library's schema version (only verified entries)
SCHEMA_BY_RELEASE = {"1.14.0": 10}


@dataclass(frozen=True)
class MlmdExpectation:
    deployed: bool
    image: str
    expected: int
    source: str  # "image tag 1.14.0" / "settings.mlmd_schema_version (tag x unknown)"


def read_mlmd_expectation(ctx: ProbeContext) -> Observed:
    namespace = ctx.settings.galera_app_namespace
    try:
        fetched = ctx.kube.get(DEPLOYMENTS, MLMD_DEPLOYMENT, namespace)
    except NotFound:
        return Observed(MlmdExpectation(False, "", ctx.settings.mlmd_schema_version, "not deployed"))
    containers = (((fetched.value.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    image = str(containers[0].get("image", "")) if containers else ""
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    if tag in SCHEMA_BY_RELEASE:
        expected, source = SCHEMA_BY_RELEASE[tag], f"image tag {tag}"
    else:
        expected = ctx.settings.mlmd_schema_version
        source = f"settings.mlmd_schema_version (no verified schema number for tag {tag or '?'})"
    summary = f"{MLMD_DEPLOYMENT} runs {image or '?'}: expects MLMD schema {expected} ({source})"
    return Observed(MlmdExpectation(True, image, expected, source), (kube_evidence(fetched, summary),))
