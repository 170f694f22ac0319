"""GaleraReader over the recorded answers of a snapshot (`galera/`, docs/snapshots.md).

Layout::

    galera/cluster.yaml       optional: {expectedSize: 3, nodes: [host:port, …]} (node order)
    galera/<any>.yaml         one per node: {address, fault?, queries: {name: answer},
                                             schemas: {schema: {name: answer}}}

An answer is what the live reader returned (a mapping for variable queries, a list of rows for
the others) or ``{fault: {error, message}}`` for a read that failed; a node-level ``fault``
fails every read of that node (unreachable, credentials refused). Rows of schema-filtered
queries are filtered here by their schema column, as the live ``WHERE … IN`` would. A query
the snapshot did not record answers empty — NO_DATA, never an invented value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kfops.clients.errors import ReaderError, SnapshotError
from kfops.clients.galera.faults import FAULTS
from kfops.clients.galera.queries import Query, Shape, show_sql
from kfops.clients.protocols import Fetched
from kfops.clients.snapshot.store import SnapshotStore, _Loader


class SnapshotGaleraReader:
    def __init__(self, store: SnapshotStore, nodes: dict[str, dict[str, Any]], expected: int) -> None:
        self.store = store
        self._nodes = nodes
        self._expected = expected or len(nodes)

    @classmethod
    def open(cls, store: SnapshotStore) -> SnapshotGaleraReader | None:
        """The snapshot's Galera answers, or None when it recorded none."""
        folder = store.root / "galera"
        if not folder.is_dir():
            return None
        cluster: dict[str, Any] = {}
        nodes: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.y*ml")):
            data = _load(path)
            if path.stem == "cluster":
                cluster = data
                continue
            address = str(data.get("address") or "")
            if not address:
                raise SnapshotError(f"{path}: a Galera node file needs its address")
            nodes[address] = data
        order = [str(a) for a in cluster.get("nodes") or ()]
        unknown = [a for a in order if a not in nodes]
        if unknown:
            raise SnapshotError(f"{folder / 'cluster.yaml'}: no node file for {', '.join(unknown)}")
        ordered = {a: nodes[a] for a in order} | {a: n for a, n in nodes.items() if a not in order}
        return cls(store, ordered, int(cluster.get("expectedSize") or 0))

    def describe(self) -> str:
        return f"Galera answers recorded in {self.store.root / 'galera'}"

    def nodes(self) -> tuple[str, ...]:
        return tuple(self._nodes)

    def expected_size(self) -> int:
        return self._expected

    def query(self, node: str, query: Query, schemas: tuple[str, ...] = ()) -> Fetched:
        shown = f"SQL {show_sql(query, schemas)} [node {node}]"
        data = self._node(node, shown)
        answer = _answer((data.get("queries") or {}).get(query.name), shown)
        if query.shape is Shape.VARIABLES:
            return self._fetched({str(k).lower(): str(v) for k, v in (answer or {}).items()}, shown)
        rows = list(answer or [])
        if query.by_schema:
            rows = [r for r in rows if str(r.get(query.schema_field)) in schemas]
        return self._fetched(rows, shown)

    def query_in(self, node: str, schema: str, query: Query) -> Fetched:
        shown = f"SQL USE `{schema}`; {query.sql} [node {node}]"
        data = self._node(node, shown)
        recorded = ((data.get("schemas") or {}).get(schema) or {}).get(query.name)
        return self._fetched(list(_answer(recorded, shown) or []), shown)

    def _node(self, node: str, shown: str) -> dict[str, Any]:
        data = self._nodes.get(node)
        if data is None:
            raise FAULTS["not-found"](shown, f"no node {node} in this snapshot", resource="galera")
        _answer(data, shown)  # a node-level fault fails every read
        return data

    def _fetched(self, value: Any, shown: str) -> Fetched:
        return Fetched(value, shown, self.store.meta.captured_at)


def _answer(recorded: Any, shown: str) -> Any:
    if isinstance(recorded, dict) and isinstance(recorded.get("fault"), dict):
        fault = recorded["fault"]
        error: type[ReaderError] = FAULTS.get(str(fault.get("error")), FAULTS["bad-request"])
        raise error(shown, str(fault.get("message") or fault.get("error")), resource="galera")
    return recorded


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}  # noqa: S506 — a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"{path}: expected a mapping")
    return data
