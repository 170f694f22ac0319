"""The step pods' PersistentVolumeClaims: bound or not, and why not (StorageClass, provisioner).

A claim stays Pending when its StorageClass does not exist, when no class is named and none is
the default, or when the provisioner fails (ProvisioningFailed events carry its words). A
``WaitForFirstConsumer`` class binds only once the pod is scheduled, so such a claim is waiting,
not broken — the scheduling rung has the real reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kfops.clients.resources import PVCS, STORAGECLASSES
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.pipelines.steps import Steps
from kfops.diagnostics.pipelines.target import resolve
from kfops.model import Observed

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class Claim:
    namespace: str
    name: str
    phase: str
    storage_class: str  # "" when the claim names none
    requested: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class StorageClass:
    name: str
    provisioner: str
    binding_mode: str
    default: bool


@dataclass(frozen=True)
class Storage:
    claims: tuple[Claim, ...]
    classes: tuple[StorageClass, ...]

    def storage_class(self, name: str) -> StorageClass | None:
        return next((c for c in self.classes if c.name == name), None)

    def default_class(self) -> StorageClass | None:
        return next((c for c in self.classes if c.default), None)


def _claim(raw: dict[str, Any]) -> Claim:
    metadata, spec = raw.get("metadata") or {}, raw.get("spec") or {}
    return Claim(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        phase=str((raw.get("status") or {}).get("phase", "")),
        storage_class=str(spec.get("storageClassName") or ""),
        requested=str(((spec.get("resources") or {}).get("requests") or {}).get("storage", "")),
    )


def _class(raw: dict[str, Any]) -> StorageClass:
    metadata = raw.get("metadata") or {}
    return StorageClass(
        name=str(metadata.get("name", "")),
        provisioner=str(raw.get("provisioner", "")),
        binding_mode=str(raw.get("volumeBindingMode") or "Immediate"),
        default=(metadata.get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true",
    )


def read_storage(ctx: ProbeContext) -> Observed:
    """The claims in the run's namespace and the cluster's StorageClasses (two list requests)."""
    workflow = resolve(ctx).workflow
    if workflow is None:
        return Observed(Storage((), ()))
    claims_fetched = ctx.kube.list(PVCS, workflow.namespace)
    classes_fetched = ctx.kube.list(STORAGECLASSES)
    storage = Storage(tuple(map(_claim, claims_fetched.value)), tuple(map(_class, classes_fetched.value)))
    return Observed(
        storage,
        (
            kube_evidence(
                claims_fetched, f"{len(storage.claims)} PersistentVolumeClaims in {workflow.namespace}"
            ),
            kube_evidence(classes_fetched, f"{len(storage.classes)} StorageClasses"),
        ),
    )


@dataclass(frozen=True)
class Unbound:
    claim: Claim
    why: str
    fix: str  # the exact change, for the manual proposal


def unbound_claims(steps: Steps, storage: Storage) -> tuple[Unbound, ...]:
    """Claims a waiting step pod mounts (or the Workflow created) that are not Bound, with why."""
    workflow = steps.workflow
    if workflow is None:
        return ()
    wanted = {c for p in steps.pods if not p.pod.terminal for c in p.claims}
    found = []
    for claim in storage.claims:
        if claim.phase == "Bound" or not (claim.name in wanted or claim.name.startswith(f"{workflow.name}-")):
            continue
        about = f"PersistentVolumeClaim/{claim.name}"
        about_claim = [e for e in steps.events if steps.event_objects.get(e) == about]  # newest first
        # a Warning (ProvisioningFailed) carries the cause; the Normal "waiting for …" hides it
        latest = next(
            (e for e in about_claim if e.type == "Warning"), about_claim[0] if about_claim else None
        )
        said = f"; latest event {latest.reason}: {latest.message}" if latest else ""
        named = storage.storage_class(claim.storage_class) if claim.storage_class else storage.default_class()
        if claim.storage_class and named is None:
            why = f"its StorageClass '{claim.storage_class}' does not exist{said}"
            fix = (
                f"create StorageClass '{claim.storage_class}', or change the pipeline's volume to one of: "
                f"{', '.join(c.name for c in storage.classes) or 'no StorageClass exists'}"
            )
        elif not claim.storage_class and named is None:
            why = f"it names no StorageClass and none is the default{said}"
            fix = f'mark a StorageClass default ({DEFAULT_CLASS_ANNOTATION}: "true") or name one in the claim'
        elif named is not None and named.binding_mode == "WaitForFirstConsumer" and not latest:
            continue  # waits for its pod to be scheduled: not the cause
        else:
            provisioner = named.provisioner if named else "?"
            why = f"provisioner {provisioner} has not created its volume{said or ' (no events)'}"
            fix = f"check provisioner {provisioner} (its controller's logs) and the StorageClass parameters"
        found.append(Unbound(claim, why, fix))
    return tuple(found)
