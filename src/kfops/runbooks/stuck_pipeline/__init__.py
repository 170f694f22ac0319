"""The stuck-pipeline ladder: from a KFP run id to the layer that is stuck."""

from kfops.runbooks.stuck_pipeline.ladder import LADDER

__all__ = ["LADDER"]
