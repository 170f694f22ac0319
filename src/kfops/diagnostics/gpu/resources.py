"""Which extended resources are GPUs (domain.md §1.5, §1.7)."""

from __future__ import annotations

from collections.abc import Mapping

GPU = "nvidia.com/gpu"
SHARED_GPU = "nvidia.com/gpu.shared"  # time-slicing/MPS with renameByDefault=true
MIG_PREFIX = "nvidia.com/mig-"  # MIG "mixed" strategy: nvidia.com/mig-1g.10gb, …


def is_gpu_resource(name: str) -> bool:
    return name in (GPU, SHARED_GPU) or name.startswith(MIG_PREFIX)


def quantity(value: object) -> int:
    """A device count as the API writes it ("8"); anything unparsable counts as 0."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def gpu_quantities(resources: Mapping[str, object] | None) -> dict[str, int]:
    """The GPU entries of a capacity/allocatable/requests mapping."""
    return {k: quantity(v) for k, v in (resources or {}).items() if is_gpu_resource(k)}


def describe(amounts: Mapping[str, int]) -> str:
    """ "4× nvidia.com/gpu, 1× nvidia.com/mig-1g.10gb"."""
    return ", ".join(f"{n}× {name}" for name, n in sorted(amounts.items()) if n) or "none"
