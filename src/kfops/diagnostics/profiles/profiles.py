"""The Profiles: who changed which one when (managedFields), and which spec fields no known
controller decodes.

One list (Profiles are cluster-scoped, one per user or team: hundreds at most). A Profile's
newest change is the newest ``metadata.managedFields[].time`` (else its creationTimestamp); who
made it is that entry's ``manager`` (kubectl-client-side-apply, kubectl-edit, argocd-controller …).
The spec kfops can restore is the one in ``kubectl.kubernetes.io/last-applied-configuration``:
what the last ``kubectl apply`` sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.kube.timefmt import parse_time
from kfops.diagnostics.profiles.crds import served_profiles
from kfops.diagnostics.profiles.versions import (
    KNOWN_SPEC_FIELDS,
    OWNER_FIELDS,
    PLUGIN_FIELDS,
    PLUGIN_KINDS,
    QUOTA_FIELDS,
)
from kfops.model import Observed

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def unknown_fields(spec: Any) -> tuple[str, ...]:
    """The dotted paths of spec fields no known controller decodes (plugins[].kind included)."""
    if not isinstance(spec, dict):
        return ()
    found = [f"spec.{key}" for key in spec if key not in KNOWN_SPEC_FIELDS]
    owner = spec.get("owner")
    if isinstance(owner, dict):
        found += [f"spec.owner.{key}" for key in owner if key not in OWNER_FIELDS]
    quota = spec.get("resourceQuotaSpec")
    if isinstance(quota, dict):
        found += [f"spec.resourceQuotaSpec.{key}" for key in quota if key not in QUOTA_FIELDS]
    plugins = spec.get("plugins")
    if isinstance(plugins, list):
        for i, plugin in enumerate(plugins):
            if not isinstance(plugin, dict):
                continue
            found += [f"spec.plugins[{i}].{key}" for key in plugin if key not in PLUGIN_FIELDS]
            kind = plugin.get("kind")
            if kind is not None and kind not in PLUGIN_KINDS:
                found.append(f"spec.plugins[{i}].kind={kind}")
    return tuple(found)


@dataclass(frozen=True)
class Change:
    manager: str
    operation: str  # Update | Apply
    time: datetime | None
    fields: dict[str, Any]  # fieldsV1

    def touches(self, path: str) -> bool:
        """Does this entry own the field (its top-level spec key, as fieldsV1 writes it)?"""
        spec = self.fields.get("f:spec")
        if not isinstance(spec, dict):
            return False
        key = path.removeprefix("spec.").split(".")[0].split("[")[0].split("=")[0]
        return f"f:{key}" in spec


@dataclass(frozen=True)
class Profile:
    name: str
    uid: str
    resource_version: str
    generation: int
    created: datetime | None
    owner: str  # spec.owner.name
    spec: dict[str, Any]
    changes: tuple[Change, ...]
    last_applied_spec: dict[str, Any] | None  # None: no (parseable) last-applied annotation

    @property
    def unknown(self) -> tuple[str, ...]:
        return unknown_fields(self.spec)

    @property
    def changed(self) -> datetime | None:
        """The newest managedFields time, else the creation time."""
        times = [c.time for c in self.changes if c.time is not None]
        return max(times) if times else self.created

    def changed_by(self, path: str = "") -> Change | None:
        """The newest change that owns the field (else the newest change)."""
        dated = sorted(self.changes, key=lambda c: c.time.isoformat() if c.time else "", reverse=True)
        if path:
            owner = next((c for c in dated if c.touches(path)), None)
            if owner is not None:
                return owner
        return dated[0] if dated else None

    @property
    def restorable(self) -> bool:
        """The last-applied spec exists and carries none of the offending fields."""
        return self.last_applied_spec is not None and not unknown_fields(self.last_applied_spec)


def profile_facts(raw: dict[str, Any]) -> Profile:
    metadata = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    owner = spec.get("owner") if isinstance(spec.get("owner"), dict) else {}
    applied: dict[str, Any] | None = None
    text = (metadata.get("annotations") or {}).get(LAST_APPLIED)
    if text:
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict) and isinstance(loaded.get("spec"), dict):
            applied = loaded["spec"]
    changes = tuple(
        Change(
            manager=str(m.get("manager", "")),
            operation=str(m.get("operation", "")),
            time=parse_time(m.get("time")),
            fields=dict(m.get("fieldsV1") or {}),
        )
        for m in metadata.get("managedFields") or []
        if m.get("subresource") != "status"
    )
    return Profile(
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        resource_version=str(metadata.get("resourceVersion", "")),
        generation=int(metadata.get("generation") or 0),
        created=parse_time(metadata.get("creationTimestamp")),
        owner=str((owner or {}).get("name", "")),
        spec=dict(spec) if isinstance(spec, dict) else {},
        changes=changes,
        last_applied_spec=applied,
    )


@dataclass(frozen=True)
class Profiles:
    items: tuple[Profile, ...]  # newest change first

    def recent(self, now: datetime, hours: float) -> tuple[Profile, ...]:
        return tuple(
            p
            for p in self.items
            if p.changed is not None and (now - p.changed).total_seconds() <= hours * 3600
        )

    def offending(self, field: str = "") -> tuple[Profile, ...]:
        """Profiles with unknown fields: the one carrying the log's field first, then newest."""
        found = [p for p in self.items if p.unknown]
        if field:
            found.sort(key=lambda p: 0 if any(_same(u, field) for u in p.unknown) else 1)
        return tuple(found)


def _same(path: str, logged: str) -> bool:
    """An unknown-field path against the field a log line names ("spec.x" or just "x")."""
    bare = path.split("=")[0]
    logged = logged.strip()
    return bare == logged or bare == f"spec.{logged}" or bare.endswith(f".{logged}")


def newest_first(profiles: list[Profile]) -> list[Profile]:
    return sorted(profiles, key=lambda p: p.changed.isoformat() if p.changed else "", reverse=True)


def read_profiles(ctx: ProbeContext) -> Observed:
    fetched = ctx.kube.list(served_profiles(ctx))
    profiles = tuple(newest_first([profile_facts(p) for p in fetched.value]))
    odd = [p.name for p in profiles if p.unknown]
    said = f"{len(profiles)} Profiles" + (
        f"; with fields no controller knows: {', '.join(odd)}" if odd else ""
    )
    return Observed(Profiles(profiles), (kube_evidence(fetched, said),))
