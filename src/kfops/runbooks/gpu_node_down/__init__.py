"""The `gpu-node-down` ladder: a GPU node is down, or its GPUs are unusable (domain.md §1).

The ladder a senior SRE walks: is the node there and Ready (and since when)? Is the kubelet
under pressure? Which lifecycle taints and cordon are on it? Are all its GPUs allocatable? Are
the GPU operator's pods on it healthy? What happened to it recently? Which ML workloads are
hit? And can their GPUs be found elsewhere?
"""

from kfops.runbooks.gpu_node_down.ladder import LADDER

__all__ = ["LADDER"]
