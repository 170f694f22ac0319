"""The one Galera writer: ends a blocking session (``KILL QUERY`` / ``KILL CONNECTION``).

Kept apart from the read-only reader so the import-linter contract can forbid it to diagnosis
code: only the playbooks' gate reaches it (through kfops.clients.sources.open_galera_writer),
with the separate admin credentials of settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymysql

from kfops.clients.live.galera import _Connections, classify, json_safe


class LiveGaleraWriter:
    """Ends one blocking session; connects with the separate admin credentials (settings)."""

    def __init__(
        self, addresses: Sequence[str], user: str, password: str, *, connect_timeout_s: float = 3.0
    ) -> None:
        self._connections = _Connections(addresses, user, password, connect_timeout_s, 10.0, read_only=False)
        self._user = user

    def describe(self) -> str:
        return f"Galera nodes {', '.join(self._connections.addresses())} as {self._user}"

    def session(self, node: str, thread_id: int) -> dict[str, Any] | None:
        sql = (
            "SELECT ID, USER, DB, COMMAND, TIME, STATE, LEFT(INFO, 300) AS INFO "
            "FROM information_schema.PROCESSLIST WHERE ID = %s"
        )
        rows = self._execute(node, sql, thread_id, f"SQL {sql % thread_id} [node {node}]")
        return {str(k): json_safe(v) for k, v in rows[0].items()} if rows else None

    def kill(self, node: str, thread_id: int, *, connection: bool) -> None:
        sql = "KILL CONNECTION %s" if connection else "KILL QUERY %s"
        self._execute(node, sql, thread_id, f"SQL {sql % thread_id} [node {node}]")

    def _execute(self, address: str, sql: str, thread_id: int, shown: str) -> list[dict[str, Any]]:
        node = self._connections.node(address)
        with node.lock:
            conn = self._connections.connection(node, shown)
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql, (int(thread_id),))
                    return list(cursor.fetchall())
            except pymysql.err.MySQLError as exc:
                raise classify(exc, shown, "kill") from exc

    def close(self) -> None:
        self._connections.close()
