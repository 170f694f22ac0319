"""Rungs that read Prometheus: Xid history, GPU telemetry, exporter health, Ready history.

Each answers SKIPPED with how to configure Prometheus when there is none, and NO_DATA naming the
series and selector it searched when the metric is absent — absent is not zero.
"""

from __future__ import annotations

from typing import Any

from kfops.diagnostics.prometheus.gpu import (
    ExporterHealth,
    PromAbsent,
    ReadyHistory,
    Telemetry,
    XidReport,
    read_exporter_health,
    read_ready_history,
    read_telemetry,
    read_xids,
)
from kfops.model import Branch, Facts, Probe, Rung, Status
from kfops.runbooks.gpu_node_down.probes import NODE, node_of

XIDS = Probe(
    "gpu-xids", "PromQL max_over_time(DCGM_FI_DEV_XID_ERRORS{Hostname|hostname=node}[window])", read_xids
)
TELEMETRY = Probe(
    "gpu-telemetry",
    "PromQL DCGM_FI_DEV_GPU_TEMP, avg_over_time(DCGM_FI_DEV_GPU_UTIL[window])",
    read_telemetry,
)
EXPORTER = Probe(
    "gpu-exporter", 'PromQL DCGM_FI_DEV_GPU_TEMP{node}, up{job=~".*dcgm.*"} == 0', read_exporter_health
)
READY_HISTORY = Probe(
    "ready-history",
    "PromQL changes/avg_over_time(kube_node_status_condition{condition=Ready})",
    read_ready_history,
)
HOT_C = 85.0  # °C: datacenter GPUs throttle in the high 80s


def _absent(probe: Probe) -> Branch:
    return Branch(
        "no-prometheus",
        Status.SKIPPED,
        "no Prometheus is configured",
        lambda f: isinstance(f[probe], PromAbsent),
        lambda f: f"not checked: {f[probe].reason}",
    )


def _xids(f: Facts) -> XidReport:
    report: XidReport = f[XIDS]
    return report


GPU_XID = Rung(
    id="gpu-xid",
    question="Which Xid errors did the node's GPUs report (hardware fault or application error)?",
    probes=(XIDS,),
    branches=(
        _absent(XIDS),
        Branch(
            "no-series",
            Status.NO_DATA,
            "dcgm-exporter has no Xid series for the node",
            lambda f: not _xids(f).gpus,
            lambda f: (
                f"no DCGM_FI_DEV_XID_ERRORS series for this node (searched Hostname/hostname over "
                f"the window: {_xids(f).searched}) — is dcgm-exporter running there?"
            ),
        ),
        Branch(
            "hardware",
            Status.FAIL,
            "a hardware/driver Xid (48, 63, 64, 74, 79, 92, 94, 95, 119, 120…): drain, reset, RMA "
            "if it recurs",
            lambda f: bool(_xids(f).hardware),
            lambda f: "; ".join(g.describe() for g in _xids(f).hardware),
        ),
        Branch(
            "application",
            Status.WARN,
            "an application Xid (13, 31, 43, 45, 68, 109): the job faulted, the GPU is healthy",
            lambda f: bool(_xids(f).application),
            lambda f: "; ".join(g.describe() for g in _xids(f).application) + " — an application fault",
        ),
    ),
    default=Branch(
        "none",
        Status.OK,
        "no Xid in the window",
        lambda f: True,
        lambda f: f"no Xid on the node's {len(_xids(f).gpus)} GPUs in the window",
    ),
)


def _telemetry(f: Facts) -> Telemetry:
    telemetry: Telemetry = f[TELEMETRY]
    return telemetry


def _hot(f: Facts) -> list[str]:
    return [f"GPU {g} at {t:.0f} °C" for g, t in sorted(_telemetry(f).temperature.items()) if t >= HOT_C]


def _telemetry_say(f: Facts) -> str:
    t = _telemetry(f)
    util = sum(t.utilisation.values()) / len(t.utilisation) if t.utilisation else None
    busy = f", mean utilisation {util:.0f} % over the window" if util is not None else ""
    return f"{len(t.temperature)} GPUs, hottest {max(t.temperature.values()):.0f} °C{busy}"


