"""The kserve-flapping ladder: from an InferenceService that will not stay Ready to the reason."""

from kfops.runbooks.kserve_flapping.ladder import LADDER

__all__ = ["LADDER"]
