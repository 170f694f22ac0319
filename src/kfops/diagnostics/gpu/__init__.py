"""GPU-specific knowledge: resource names, NVIDIA GPU operator operands, spare capacity."""
