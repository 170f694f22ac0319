"""Rungs about the cluster itself: can kfops read each node, is there a Primary component of the
expected size with every member Synced, and is replication keeping up."""

from __future__ import annotations

from kfops.diagnostics.galera.nodes import SYNCED, ClusterState
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.galera_migration_failure.probes import CLUSTER, CONFIGURED, cluster_of

#: flow control paused above this fraction of the time: writers are being throttled
FLOW_CONTROL_WARN = 0.1
#: an average receive queue above this many write-sets: a node cannot apply as fast as it receives
RECV_QUEUE_WARN = 10.0

NOT_CONFIGURED = (
    "no Galera nodes configured: pass --galera-node HOST:PORT (repeatable), or set galera_nodes or "
    "galera_mariadb in settings; credentials come from KFOPS_GALERA_USER / KFOPS_GALERA_PASSWORD"
)

# ---------------------------------------------------------------- galera-nodes (the sweep)
NODES = Rung(
    id="galera-nodes",
    question="Which Galera nodes does kfops read?",
    probes=(CONFIGURED,),
    branches=(
        Branch(
            "configured",
            Status.OK,
            "nodes are configured or were discovered",
            lambda f: bool(f[CONFIGURED]),
            lambda f: f"{len(f[CONFIGURED])} nodes: {', '.join(f[CONFIGURED])}",
        ),
    ),
    default=Branch(
        "not-configured", Status.ERROR, "no node to read", lambda f: True, lambda f: NOT_CONFIGURED
    ),
)


def select_targets(f: Facts) -> tuple[str, ...]:
    return ("galera",) if f.get(CONFIGURED) else ()


# ---------------------------------------------------------------- galera-reachable
def _unreadable(f: Facts) -> str:
    return "; ".join(f"{n.address}: {n.error}" for n in cluster_of(f).unreadable)


REACHABLE = Rung(
    id="galera-reachable",
    question="Does every node accept kfops' read-only connection?",
    probes=(CLUSTER,),
    branches=(
        Branch(
            "none",
            Status.ERROR,
            "no node could be read: unreachable, or the credentials were refused",
            lambda f: not cluster_of(f).readable,
            lambda f: f"no Galera node could be read — {_unreadable(f)}",
        ),
        Branch(
            "some",
            Status.ERROR,
            "some nodes could not be read (down, unreachable, or refusing the credentials)",
            lambda f: bool(cluster_of(f).unreadable),
            lambda f: (
                f"{len(cluster_of(f).unreadable)} of {len(cluster_of(f).nodes)} nodes could not be read — "
                + _unreadable(f)
            ),
        ),
    ),
    default=Branch(
        "all",
        Status.OK,
        "every node answered",
        lambda f: True,
        lambda f: f"all {len(cluster_of(f).nodes)} nodes answered",
    ),
)


# ---------------------------------------------------------------- galera-membership
def _non_primary(c: ClusterState) -> list[str]:
    return [n.describe() for n in c.readable if not n.primary]


def _not_synced(c: ClusterState) -> list[str]:
    out = []
    for n in c.readable:
        if not n.primary:
            continue
        if n.state != SYNCED or not n.ready:
            desync = f", wsrep_desync_count {n.desync_count}" if n.desync_count else ""
            out.append(
                f"{n.label} is {n.state or '?'} (wsrep_ready {n.status.get('wsrep_ready', '?')}{desync})"
            )
        elif not n.in_sync:
            out.append(f"{n.label}: local state UUID differs from the cluster state UUID")
    return out


def _uuids(c: ClusterState) -> set[str]:
    return {n.cluster_uuid for n in c.readable if n.primary and n.cluster_uuid}


def _missing_say(f: Facts) -> str:
    c = cluster_of(f)
    gone = ", ".join(n.address for n in c.unreadable) or "not among the configured nodes"
    return (
        f"the Primary component has {c.primary_size} of {c.expected} nodes (still has quorum); "
        f"missing: {gone}"
    )


MEMBERSHIP = Rung(
    id="galera-membership",
    question="Is there one Primary component of the expected size, every member Synced?",
    probes=(CLUSTER,),
    branches=(
        Branch(
            "unknown",
            Status.SKIPPED,
            "no node answered (see galera-reachable)",
            lambda f: not cluster_of(f).readable,
            lambda f: "no node answered, so membership is unknown (see galera-reachable)",
        ),
        Branch(
            "non-primary",
            Status.FAIL,
            "a node is in a non-Primary component: quorum is lost and it refuses queries (1047)",
            lambda f: bool(_non_primary(cluster_of(f))),
            lambda f: "quorum lost — " + "; ".join(_non_primary(cluster_of(f))),
        ),
        Branch(
            "split",
            Status.FAIL,
            "Primary nodes disagree on the cluster state UUID (two clusters)",
            lambda f: len(_uuids(cluster_of(f))) > 1,
            lambda f: (
                "nodes report different cluster state UUIDs: " + ", ".join(sorted(_uuids(cluster_of(f))))
            ),
        ),
        Branch(
            "node-missing",
            Status.FAIL,
            "the Primary component is smaller than expected: a node is down or left",
            lambda f: cluster_of(f).primary_size < cluster_of(f).expected,
            _missing_say,
        ),
        Branch(
            "not-synced",
            Status.FAIL,
            "a member is not Synced (joining, donor/desynced by an RSU DDL, or not ready)",
            lambda f: bool(_not_synced(cluster_of(f))),
            lambda f: "; ".join(_not_synced(cluster_of(f))),
        ),
    ),
    default=Branch(
        "healthy",
        Status.OK,
        "one Primary component of the expected size, every member Synced and ready",
        lambda f: True,
        lambda f: (
            f"Primary component of {cluster_of(f).primary_size} of {cluster_of(f).expected} nodes, "
            "all Synced and ready"
        ),
    ),
)


# ---------------------------------------------------------------- galera-replication
def _lag_problems(f: Facts) -> list[str]:
    c = cluster_of(f)
    synced = [n for n in c.readable if n.primary and n.state == SYNCED]
    out = []
    if len(synced) >= 2:
        spread = max(n.last_committed for n in synced) - min(n.last_committed for n in synced)
        if spread > c.commit_spread_limit:
            out.append(
                f"wsrep_last_committed differs by {spread} write-sets between Synced nodes "
                f"(more than {c.commit_spread_limit})"
            )
    for n in c.readable:
        if n.flow_control_paused > FLOW_CONTROL_WARN:
            out.append(f"{n.label}: flow control paused {n.flow_control_paused:.0%} of the time")
        if n.recv_queue_avg > RECV_QUEUE_WARN:
            out.append(f"{n.label}: receive queue averages {n.recv_queue_avg:g} write-sets")
    return out


REPLICATION = Rung(
    id="galera-replication",
    question="Is replication keeping up (commit spread, flow control, apply queue)?",
    probes=(CLUSTER,),
    branches=(
        Branch(
            "unknown",
            Status.SKIPPED,
            "no node answered",
            lambda f: not cluster_of(f).readable,
            lambda f: "no node answered (see galera-reachable)",
        ),
        Branch(
            "lagging",
            Status.WARN,
            "nodes apply slower than they receive: flow control throttles every writer",
            lambda f: bool(_lag_problems(f)),
            lambda f: "; ".join(_lag_problems(f)),
        ),
    ),
    default=Branch(
        "keeping-up",
        Status.OK,
        "commits are close across nodes and flow control is idle",
        lambda f: True,
        lambda f: (
            "last committed "
            + ", ".join(f"{n.name} {n.last_committed}" for n in cluster_of(f).readable)
            + "; flow control idle"
        ),
    ),
)
