"""Execute once: a coordination.k8s.io/v1 Lease per target serialises executions everywhere.

Whoever creates (or takes over an expired) Lease runs; the Lease then remembers the plan hash it
executed, so a second approval, a second click or a second replica executes nothing and says so.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.errors import Conflict, NotFound
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import LEASES
from kfops.settings import Settings

PLAN = "kfops.dev/plan"
STATE = "kfops.dev/state"  # executing | done
OUTCOME = "kfops.dev/outcome"


class NotAcquired(Exception):
    """Another execution holds the target, or this very plan already ran."""


def _micro(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TargetLock:
    def __init__(self, writer: KubeWriter, settings: Settings) -> None:
        self.writer = writer
        self.settings = settings

    def name(self, target: str) -> str:
        return "kfops-lock-" + hashlib.sha256(target.encode()).hexdigest()[:16]

    def acquire(self, target: str, plan_hash: str, holder: str, now: datetime) -> None:
        name, namespace = self.name(target), self.settings.namespace
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/name": "kfops"},
                "annotations": {PLAN: plan_hash, STATE: "executing", "kfops.dev/target": target},
            },
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": self.settings.lock_duration_s,
                "acquireTime": _micro(now),
                "renewTime": _micro(now),
            },
        }
        try:
            self.writer.create(LEASES, namespace, body, dry_run=False)
            return
        except Conflict:
            pass
        current = self.writer.get(LEASES, name, namespace).value
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        spec = current.get("spec") or {}
        if annotations.get(PLAN) == plan_hash and annotations.get(STATE) == "done":
            raise NotAcquired(
                f"this plan was already executed ({annotations.get(OUTCOME, 'done')}); nothing was done again"
            )
        renewed = datetime.fromisoformat(
            str(spec.get("renewTime", "1970-01-01T00:00:00Z")).replace("Z", "+00:00")
        )
        expired = now - renewed > timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))
        if annotations.get(STATE) == "executing" and not expired:
            raise NotAcquired(
                f"{spec.get('holderIdentity', 'another run')} is executing on {target} right now; "
                "nothing was done"
            )
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            self.writer.replace(LEASES, name, namespace, body, dry_run=False)
        except (Conflict, NotFound) as exc:
            raise NotAcquired(
                f"another run took the lock on {target} at the same moment; nothing was done"
            ) from exc

    def release(self, target: str, outcome: str) -> None:
        patch = {
            "metadata": {"annotations": {STATE: "done", OUTCOME: outcome}},
            "spec": {"holderIdentity": None},
        }
        self.writer.patch(LEASES, self.name(target), self.settings.namespace, patch, dry_run=False)
