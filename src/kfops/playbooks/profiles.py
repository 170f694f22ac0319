"""Profile playbooks: roll one Profile's spec back to what was last applied (profile.rollback).

    profile.rollback  (high)  the Profile's spec becomes restore_spec again

The profile-controller-crashloop ladder proposes it when a Profile carries fields the running
controller cannot decode (``unknown field "spec.x"``: the controller exits at start and crash-loops
on every Profile), and the Profile's ``kubectl.kubernetes.io/last-applied-configuration`` holds a
spec without them: ``restore_spec``.

The patch is a JSON merge patch (``kubectl patch --type merge``) on the cluster-scoped Profile that
makes its spec equal restore_spec: every key present now but absent from restore_spec (at any
depth of nested objects) is set to null, the rest is restored (lists whole). It carries
``metadata.uid`` (immutable: a re-created Profile refuses it), and when executed the diagnosed
``metadata.resourceVersion``: the plan already refuses a Profile whose resourceVersion moved since
the diagnosis (the diagnosis argued from that object), and the API server refuses (409) one that
moves between the execution's re-check and the write. The server-side dry run checks the result
against the CRD's schema (e.g. ``spec.owner`` requires ``kind`` and ``name``).

``fields`` are the offending paths as the diagnosis names them, dotted, under ``spec``
(``spec.workspaceQuota``, ``spec.plugins[0].spec.x``; the ``spec.`` prefix is optional). A path
that ends in ``kind`` names an offending value (a plugin kind the controller does not know), not an
unknown key: restore_spec offends there only with the same value.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import PROFILES
from kfops.model import Proposal, Risk
from kfops.playbooks.base import (
    Context,
    Outcome,
    Playbook,
    Verification,
    read_diagnosed_object,
    send_if_still_planned,
)
from kfops.playbooks.plan import Plan, PlanRefused, Step

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
UNSET, REMOVED = "(unset)", "(removed)"
_SEGMENT = re.compile(r"^([^.\[\]]+)((?:\[\d+\])*)$")

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Rollback:
    """A profile.rollback proposal's parameters, checked."""

    name: str
    uid: str
    resource_version: str
    fields: tuple[str, ...]
    paths: tuple[Path, ...]
    restore_spec: dict[str, Any]
    source: str

    @property
    def ref(self) -> str:
        return f"Profile {self.name}"


