"""The ladders kfops knows: a plain, explicit tuple — nothing registers itself at import time."""

from __future__ import annotations

from kfops.model import Ladder


class UnknownLadder(LookupError):
    pass


def ladders() -> tuple[Ladder, ...]:
    from kfops.runbooks.galera_migration_failure import LADDER as GALERA_MIGRATION_FAILURE
    from kfops.runbooks.gpu_node_down import LADDER as GPU_NODE_DOWN
    from kfops.runbooks.kserve_flapping import LADDER as KSERVE_FLAPPING
    from kfops.runbooks.profile_controller_crashloop import LADDER as PROFILE_CONTROLLER_CRASHLOOP
    from kfops.runbooks.stuck_pipeline import LADDER as STUCK_PIPELINE

    return (
        GPU_NODE_DOWN,
        STUCK_PIPELINE,
        KSERVE_FLAPPING,
        GALERA_MIGRATION_FAILURE,
        PROFILE_CONTROLLER_CRASHLOOP,
    )


def find(name: str) -> Ladder:
    """A ladder by id or alias; the error lists what exists."""
    for ladder in ladders():
        if name == ladder.id or name in ladder.aliases:
            return ladder
    known = ", ".join(ladder.id for ladder in ladders())
    raise UnknownLadder(f"unknown runbook '{name}'; known runbooks: {known} (see `kfops runbooks`)")
