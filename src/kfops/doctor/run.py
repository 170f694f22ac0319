"""All the checks, in the order a platform engineer fixes things: cluster, permissions, sources,
surfaces."""

from __future__ import annotations

from kfops.doctor import chatops, kube, sources
from kfops.doctor.rows import Row
from kfops.settings import Settings


def run_checks(settings: Settings, kubeconfig: str | None = None, context: str | None = None) -> list[Row]:
    cluster = kube.connect(settings, kubeconfig, context)
    rows = list(cluster.rows)
    rows += kube.permissions(cluster, settings)
    rows += sources.prometheus(settings, cluster.reader)
    rows += sources.galera(settings, cluster.reader)
    rows += sources.kfp(settings, cluster.reader)
    enabled, _ = kube.enabled_playbooks(settings)
    rows += chatops.slack(settings, bool(enabled))
    rows += chatops.pagerduty(settings)
    rows += chatops.surfaces(settings)
    return rows
