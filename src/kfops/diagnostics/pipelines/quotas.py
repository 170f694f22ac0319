"""ResourceQuotas in the run's namespace, and the quota refusals the controller recorded.

A quota refusal leaves no pod behind: the API server's admission rejects the create, and Argo
writes the refusal into the node message ('pods "…" is forbidden: exceeded quota: <name>,
requested: …, used: …, limited: …'); ReplicaSets and Jobs would show it as FailedCreate events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kfops.clients.resources import RESOURCEQUOTAS
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.kube.quantity import parse_quantity
from kfops.diagnostics.pipelines.steps import Steps
from kfops.diagnostics.pipelines.target import resolve
from kfops.model import Observed

EXCEEDED = re.compile(r"exceeded quota: ([\w.-]+), requested: (.*?), used: (.*?), limited: ([^\n]*)")
NEAR_LIMIT = Decimal("0.9")


@dataclass(frozen=True)
class Quota:
    namespace: str
    name: str
    hard: dict[str, str]
    used: dict[str, str]

    def usage(self) -> dict[str, Decimal]:
        """resource → used/hard, for the resources with both."""
        ratios = {}
        for resource, limit in self.hard.items():
            hard, used = parse_quantity(limit), parse_quantity(self.used.get(resource, "0"))
            if hard and used is not None:
                ratios[resource] = used / hard
        return ratios


@dataclass(frozen=True)
class Refusal:
    quota: str
    requested: str
    used: str
    limited: str
    where: str  # the node or event that recorded it


def _quota(raw: dict[str, Any]) -> Quota:
    metadata, status = raw.get("metadata") or {}, raw.get("status") or {}
    hard = (raw.get("spec") or {}).get("hard") or status.get("hard") or {}
    return Quota(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        hard={str(k): str(v) for k, v in hard.items()},
        used={str(k): str(v) for k, v in (status.get("used") or {}).items()},
    )


def read_quotas(ctx: ProbeContext) -> Observed:
    workflow = resolve(ctx).workflow
    if workflow is None:
        return Observed(())
    fetched = ctx.kube.list(RESOURCEQUOTAS, workflow.namespace)
    quotas = tuple(map(_quota, fetched.value))
    return Observed(
        quotas, (kube_evidence(fetched, f"{len(quotas)} ResourceQuotas in {workflow.namespace}"),)
    )


def _refusal(match: re.Match[str], where: str) -> Refusal:
    quota, requested, used, limited = match.groups()
    return Refusal(quota, requested, used, limited, where)


def refusals(steps: Steps) -> tuple[Refusal, ...]:
    """Quota refusals in active node messages and in events about the run, newest first."""
    found = []
    workflow = steps.workflow
    if workflow is not None:
        for node in workflow.pod_nodes():
            match = EXCEEDED.search(node.message)
            if match and not (node.finished_phase and node.phase == "Succeeded"):
                found.append(_refusal(match, node.describe()))
    for event, about in steps.event_objects.items():
        match = EXCEEDED.search(event.message)
        if match:
            found.append(_refusal(match, f"{event.reason} event on {about}"))
    return tuple(found)


def near_limit(quotas: tuple[Quota, ...]) -> tuple[tuple[Quota, str, Decimal], ...]:
    return tuple(
        (quota, resource, ratio)
        for quota in quotas
        for resource, ratio in sorted(quota.usage().items())
        if ratio >= NEAR_LIMIT
    )