GPU_TELEMETRY = Rung(
    id="gpu-telemetry",
    question="How hot and how busy were the node's GPUs?",
    probes=(TELEMETRY,),
    branches=(
        _absent(TELEMETRY),
        Branch(
            "no-series",
            Status.NO_DATA,
            "no temperature series for the node",
            lambda f: not _telemetry(f).temperature,
            lambda f: "no DCGM_FI_DEV_GPU_TEMP series for this node (Hostname/hostname)",
        ),
        Branch(
            "hot",
            Status.WARN,
            f"a GPU at or above {HOT_C:g} °C",
            lambda f: bool(_hot(f)),
            lambda f: "; ".join(_hot(f)) + " — thermal throttling or cooling failure",
        ),
    ),
    default=Branch("normal", Status.OK, "temperatures normal", lambda f: True, _telemetry_say),
)


def _exporter(f: Facts) -> ExporterHealth:
    health: ExporterHealth = f[EXPORTER]
    return health


GPU_EXPORTER = Rung(
    id="gpu-exporter",
    question="Is dcgm-exporter reporting this node's GPUs (or is the monitoring blind)?",
    probes=(EXPORTER, NODE),
    branches=(
        _absent(EXPORTER),
        Branch(
            "not-gpu-node",
            Status.SKIPPED,
            "not a GPU node",
            lambda f: not node_of(f).is_gpu_node,
            lambda f: "no GPU metrics expected from a node without GPUs",
        ),
        Branch(
            "blind",
            Status.WARN,
            "the node reports no GPU metrics and dcgm-exporter targets are down",
            lambda f: not _exporter(f).node_reporting and bool(_exporter(f).targets_down),
            lambda f: (
                "no GPU metrics from this node; dcgm-exporter targets down: "
                + ", ".join(_exporter(f).targets_down)
                + " — GPU health is unobserved, not healthy"
            ),
        ),
        Branch(
            "silent",
            Status.WARN,
            "no GPU metrics from the node although every dcgm-exporter target is up",
            lambda f: not _exporter(f).node_reporting,
            lambda f: (
                "no GPU metrics from this node although no dcgm-exporter target is down: the "
                "exporter may not run there, or its node label drifted (Hostname/hostname)"
            ),
        ),
        Branch(
            "host-blind",
            Status.WARN,
            "the node's node-exporter target is down (host metrics missing)",
            lambda f: _exporter(f).node_exporter_up == 0,
            lambda f: (
                "dcgm-exporter reports this node's GPUs, but its node-exporter target is down: "
                "host metrics (disk, memory, network) are missing"
            ),
        ),
    ),
    default=Branch(
        "reporting",
        Status.OK,
        "dcgm-exporter reports the node",
        lambda f: True,
        lambda f: "dcgm-exporter reports this node's GPUs",
    ),
)


def _history(f: Facts) -> ReadyHistory:
    history: ReadyHistory = f[READY_HISTORY]
    return history


def _flaps(f: Facts) -> bool:
    changes = _history(f).changes
    return changes is not None and changes > 2


READY_HISTORY_RUNG = Rung(
    id="ready-history",
    question="Has the node been flapping, or hard down, over the window?",
    probes=(READY_HISTORY,),
    branches=(
        _absent(READY_HISTORY),
        Branch(
            "no-series",
            Status.NO_DATA,
            "kube-state-metrics has no Ready series for the node",
            lambda f: _history(f).changes is None,
            lambda f: (
                'no kube_node_status_condition{condition="Ready"} series for this node: '
                "is kube-state-metrics scraped?"
            ),
        ),
        Branch(
            "flapping",
            Status.WARN,
            "Ready changed more than twice in the window (KubeNodeReadinessFlapping)",
            _flaps,
            lambda f: (
                f"Ready changed {_history(f).changes:.0f} times in {_history(f).window_min:g} min: "
                "intermittent (network, kubelet restarts) rather than hard down"
            ),
        ),
        Branch(
            "down-throughout",
            Status.WARN,
            "not Ready at any point in the window",
            lambda f: _history(f).ready_ratio == 0,
            lambda f: f"not Ready at any point in the last {_history(f).window_min:g} min: hard down",
        ),
    ),
    default=Branch(
        "stable",
        Status.OK,
        "Ready was stable",
        lambda f: True,
        lambda f: (
            f"Ready {_ratio(_history(f))} of the last {_history(f).window_min:g} min, "
            f"{_history(f).changes:.0f} changes"
        ),
    ),
)


def _ratio(history: ReadyHistory) -> Any:
    return f"{history.ready_ratio:.0%}" if history.ready_ratio is not None else "?"
