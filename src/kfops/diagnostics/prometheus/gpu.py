"""GPU and node facts from Prometheus: Xids, temperature, utilisation, exporter health, Ready history.

Without a Prometheus (none configured, or none recorded in the snapshot) each probe returns
PromAbsent, which rungs answer as SKIPPED with how to configure it; an unreachable or refusing
Prometheus raises, so its rung is an ERROR — never a silent "healthy".
"""

from __future__ import annotations

from dataclasses import dataclass

from kfops.diagnostics.context import ProbeContext, prom_evidence
from kfops.diagnostics.gpu.xid import is_hardware, meaning
from kfops.diagnostics.prometheus import queries as q
from kfops.model import Evidence, Observed


@dataclass(frozen=True)
class PromAbsent:
    reason: str = "Prometheus is not configured (set KFOPS_PROMETHEUS_URL or --prometheus-url)"


@dataclass(frozen=True)
class GpuXid:
    gpu: str
    uuid: str
    xid: int
    message: str

    def describe(self) -> str:
        return f"GPU {self.gpu} ({self.uuid[:16]}…): Xid {self.xid} {self.message}"


@dataclass(frozen=True)
class XidReport:
    gpus: tuple[GpuXid, ...]  # one per GPU series found (xid 0: none in the window)
    searched: str

    @property
    def hardware(self) -> tuple[GpuXid, ...]:
        return tuple(g for g in self.gpus if is_hardware(g.xid))

    @property
    def application(self) -> tuple[GpuXid, ...]:
        return tuple(g for g in self.gpus if g.xid and not is_hardware(g.xid))


@dataclass(frozen=True)
class Telemetry:
    temperature: dict[str, float]  # gpu → °C now
    utilisation: dict[str, float]  # gpu → mean % over the window


@dataclass(frozen=True)
class ExporterHealth:
    node_reporting: bool  # the node's GPUs have series now
    targets_down: tuple[str, ...]  # dcgm-exporter scrape targets with up == 0
    node_exporter_up: float | None = None  # None: no node-exporter target found for the node


@dataclass(frozen=True)
class ReadyHistory:
    changes: float | None  # None: kube-state-metrics has no such series
    ready_ratio: float | None
    window_min: float


def _window(ctx: ProbeContext) -> float:
    return ctx.settings.prometheus_window_min


def read_xids(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    window = _window(ctx)
    fetched = ctx.prom.query(q.xid_errors(ctx.target, window))
    gpus = []
    for sample in fetched.value:
        xid = int(sample.value)
        code = sample.labels.get("err_code", "")
        if code.isdigit() and xid == 0:
            xid = int(code)
        gpus.append(
            GpuXid(
                gpu=sample.labels.get("gpu", "?"),
                uuid=sample.labels.get("UUID", sample.labels.get("uuid", "?")),
                xid=xid,
                message=sample.labels.get("err_msg") or meaning(xid),
            )
        )
    report = XidReport(tuple(sorted(gpus, key=lambda g: g.gpu)), fetched.query)
    worst = [g.describe() for g in report.hardware or report.application]
    summary = "; ".join(worst) or f"{len(gpus)} GPU series, no Xid"
    return Observed(report, (prom_evidence(fetched, summary, window=f"{window:g}m"),))


def read_telemetry(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    window = _window(ctx)
    temps = ctx.prom.query(q.gpu_temperature(ctx.target))
    utils = ctx.prom.query(q.gpu_utilisation(ctx.target, window))
    telemetry = Telemetry(
        {s.labels.get("gpu", "?"): s.value for s in temps.value},
        {s.labels.get("gpu", "?"): s.value for s in utils.value},
    )
    evidence: list[Evidence] = [
        prom_evidence(temps, f"{len(temps.value)} GPU temperatures"),
        prom_evidence(utils, f"{len(utils.value)} GPU utilisations", window=f"{window:g}m"),
    ]
    return Observed(telemetry, tuple(evidence))


def read_exporter_health(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    series = ctx.prom.query(q.gpu_temperature(ctx.target))
    down = ctx.prom.query(q.dcgm_targets_down())
    host = ctx.prom.query(q.node_exporter_up(ctx.target))
    health = ExporterHealth(
        node_reporting=bool(series.value),
        targets_down=tuple(sorted(s.labels.get("instance", "?") for s in down.value)),
        node_exporter_up=min((s.value for s in host.value), default=None),
    )
    evidence = (
        prom_evidence(series, f"{len(series.value)} GPU series from node {ctx.target}"),
        prom_evidence(down, f"{len(down.value)} dcgm-exporter targets down"),
        prom_evidence(host, f"node-exporter up={health.node_exporter_up}"),
    )
    return Observed(health, evidence)


def read_ready_history(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    window = _window(ctx)
    changes = ctx.prom.query(q.ready_changes(ctx.target, window))
    ratio = ctx.prom.query(q.ready_ratio(ctx.target, window))
    history = ReadyHistory(
        changes=max((s.value for s in changes.value), default=None),
        ready_ratio=min((s.value for s in ratio.value), default=None),
        window_min=window,
    )
    evidence = (
        prom_evidence(changes, f"Ready changed {history.changes} times", window=f"{window:g}m"),
        prom_evidence(ratio, f"Ready {history.ready_ratio} of the window", window=f"{window:g}m"),
    )
    return Observed(history, evidence)
