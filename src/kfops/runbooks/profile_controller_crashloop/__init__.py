"""The profile-controller-crashloop ladder: from a crash-looping Profile controller to the reason."""

from kfops.runbooks.profile_controller_crashloop.ladder import LADDER

__all__ = ["LADDER"]
