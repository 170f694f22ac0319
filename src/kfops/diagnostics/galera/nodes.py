"""Each node's wsrep status and settings, read in parallel: the cluster as every node sees it.

A node that cannot be read is kept with its error (domain.md §5.1: during an incident the nodes
disagree, and the unreadable one is often the story), never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from kfops.clients.errors import ReaderError
from kfops.clients.galera import queries as sql
from kfops.clients.galera.faults import fault_name
from kfops.clients.protocols import GaleraReader
from kfops.diagnostics.context import ProbeContext, failure_evidence, galera_evidence
from kfops.model import Evidence, Observed, Source

T = TypeVar("T")

#: wsrep_local_state_comment of a node that serves traffic normally (domain.md §5.2)
SYNCED = "Synced"


def galera_of(ctx: ProbeContext) -> GaleraReader:
    if ctx.galera is None:
        raise LookupError("no Galera nodes configured")
    return ctx.galera


def per_node(ctx: ProbeContext, read: Callable[[str], T]) -> list[tuple[str, T | ReaderError]]:
    """`read` on every node at once; a node's ReaderError is its answer, not the probe's failure."""
    nodes = galera_of(ctx).nodes()

    def one(node: str) -> T | ReaderError:
        try:
            return read(node)
        except ReaderError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(nodes)), thread_name_prefix="kfops-galera") as pool:
        return list(zip(nodes, pool.map(one, nodes), strict=True))


@dataclass(frozen=True)
class NodeState:
    address: str
    status: dict[str, str]
    variables: dict[str, str]
    error: str = ""  # the headline of why the node could not be read
    error_kind: str = ""  # unreachable | unauthorized | timeout | …

    @property
    def readable(self) -> bool:
        return not self.error

    def _int(self, key: str, default: int = 0) -> int:
        try:
            return int(self.status.get(key, default))
        except ValueError:
            return default

    def _float(self, key: str) -> float:
        try:
            return float(self.status.get(key, 0.0))
        except ValueError:
            return 0.0

    @property
    def name(self) -> str:
        return self.variables.get("wsrep_node_name") or self.address

    @property
    def label(self) -> str:
        node_name = self.variables.get("wsrep_node_name")
        return f"{node_name} ({self.address})" if node_name else self.address

    @property
    def cluster_status(self) -> str:
        return self.status.get("wsrep_cluster_status", "")

    @property
    def primary(self) -> bool:
        return self.cluster_status == "Primary"

    @property
    def size(self) -> int:
        return self._int("wsrep_cluster_size")

    @property
    def state(self) -> str:
        return self.status.get("wsrep_local_state_comment", "")

    @property
    def ready(self) -> bool:
        return self.status.get("wsrep_ready") == "ON"

    @property
    def connected(self) -> bool:
        return self.status.get("wsrep_connected") == "ON"

    @property
    def in_sync(self) -> bool:
        """Its data is the cluster's: local and cluster state UUIDs agree."""
        local = self.status.get("wsrep_local_state_uuid")
        return bool(local) and local == self.status.get("wsrep_cluster_state_uuid")

    @property
    def cluster_uuid(self) -> str:
        return self.status.get("wsrep_cluster_state_uuid", "")

    @property
    def last_committed(self) -> int:
        return self._int("wsrep_last_committed", -1)

    @property
    def flow_control_paused(self) -> float:
        return self._float("wsrep_flow_control_paused")

    @property
    def recv_queue_avg(self) -> float:
        return self._float("wsrep_local_recv_queue_avg")

    @property
    def desync_count(self) -> int:
        return self._int("wsrep_desync_count")

    @property
    def osu_method(self) -> str:
        return self.variables.get("wsrep_osu_method", "")

    @property
    def healthy(self) -> bool:
        return self.readable and self.primary and self.state == SYNCED and self.ready and self.in_sync

    def describe(self) -> str:
        if not self.readable:
            return f"{self.label}: not readable — {self.error}"
        return (
            f"{self.label}: {self.cluster_status or '?'} component of {self.size}, {self.state or '?'}, "
            f"ready={self.status.get('wsrep_ready', '?')}, "
            f"connected={self.status.get('wsrep_connected', '?')}, "
            f"last committed {self.last_committed}"
        )


@dataclass(frozen=True)
class ClusterState:
    nodes: tuple[NodeState, ...]
    expected: int
    commit_spread_limit: int = 1000  # settings.galera_commit_spread

    @property
    def readable(self) -> tuple[NodeState, ...]:
        return tuple(n for n in self.nodes if n.readable)

    @property
    def unreadable(self) -> tuple[NodeState, ...]:
        return tuple(n for n in self.nodes if not n.readable)

    @property
    def primary_size(self) -> int:
        """The size of the Primary component as its members report it (0: no Primary seen)."""
        return max((n.size for n in self.readable if n.primary), default=0)

    @property
    def reference(self) -> NodeState | None:
        """The node to read shared data from: a healthy one, else any readable Primary member."""
        return next((n for n in self.nodes if n.healthy), None) or next(
            (n for n in self.readable if n.primary), None
        )


def read_cluster(ctx: ProbeContext) -> Observed:
    reader = galera_of(ctx)

    def read(node: str) -> tuple[NodeState, list[Evidence]]:
        status = reader.query(node, sql.WSREP_STATUS)
        variables = reader.query(node, sql.VARIABLES)
        state = NodeState(node, dict(status.value), dict(variables.value))
        keep = {
            k: v
            for k, v in status.value.items()
            if k
            in (
                "wsrep_cluster_status",
                "wsrep_cluster_size",
                "wsrep_local_state_comment",
                "wsrep_ready",
                "wsrep_connected",
                "wsrep_local_state_uuid",
                "wsrep_cluster_state_uuid",
                "wsrep_last_committed",
                "wsrep_flow_control_paused",
                "wsrep_local_recv_queue_avg",
                "wsrep_desync_count",
            )
        }
        return state, [
            galera_evidence(status, state.describe(), data=keep),
            galera_evidence(
                variables,
                f"{state.label}: wsrep_OSU_method={state.osu_method or '?'}, "
                f"wsrep_ignore_apply_errors={variables.value.get('wsrep_ignore_apply_errors', '?')}",
                data=dict(variables.value),
            ),
        ]

    nodes: list[NodeState] = []
    evidence: list[Evidence] = []
    for address, answer in per_node(ctx, read):
        if isinstance(answer, ReaderError):
            nodes.append(NodeState(address, {}, {}, answer.headline, fault_name(answer)))
            evidence.append(failure_evidence(answer, ctx.now, Source.GALERA))
        else:
            nodes.append(answer[0])
            evidence.extend(answer[1])
    return Observed(
        ClusterState(tuple(nodes), reader.expected_size(), ctx.settings.galera_commit_spread), tuple(evidence)
    )
