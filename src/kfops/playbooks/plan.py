"""A plan: the exact API calls a proposal becomes, and the hash approvals are bound to."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from kfops.clients.resources import ResourceRef
from kfops.model import Proposal


class PlanRefused(Exception):
    """The proposal cannot be turned into a safe plan now; the message says why."""


@dataclass(frozen=True)
class Step:
    """One call. `body` is the patch for patches, the object for creates.

    A Kubernetes API call has a `ref`. A step outside Kubernetes has ``ref=None`` and names its
    `system` ("galera"): RBAC does not govern it (the playbook's own credentials do), the gate
    neither asks SelfSubjectAccessReview about it nor sends it with ``dryRun=All`` (its playbook
    dry-runs and runs it: ``Playbook.dry_run`` / ``Playbook.execute``), and its `description` is
    the exact statement it sends.
    """

    verb: str  # patch | create | delete | evict; outside Kubernetes, the playbook's ("kill-query")
    ref: ResourceRef | None
    name: str
    namespace: str | None
    body: dict[str, Any]
    description: str
    uid: str | None = None  # delete precondition: exactly the object that was planned
    strategic: bool = False
    propagation: str | None = None  # delete: propagationPolicy ("Background": dependents go too)
    system: str = ""  # where a step with ref=None goes ("galera"); empty for Kubernetes

    def __post_init__(self) -> None:
        if (self.ref is None) != bool(self.system):
            raise ValueError("a step has exactly one of a ref (a Kubernetes call) or a system (elsewhere)")

    @property
    def rbac(self) -> tuple[str, str]:
        """(verb, subresource) as RBAC sees the call (Kubernetes steps only)."""
        return ("create", "eviction") if self.verb == "evict" else (self.verb, "")

    def to_json(self) -> dict[str, Any]:
        """What the plan hash covers. Keys added later appear only when set, so the hash of a
        plan made of earlier kinds of steps never changes."""
        data: dict[str, Any] = {
            "verb": self.verb,
            "resource": self.ref.qualified if self.ref is not None else self.system,
            "namespace": self.namespace,
            "name": self.name,
            "body": self.body,
            "uid": self.uid,
        }
        if self.propagation:
            data["propagation"] = self.propagation
        return data

    def command(self) -> str:
        """The equivalent request, for humans reading the plan."""
        if self.ref is None:
            return self.description
        where = f" -n {self.namespace}" if self.namespace else ""
        if self.verb == "patch":
            return f"PATCH {self.ref.qualified}/{self.name}{where}: {json.dumps(self.body, sort_keys=True)}"
        if self.verb == "evict":
            return f"POST pods/{self.name}/eviction{where}"
        return f"{self.verb.upper()} {self.ref.qualified}/{self.name}{where}"


@dataclass(frozen=True)
class Plan:
    proposal: Proposal
    steps: tuple[Step, ...]
    diff: tuple[str, ...]  # "- spec.unschedulable: false" / "+ spec.unschedulable: true"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def hash(self) -> str:
        """Binds approvals to the exact change: any different step is a different plan."""
        canonical = json.dumps(
            {
                "action": self.proposal.action,
                "target": self.proposal.target,
                "steps": [s.to_json() for s in self.steps],
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def id(self) -> str:
        return self.hash[:12]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hash": self.hash,
            "action": self.proposal.action,
            "target": self.proposal.target,
            "proposal": self.proposal.to_dict(),
            "proposalId": self.proposal.id,
            "risk": self.proposal.risk.value,
            "title": self.proposal.title,
            "steps": [s.to_json() for s in self.steps],
            "diff": list(self.diff),
            "notes": list(self.notes),
            "preconditions": list(self.proposal.preconditions),
            "rollback": self.proposal.rollback,
        }
