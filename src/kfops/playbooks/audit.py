"""The audit log: append-only JSON lines, each carrying the hash of the one before.

Changing, removing or reordering any line breaks the chain from there on, and `kfops audit
verify` says which line. Appends from concurrent processes are serialised with a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    message: str


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                lines = [line for line in handle.read().splitlines() if line.strip()]
                previous = json.loads(lines[-1])["hash"] if lines else GENESIS
                record: dict[str, Any] = {
                    "seq": len(lines) + 1,
                    "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "event": event,
                    **fields,
                    "prev": previous,
                }
                record["hash"] = _digest(record)
                handle.seek(0, 2)
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return record

    def verify(self) -> Verification:
        if not self.path.exists():
            return Verification(True, 0, f"{self.path}: no audit records yet")
        previous = GENESIS
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                return Verification(False, number - 1, f"line {number} is not JSON: the log was edited")
            if record.get("prev") != previous:
                return Verification(
                    False,
                    number - 1,
                    f"line {number} does not follow line {number - 1}: a record was removed or reordered",
                )
            if record.get("hash") != _digest(record) or record.get("seq") != number:
                return Verification(False, number - 1, f"line {number} was altered after it was written")
            previous = record["hash"]
        return Verification(True, len(lines), f"{len(lines)} records, chain intact")