def _parse(field: str) -> Path:
    """``spec.plugins[0].kind`` → ("plugins", 0, "kind"); PlanRefused when it is no such path."""
    text = field.removeprefix("spec.") if field.startswith("spec.") else field
    path: list[str | int] = []
    for part in text.split("."):
        match = _SEGMENT.match(part)
        if not match:
            raise PlanRefused(f"profile.rollback: {field!r} in fields is not a dotted path under spec")
        path.append(match.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return tuple(path)


def _dotted(path: Path) -> str:
    return "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _lookup(spec: Any, path: Path) -> tuple[bool, Any]:
    """(found, value) of `path` in `spec`."""
    here = spec
    for part in path:
        if isinstance(part, int):
            if not isinstance(here, list) or part >= len(here):
                return False, None
            here = here[part]
        else:
            if not isinstance(here, dict) or part not in here:
                return False, None
            here = here[part]
    return True, here


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


def _params(proposal: Proposal) -> Rollback:
    params = proposal.params
    keys = ("profile", "uid", "resource_version", "fields", "restore_spec")
    missing = [k for k in keys if params.get(k) in (None, "", [])]
    if missing:
        raise PlanRefused(f"{proposal.action} needs {', '.join(missing)} in its parameters")
    fields, restore = params["fields"], params["restore_spec"]
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise PlanRefused(f"{proposal.action} needs fields as a list of dotted paths, not {fields!r}")
    if not isinstance(restore, dict):
        raise PlanRefused(f"{proposal.action} needs restore_spec as an object (a Profile's spec)")
    if _has_null(restore):
        raise PlanRefused(
            f"{proposal.action}: restore_spec holds a null, which a merge patch cannot restore (it removes "
            "the key); restore the Profile by hand"
        )
    return Rollback(
        name=str(params["profile"]),
        uid=str(params["uid"]),
        resource_version=str(params["resource_version"]),
        fields=tuple(fields),
        paths=tuple(_parse(f) for f in fields),
        restore_spec=copy.deepcopy(restore),
        source=str(params.get("source") or LAST_APPLIED),
    )


def _read(ctx: Context, rb: Rollback) -> dict[str, Any]:
    """The Profile now, if it is still the diagnosed object in the diagnosed state."""
    raw = read_diagnosed_object(ctx, PROFILES, rb.name, None, rb.uid, rb.ref)
    meta = raw.get("metadata") or {}
    if str(meta.get("resourceVersion")) != rb.resource_version:
        raise PlanRefused(
            f"{rb.ref} changed since the diagnosis (resourceVersion {meta.get('resourceVersion')}, "
            f"not {rb.resource_version}): diagnose again"
        )
    return raw


def _offends(spec: Any, path: Path, bad: Any) -> bool:
    """Does `spec` carry the offending field at `path` (its value `bad` as diagnosed, for a kind)?"""
    found, value = _lookup(spec, path)
    return found and (path[-1] != "kind" or value == bad)


def merge_patch(now: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns `now` into `wanted`: keys only `now` has are null,
    nested objects are patched key by key, every other value (lists whole) is `wanted`'s."""
    patch: dict[str, Any] = {key: None for key in now if key not in wanted}
    for key, value in wanted.items():
        old = now.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            patch[key] = merge_patch(old, value)
        else:
            patch[key] = copy.deepcopy(value)
    return patch


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def changes(now: Any, wanted: Any, where: str = "spec") -> list[str]:
    """The diff from `now` to `wanted`, one "- path: old" / "+ path: new" pair per changed field."""
    if isinstance(now, dict) and isinstance(wanted, dict):
        lines: list[str] = []
        for key in sorted(set(now) | set(wanted)):
            path = f"{where}.{key}"
            if key not in wanted:
                lines += [f"- {path}: {_shown(now[key])}", f"+ {path}: {REMOVED}"]
            elif key not in now:
                lines += [f"- {path}: {UNSET}", f"+ {path}: {_shown(wanted[key])}"]
            else:
                lines += changes(now[key], wanted[key], path)
        return lines
    return [] if now == wanted else [f"- {where}: {_shown(now)}", f"+ {where}: {_shown(wanted)}"]


class RollbackProfile(Playbook):
    """One Profile's spec back to restore_spec (its last-applied spec), without the offending fields."""

    action = "profile.rollback"
    risk = Risk.HIGH
    writes = (("patch", PROFILES, ""),)

    def _build(self, rb: Rollback, raw: dict[str, Any]) -> tuple[Step, tuple[str, ...], dict[str, Any]]:
        """(the step, the diff, the undo patch) for this read, or PlanRefused."""
        spec = raw.get("spec") or {}
        bad = {path: _lookup(spec, path)[1] for path in rb.paths}
        if not any(_lookup(spec, path)[0] for path in rb.paths):
            raise PlanRefused(
                f"{rb.ref} no longer has {', '.join(_dotted(p) for p in rb.paths)}: nothing to roll back"
            )
        still = [_dotted(path) for path in rb.paths if _offends(rb.restore_spec, path, bad[path])]
        if still:
            raise PlanRefused(
                f"restore_spec (from {rb.source}) still has {', '.join(still)}: restoring it would not "
                "remove what the controller cannot decode; fix the Profile by hand (kubectl apply -f "
                "<your previous profile.yaml>)"
            )
        patch = merge_patch(spec, rb.restore_spec)
        step = Step(
            verb="patch",
            ref=PROFILES,
            name=rb.name,
            namespace=None,
            body={"metadata": {"uid": rb.uid}, "spec": patch},
            description=f"restore the spec of {rb.ref} from {rb.source} (without {', '.join(rb.fields)})",
        )
        return step, tuple(changes(spec, rb.restore_spec)), {"spec": merge_patch(rb.restore_spec, spec)}

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        rb = _params(proposal)
        raw = _read(ctx, rb)
        step, diff, undo = self._build(rb, raw)
        owner = rb.restore_spec.get("owner")
        owner = owner.get("name") if isinstance(owner, dict) else None
        notes = (
            f"restore_spec is the spec in {rb.source}: the Profile's spec becomes exactly that "
            f"(owner {owner or UNSET}); {', '.join(_dotted(p) for p in rb.paths)} go",
            "the patch carries the uid (a re-created Profile is refused) and, when executed, the diagnosed "
            f"resourceVersion {rb.resource_version} (a Profile changed since is refused)",
            "once the controller can decode every Profile it stops crashing and reconciles them again; "
            "a later `kubectl apply` of a manifest with those fields brings the crash back — remove them "
            "there too, or upgrade the controller first",
            f"to undo: kubectl patch profile {rb.name} --type merge -p '{json.dumps(undo, sort_keys=True)}' "
            "(puts the offending fields back: the controller crashes again)",
        )
        return Plan(proposal, (step,), diff, notes)

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        """Re-read and re-build; send only the planned patch, at the diagnosed resourceVersion."""

        def rebuild() -> tuple[Step, str, object]:
            rb = _params(plan.proposal)
            fresh, _, _ = self._build(rb, _read(ctx, rb))
            return fresh, rb.ref, rb.resource_version

        return send_if_still_planned(writer, plan.steps[0], rebuild)

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        rb = _params(plan.proposal)
        try:
            raw = ctx.reader.get(PROFILES, rb.name).value
        except NotFound:
            return Verification(False, f"{rb.ref} no longer exists")
        except ReaderError as exc:
            return Verification(False, f"cannot verify {rb.ref}: {exc.headline}")
        if (raw.get("metadata") or {}).get("uid") != rb.uid:
            return Verification(False, f"{rb.ref} was re-created: it is not the object patched")
        spec = raw.get("spec") or {}
        # an offending kind is a value: restore_spec's own kind there is fine, spec == restore_spec checks it
        present = [_dotted(path) for path in rb.paths if path[-1] != "kind" and _lookup(spec, path)[0]]
        if present:
            return Verification(False, f"{rb.ref} still has {', '.join(present)}")
        if spec != rb.restore_spec:
            differs = [line[2:].partition(":")[0] for line in changes(spec, rb.restore_spec)[::2]]
            return Verification(
                False,
                f"{rb.ref} no longer has the offending fields, but its spec differs from restore_spec "
                f"at {', '.join(differs)}",
            )
        gone = ", ".join(_dotted(p) for p in rb.paths)
        return Verification(True, f"{rb.ref}: {gone} gone; its spec is restore_spec (from {rb.source})")
