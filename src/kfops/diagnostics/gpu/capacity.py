"""Would the GPU work displaced from one node fit on the others? (first-fit decreasing)

Free GPUs on a node = allocatable minus what its non-terminated pods request. Each displaced pod
must fit on one node whole, as the scheduler would place it; summing free GPUs across nodes
would promise capacity that fragmentation makes unusable.
"""

from __future__ import annotations

from dataclasses import dataclass

from kfops.diagnostics.kube.nodes import NodeFacts
from kfops.diagnostics.kube.pods import PodFacts


@dataclass(frozen=True)
class FitResult:
    displaced: tuple[PodFacts, ...]
    placed: tuple[tuple[str, str], ...]  # (pod ref, node)
    unplaced: tuple[PodFacts, ...]
    free_before: dict[str, dict[str, int]]  # node → resource → free GPUs
    nodes_checked: int
    nodes_unchecked: int

    @property
    def displaced_gpus(self) -> int:
        return sum(p.gpus for p in self.displaced)

    @property
    def unplaced_gpus(self) -> int:
        return sum(p.gpus for p in self.unplaced)

    @property
    def free_total(self) -> int:
        return sum(sum(r.values()) for r in self.free_before.values())


def free_gpus(node: NodeFacts, pods: tuple[PodFacts, ...]) -> dict[str, int]:
    free = dict(node.gpu_allocatable)
    for pod in pods:
        if pod.terminal:
            continue
        for name, n in pod.gpu_requests.items():
            free[name] = free.get(name, 0) - n
    return {k: max(0, v) for k, v in free.items()}


def fit(
    displaced: tuple[PodFacts, ...],
    free_by_node: dict[str, dict[str, int]],
    nodes_unchecked: int = 0,
) -> FitResult:
    remaining = {node: dict(free) for node, free in free_by_node.items()}
    placed: list[tuple[str, str]] = []
    unplaced: list[PodFacts] = []
    for pod in sorted(displaced, key=lambda p: p.gpus, reverse=True):
        target = next(
            (
                node
                for node, free in remaining.items()
                if all(free.get(name, 0) >= n for name, n in pod.gpu_requests.items())
            ),
            None,
        )
        if target is None:
            unplaced.append(pod)
            continue
        for name, n in pod.gpu_requests.items():
            remaining[target][name] -= n
        placed.append((pod.ref, target))
    return FitResult(
        displaced=displaced,
        placed=tuple(placed),
        unplaced=tuple(unplaced),
        free_before=free_by_node,
        nodes_checked=len(free_by_node),
        nodes_unchecked=nodes_unchecked,
    )
