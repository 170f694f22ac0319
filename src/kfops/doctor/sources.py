"""Prometheus, Galera and the KFP API, opened exactly as `kfops serve` opens them
(kfops.clients.sources), each asked one fixed read."""

from __future__ import annotations

import re

from kfops.clients.errors import ConfigurationError, NotFound, ReaderError
from kfops.clients.galera.queries import WSREP_STATUS
from kfops.clients.protocols import KubeReader, PromReader, Sample
from kfops.clients.sources import open_galera, open_kfp, open_prometheus
from kfops.doctor.rows import Level, Row
from kfops.runbooks.registry import ladders
from kfops.runbooks.requirements import metrics
from kfops.settings import Settings

#: a run id no KFP run has: the API answers 404, which proves it answers (and authorises us)
PROBE_RUN_ID = "00000000-0000-4000-8000-000000000000"


def prometheus(settings: Settings, kube: KubeReader | None) -> list[Row]:
    """Prometheus answers, and each ladder's metric names exist (one query for all of them)."""
    group = "prometheus"
    if not settings.prometheus_url:
        return [
            Row(
                group,
                "configured",
                Level.SKIPPED,
                "no prometheus_url: the Prometheus rungs will say they were skipped",
                "set KFOPS_PROMETHEUS_URL (e.g. http://prometheus-operated.monitoring.svc:9090)",
            )
        ]
    prom: PromReader | None = open_prometheus(settings, kube)
    if prom is None:  # pragma: no cover — a URL always opens a reader
        return []
    try:
        prom.query("vector(1)")
    except ReaderError as exc:
        fix = "check prometheus_url, its credentials (prometheus_token / username+password) and egress"
        return [Row(group, "answers", Level.FAIL, exc.headline, fix)]
    rows = [Row(group, "answers", Level.OK, prom.describe())]
    wanted = {ladder.id: metrics(ladder.id, settings) for ladder in ladders()}
    names = sorted({m.name for found in wanted.values() for m in found})
    if not names:
        return rows
    promql = f'count by (__name__) ({{__name__=~"{"|".join(re.escape(n) for n in names)}"}})'
    try:
        answer = prom.query(promql)
    except ReaderError as exc:
        return [*rows, Row(group, "metrics", Level.FAIL, exc.headline)]
    present = {str(sample.labels.get("__name__", "")) for sample in _samples(answer.value)}
    for ladder, needed in wanted.items():
        if not needed:
            continue
        missing = [m for m in needed if m.name not in present]
        if not missing:
            rows.append(Row(group, f"metrics for {ladder}", Level.OK, f"all {len(needed)} present"))
            continue
        for metric in missing:
            rows.append(
                Row(
                    group,
                    f"metrics for {ladder}",
                    Level.WARN,
                    f"{metric.name} missing: those rungs will answer NO_DATA",
                    f"enable {metric.exporter}",
                )
            )
    return rows


def _samples(value: object) -> list[Sample]:
    return [v for v in value if isinstance(v, Sample)] if isinstance(value, list) else []


def galera(settings: Settings, kube: KubeReader | None) -> list[Row]:
    """Each node accepts the read-only credentials: connect and run one fixed read."""
    group = "galera"
    if not (settings.galera_nodes or settings.galera_mariadb):
        return [
            Row(
                group,
                "configured",
                Level.SKIPPED,
                "no galera_nodes or galera_mariadb: galera-migration-failure reads Kubernetes only",
                "set KFOPS_GALERA_NODES (host:port,…) or KFOPS_GALERA_MARIADB, and the read-only user",
            )
        ]
    try:
        reader = open_galera(settings, kube)
    except ConfigurationError as exc:
        return [Row(group, "configuration", Level.FAIL, str(exc), "see docs/deploy.md (Galera)")]
    if reader is None:
        return [Row(group, "configuration", Level.FAIL, "no Galera node found", "check galera_mariadb")]
    rows = []
    try:
        for node in reader.nodes():
            try:
                status = reader.query(node, WSREP_STATUS).value
            except ReaderError as exc:
                fix = (
                    "check the read-only user's password and host grant (GRANT SELECT, PROCESS)"
                    if exc.status == 401 or "denied" in exc.message.lower()
                    else "check the node is up and reachable (NetworkPolicy egress to the Galera Service)"
                )
                rows.append(Row(group, f"node {node}", Level.FAIL, exc.headline, fix))
                continue
            state = status.get("wsrep_local_state_comment", "?") if isinstance(status, dict) else "?"
            rows.append(Row(group, f"node {node}", Level.OK, f"read-only login works (wsrep state {state})"))
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    return rows


def kfp(settings: Settings, kube: KubeReader | None) -> list[Row]:
    """The KFP API answers (a 404 for a run id no run has is an answer)."""
    group = "kfp"
    if not settings.kfp_url:
        return [
            Row(
                group,
                "configured",
                Level.SKIPPED,
                "no kfp_url: stuck-pipeline diagnoses from the Argo Workflow alone",
                "set KFOPS_KFP_URL (e.g. http://ml-pipeline.kubeflow.svc:8888)",
            )
        ]
    try:
        reader = open_kfp(settings, kube)
    except ConfigurationError as exc:
        return [Row(group, "configuration", Level.FAIL, str(exc))]
    if reader is None:  # pragma: no cover — a URL always opens a reader
        return []
    try:
        reader.get_run(PROBE_RUN_ID)
    except NotFound:
        pass
    except ReaderError as exc:
        fix = "check kfp_url, the token (kfp_token / kfp_token_file) and kfp_userid for multi-user KFP"
        return [Row(group, "answers", Level.FAIL, exc.headline, fix)]
    return [Row(group, "answers", Level.OK, reader.describe())]
