"""How a Galera read's failure is named in a snapshot, both ways (recorder and replay)."""

from __future__ import annotations

from typing import Final

from kfops.clients.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ReaderError,
    ReadTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)

FAULTS: Final[dict[str, type[ReaderError]]] = {
    "unreachable": Unreachable,
    "timeout": ReadTimeout,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not-found": NotFound,
    "server-error": ServerError,
    "bad-request": BadRequest,
}


def fault_name(error: ReaderError) -> str:
    """The snapshot's name for an error (most specific class first)."""
    return next((name for name, cls in FAULTS.items() if type(error) is cls), "bad-request")
