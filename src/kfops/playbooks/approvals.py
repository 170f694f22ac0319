"""Approval records: a ConfigMap per plan in kfops' namespace, so any surface and any replica sees them.

An approval is bound to the plan hash and expires. High risk needs two distinct approvers, neither
of them the requester; low and medium risk need one, who may be the requester confirming their own
request (the CLI's confirmation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.errors import Conflict, NotFound
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import CONFIGMAPS
from kfops.model import Risk
from kfops.settings import Settings


class ApprovalRefused(Exception):
    """The approval does not count; the message says why (expired, requester, twice, unknown)."""


@dataclass(frozen=True)
class Record:
    plan: dict[str, Any]
    requester: str
    expires_at: datetime
    required: int
    approvals: tuple[dict[str, str], ...]
    status: str  # pending | executing | executed | failed
    resource_version: str | None = None

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(a["user"] for a in self.approvals)

    @property
    def complete(self) -> bool:
        return len(self.approvals) >= self.required


def required_approvals(risk: Risk) -> int:
    return 2 if risk is Risk.HIGH else 1


class Approvals:
    def __init__(self, writer: KubeWriter, settings: Settings) -> None:
        self.writer = writer
        self.settings = settings

    @staticmethod
    def name(plan_id: str) -> str:
        return f"kfops-plan-{plan_id}"

    def open(self, plan: dict[str, Any], requester: str, risk: Risk, now: datetime) -> Record:
        """Store a new request (idempotent: the same plan requested again keeps its record)."""
        record = Record(
            plan=plan,
            requester=requester,
            expires_at=now + timedelta(minutes=self.settings.approval_ttl_min),
            required=required_approvals(risk),
            approvals=(),
            status="pending",
        )
        try:
            self.writer.create(
                CONFIGMAPS, self.settings.namespace, self._body(plan["id"], record), dry_run=False
            )
        except Conflict:
            existing = self.load(plan["id"])
            if existing.status == "pending" and existing.expires_at <= now:
                self._save(plan["id"], record, existing.resource_version)  # expired: start over
                return self.load(plan["id"])
            return existing
        return self.load(plan["id"])

    def load(self, plan_id: str) -> Record:
        try:
            value = self.writer.get(CONFIGMAPS, self.name(plan_id), self.settings.namespace).value
        except NotFound as exc:
            raise ApprovalRefused(f"no plan {plan_id} awaits approval (see `kfops remediate`)") from exc
        data = value.get("data") or {}
        return Record(
            plan=json.loads(data["plan"]),
            requester=data["requester"],
            expires_at=datetime.fromisoformat(data["expiresAt"]),
            required=int(data["required"]),
            approvals=tuple(json.loads(data.get("approvals") or "[]")),
            status=data.get("status", "pending"),
            resource_version=(value.get("metadata") or {}).get("resourceVersion"),
        )

    def approve(self, plan_id: str, approver: str, now: datetime, *, self_approval: bool = False) -> Record:
        """Add one approval; refuses expired plans, the requester on high risk, and doubles."""
        record = self.load(plan_id)
        if record.status != "pending":
            raise ApprovalRefused(f"plan {plan_id} is already {record.status}; nothing more to approve")
        if now >= record.expires_at:
            raise ApprovalRefused(
                f"plan {plan_id} expired at {record.expires_at:%H:%M:%SZ}: the cluster may have changed; "
                "diagnose again and request a new plan"
            )
        if approver in record.approvers:
            raise ApprovalRefused(f"{approver} already approved plan {plan_id}; it needs a different person")
        if approver == record.requester and (record.required > 1 or not self_approval):
            raise ApprovalRefused(
                f"{approver} requested plan {plan_id} and cannot approve it: high-risk changes need "
                f"{record.required} approvers other than the requester"
            )
        approvals = (*record.approvals, {"user": approver, "at": now.isoformat()})
        updated = Record(**{**record.__dict__, "approvals": approvals})
        self._save(plan_id, updated, record.resource_version)
        return self.load(plan_id)

    def set_status(self, plan_id: str, status: str) -> Record:
        """Move the record on; a concurrent move (Conflict) means another run got there first."""
        record = self.load(plan_id)
        self._save(plan_id, Record(**{**record.__dict__, "status": status}), record.resource_version)
        return self.load(plan_id)

    def _body(self, plan_id: str, record: Record) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name(plan_id),
                "namespace": self.settings.namespace,
                "labels": {"app.kubernetes.io/name": "kfops", "kfops.dev/plan": plan_id},
            },
            "data": {
                "plan": json.dumps(record.plan, sort_keys=True),
                "requester": record.requester,
                "expiresAt": record.expires_at.isoformat(),
                "required": str(record.required),
                "approvals": json.dumps(list(record.approvals)),
                "status": record.status,
            },
        }

    def _save(self, plan_id: str, record: Record, resource_version: str | None) -> None:
        body = self._body(plan_id, record)
        body["metadata"]["resourceVersion"] = resource_version
        self.writer.replace(CONFIGMAPS, self.name(plan_id), self.settings.namespace, body, dry_run=False)
