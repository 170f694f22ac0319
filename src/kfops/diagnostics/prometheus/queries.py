"""Every PromQL kfops runs, named, each with why it is written the way it is.

dcgm-exporter labels the node `Hostname` in every tagged release and `hostname` on main (domain.md
§0), so GPU queries ask for both and merge with `or`. kube-state-metrics labels it `node`.
"""

from __future__ import annotations


def _both_hostnames(template: str, node: str) -> str:
    """The same selector for `Hostname` and `hostname`, merged (only one of them exists)."""
    upper = template.format(sel=f'Hostname="{node}"')
    lower = template.format(sel=f'hostname="{node}"')
    return f"({upper}) or ({lower})"


def xid_errors(node: str, window_min: float) -> str:
    """The highest Xid each GPU of the node reported in the window.

    DCGM_FI_DEV_XID_ERRORS is a gauge holding the last Xid seen (0: none), labelled with the Xid
    as `err_code` and its text as `err_msg`; `max_over_time` keeps an Xid that a later value
    overwrote within the window.
    """
    return _both_hostnames(
        "max by (gpu, UUID, err_code, err_msg) (max_over_time(DCGM_FI_DEV_XID_ERRORS{{{sel}}}["
        + f"{window_min:g}m]))",
        node,
    )


def gpu_temperature(node: str) -> str:
    """Each GPU's temperature now (°C)."""
    return _both_hostnames("max by (gpu) (DCGM_FI_DEV_GPU_TEMP{{{sel}}})", node)


def gpu_utilisation(node: str, window_min: float) -> str:
    """Each GPU's mean utilisation (%) over the window: was it busy when it failed?"""
    return _both_hostnames(
        "avg by (gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{{{sel}}}[" + f"{window_min:g}m]))", node
    )


def dcgm_targets_down() -> str:
    """dcgm-exporter scrape targets that are down: a node with no GPU metrics is blind, not healthy."""
    return 'up{job=~".*dcgm.*"} == 0'


def node_exporter_up(node: str) -> str:
    """The node's node-exporter target (kube-prometheus relabels `instance` to the node name)."""
    return f'up{{job=~".*node-exporter.*",instance=~"{node}(:[0-9]+)?"}}'


def ready_changes(node: str, window_min: float) -> str:
    """How often the node's Ready condition flipped in the window (KubeNodeReadinessFlapping: > 2)."""
    return (
        f'changes(kube_node_status_condition{{node="{node}",condition="Ready",status="true"}}'
        f"[{window_min:g}m])"
    )


def ready_ratio(node: str, window_min: float) -> str:
    """The share of the window the node was Ready (1: all of it, 0: down throughout)."""
    return (
        f'avg_over_time(kube_node_status_condition{{node="{node}",condition="Ready",status="true"}}'
        f"[{window_min:g}m])"
    )
