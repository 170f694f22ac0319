"""GaleraReader over real MariaDB Galera nodes, through pymysql (the writer: galera_writer.py).

One connection per node, opened on first use and kept for the reader's life (one diagnosis), each
guarded by a lock because a pymysql connection is not thread-safe. Every session is made
harmless before the first query: ``SET SESSION TRANSACTION READ ONLY`` and UTC time. A node that
cannot be reached, or refuses the credentials, is remembered as such: later reads of that node
fail at once with the same error instead of waiting for another connect timeout.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
from collections.abc import Sequence
from typing import Any

import pymysql
import pymysql.cursors
from pymysql.connections import Connection

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
from kfops.clients.galera.address import parse_address
from kfops.clients.galera.queries import Query, Shape, show_sql
from kfops.clients.protocols import Fetched

#: MySQL/MariaDB error numbers → how kfops classifies them (clients/errors.py)
_CLASSES: dict[int, type[ReaderError]] = {
    1044: Forbidden,  # access denied to database
    1045: Unauthorized,  # access denied for user (password)
    1047: ServerError,  # WSREP has not yet prepared node for application use
    1049: NotFound,  # unknown database
    1109: NotFound,  # unknown table (information_schema plugin table absent)
    1142: Forbidden,  # command denied
    1146: NotFound,  # table doesn't exist
    1227: Forbidden,  # needs a privilege (PROCESS, CONNECTION ADMIN)
    1094: NotFound,  # unknown thread id (KILL)
    2003: Unreachable,  # can't connect
    2005: Unreachable,  # unknown host
    2006: Unreachable,  # server has gone away
    2013: ReadTimeout,  # lost connection during query (read timeout)
}


def classify(error: pymysql.err.MySQLError, query: str, verb: str = "query") -> ReaderError:
    code = error.args[0] if error.args and isinstance(error.args[0], int) else 0
    message = str(error.args[1]) if len(error.args) > 1 else str(error)
    if code == 2003 and "timed out" in message:
        cls: type[ReaderError] = ReadTimeout
    else:
        cls = _CLASSES.get(code, BadRequest if code and code < 2000 else Unreachable)
    return cls(query, f"({code}) {message}" if code else message, verb=verb, resource="galera")


def json_safe(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dt.date | dt.timedelta):
        return str(value)
    return value


class _Node:
    def __init__(self, address: str) -> None:
        self.address = address
        self.lock = threading.Lock()
        self.connection: Connection[Any] | None = None
        self.failure: ReaderError | None = None


class _Connections:
    """Lazily opened, locked, per-node connections with a remembered connect failure."""

    def __init__(
        self,
        addresses: Sequence[str],
        user: str,
        password: str,
        connect_timeout_s: float,
        read_timeout_s: float,
        read_only: bool,
    ) -> None:
        self._nodes = {a: _Node(a) for a in addresses}
        self._user = user
        self._password = password
        self._connect_timeout = max(1, round(connect_timeout_s))
        self._read_timeout = max(1, round(read_timeout_s))
        self._read_only = read_only

    def addresses(self) -> tuple[str, ...]:
        return tuple(self._nodes)

    def node(self, address: str) -> _Node:
        try:
            return self._nodes[address]
        except KeyError:
            raise NotFound(f"node {address}", "not one of this cluster's nodes", resource="galera") from None

    def connection(self, node: _Node, query: str) -> Connection[Any]:
        """The node's open connection (caller holds node.lock)."""
        if node.failure is not None:
            raise type(node.failure)(query, node.failure.message, verb="connect", resource="galera")
        if node.connection is not None:
            return node.connection
        host, port = parse_address(node.address)
        try:
            conn = pymysql.connect(
                host=host,
                port=port,
                user=self._user,
                password=self._password,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
                write_timeout=self._read_timeout,
                autocommit=True,
                charset="utf8mb4",
                cursorclass=pymysql.cursors.DictCursor,
            )
            with conn.cursor() as cursor:
                if self._read_only:
                    cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute("SET SESSION time_zone = '+00:00'")
        except pymysql.err.MySQLError as exc:
            node.failure = classify(exc, f"connect to {node.address} as {self._user}", "connect")
            raise type(node.failure)(query, node.failure.message, verb="connect", resource="galera") from exc
        node.connection = conn
        return conn

    def close(self) -> None:
        for node in self._nodes.values():
            with node.lock:
                if node.connection is not None:
                    node.connection.close()
                    node.connection = None


class LiveGaleraReader:
    def __init__(
        self,
        addresses: Sequence[str],
        user: str,
        password: str,
        *,
        expected_size: int = 0,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 5.0,
    ) -> None:
        self._connections = _Connections(
            addresses, user, password, connect_timeout_s, read_timeout_s, read_only=True
        )
        self._user = user
        self._expected = expected_size or len(addresses)

    def describe(self) -> str:
        return f"Galera nodes {', '.join(self._connections.addresses())} as {self._user}"

    def nodes(self) -> tuple[str, ...]:
        return self._connections.addresses()

    def expected_size(self) -> int:
        return self._expected

    def query(self, node: str, query: Query, schemas: tuple[str, ...] = ()) -> Fetched:
        shown = f"SQL {show_sql(query, schemas)} [node {node}]"
        params = {"schemas": tuple(schemas)} if query.by_schema else None
        if query.by_schema and not schemas:
            return Fetched([], shown, dt.datetime.now(dt.UTC))
        return self._run(node, query, shown, params, None)

    def query_in(self, node: str, schema: str, query: Query) -> Fetched:
        shown = f"SQL USE `{schema}`; {query.sql} [node {node}]"
        return self._run(node, query, shown, None, schema)

    def _run(
        self, address: str, query: Query, shown: str, params: dict[str, Any] | None, schema: str | None
    ) -> Fetched:
        node = self._connections.node(address)
        with node.lock:
            conn = self._connections.connection(node, shown)
            try:
                if schema is not None:
                    conn.select_db(schema)  # COM_INIT_DB: the name travels as data, never as SQL
                with conn.cursor() as cursor:
                    cursor.execute(query.sql, params)
                    rows = list(cursor.fetchall())
            except pymysql.err.MySQLError as exc:
                error = classify(exc, shown)
                if isinstance(error, Unreachable | ReadTimeout):
                    node.connection = None  # the session is gone; the next read reconnects
                raise error from exc
        observed = dt.datetime.now(dt.UTC)
        if query.shape is Shape.VARIABLES:
            values = {str(r["Variable_name"]).lower(): str(r["Value"]) for r in rows}
            return Fetched(values, shown, observed, sum(len(k) + len(v) for k, v in values.items()))
        safe = [{str(k): json_safe(v) for k, v in r.items()} for r in rows]
        return Fetched(safe, shown, observed, sum(len(str(r)) for r in safe))

    def close(self) -> None:
        self._connections.close()
