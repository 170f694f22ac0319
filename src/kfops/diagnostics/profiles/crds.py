"""The CustomResourceDefinitions the Profile controller needs, read by name only.

``profiles.kubeflow.org`` (domain.md §4.2: v1 served and storage, v1beta1 served, conversion
None) and ``authorizationpolicies.security.istio.io`` (the controller's client asks for
``security.istio.io/v1beta1``). A CRD that does not exist is an answer — ``missing`` — not an
error: the API server's 404 is exactly what the rung asks about.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import CRDS, PROFILES, ResourceRef
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.profiles.versions import ISTIO_CRD, PROFILE_CRD, version_key
from kfops.model import Observed


@dataclass(frozen=True)
class CrdVersion:
    name: str
    served: bool
    storage: bool


@dataclass(frozen=True)
class Crd:
    name: str
    found: bool
    versions: tuple[CrdVersion, ...] = ()
    stored_versions: tuple[str, ...] = ()
    conversion: str = "None"  # spec.conversion.strategy (None | Webhook)
    uid: str = ""

    @property
    def served(self) -> tuple[str, ...]:
        """The served versions, oldest to newest (Kubernetes' version priority)."""
        return tuple(sorted((v.name for v in self.versions if v.served), key=version_key))

    @property
    def storage(self) -> str:
        return next((v.name for v in self.versions if v.storage), "")

    def serves(self, version: str) -> bool:
        return version in self.served

    @property
    def stale_stored(self) -> tuple[str, ...]:
        """storedVersions missing from spec.versions: the next CRD apply fails on them."""
        names = {v.name for v in self.versions}
        return tuple(v for v in self.stored_versions if v not in names)

    def describe(self) -> str:
        if not self.found:
            return f"CRD {self.name} does not exist"
        versions = ", ".join(
            f"{v.name} ({'served' if v.served else 'not served'}{', storage' if v.storage else ''})"
            for v in sorted(self.versions, key=lambda v: version_key(v.name))
        )
        return (
            f"CRD {self.name}: {versions or 'no versions'}; storedVersions "
            f"[{', '.join(self.stored_versions)}]; conversion {self.conversion}"
        )


def crd_facts(name: str, raw: dict[str, Any]) -> Crd:
    spec, status = raw.get("spec") or {}, raw.get("status") or {}
    versions = tuple(
        CrdVersion(str(v.get("name", "")), bool(v.get("served")), bool(v.get("storage")))
        for v in spec.get("versions") or []
    )
    return Crd(
        name=name,
        found=True,
        versions=versions,
        stored_versions=tuple(str(v) for v in status.get("storedVersions") or []),
        conversion=str((spec.get("conversion") or {}).get("strategy") or "None"),
        uid=str((raw.get("metadata") or {}).get("uid", "")),
    )


def read_crd(ctx: ProbeContext, name: str) -> Observed:
    try:
        fetched = ctx.kube.get(CRDS, name)
    except NotFound as exc:
        return Observed(Crd(name, False), (failure_evidence(exc, ctx.now),))
    crd = crd_facts(name, fetched.value)
    return Observed(crd, (kube_evidence(fetched, crd.describe()),))


def read_profile_crd(ctx: ProbeContext) -> Observed:
    return read_crd(ctx, PROFILE_CRD)


def read_istio_crd(ctx: ProbeContext) -> Observed:
    return read_crd(ctx, ISTIO_CRD)


def served_profiles(ctx: ProbeContext) -> ResourceRef:
    """Profiles at a version the API serves: the CRD's storage version when it is served, else its
    newest served one; kubeflow.org/v1 when the CRD cannot be read (the profile-crd rung says why).

    Why: where the CRD serves only v1beta1 (a controller upgraded past its CRD), the API server
    answers 404 to /apis/kubeflow.org/v1/profiles, and the Profiles are what the diagnosis is about.
    The CRD read is the profile-crd probe's own (reads are shared), so this costs no request.
    """
    try:
        crd = crd_facts(PROFILE_CRD, ctx.kube.get(CRDS, PROFILE_CRD).value)
    except ReaderError:
        return PROFILES
    version = crd.storage if crd.serves(crd.storage) else (crd.served[-1] if crd.served else "")
    return dataclasses.replace(PROFILES, version=version) if version else PROFILES
