"""Schemas as each node has them: fingerprints of columns and indexes, compared across nodes.

A failed RSU DDL, or a TOI DDL whose apply error was ignored (``wsrep_ignore_apply_errors``
defaults to 7), leaves nodes with different schemas and no error anywhere (domain.md §5.3):
only comparing the nodes' information_schema shows it. Tables without a primary key are found
from the same reads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kfops.clients.errors import ReaderError
from kfops.clients.galera import queries as sql
from kfops.diagnostics.context import ProbeContext, failure_evidence, galera_evidence
from kfops.diagnostics.galera.nodes import galera_of, per_node
from kfops.model import Evidence, Observed, Source

Table = tuple[str, str]  # (schema, table)


@dataclass(frozen=True)
class NodeSchema:
    node: str
    schemas: tuple[str, ...]
    engines: dict[Table, str]
    columns: dict[Table, tuple[tuple[str, str, str, str], ...]]  # (name, type, nullable, extra)
    indexes: dict[Table, tuple[tuple[str, int, tuple[str, ...]], ...]]  # (name, non_unique, cols)

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(sorted(self.engines))

    def without_primary_key(self) -> tuple[Table, ...]:
        return tuple(t for t in self.tables if not any(i[0] == "PRIMARY" for i in self.indexes.get(t, ())))

    def column_type(self, table: Table, column: str) -> str | None:
        return next((c[1] for c in self.columns.get(table, ()) if c[0].lower() == column.lower()), None)


@dataclass(frozen=True)
class Difference:
    table: Table
    what: str  # "only on node1, node2" / "column z int(11) only on node1"

    def describe(self) -> str:
        return (
            f"{self.table[0]}.{self.table[1]}: {self.what}"
            if self.table[1]
            else f"{self.table[0]}: {self.what}"
        )


@dataclass(frozen=True)
class SchemaReport:
    schemas: tuple[str, ...]  # union over the readable nodes
    nodes: tuple[NodeSchema, ...]
    unreadable: tuple[str, ...]
    differences: tuple[Difference, ...]

    @property
    def reference(self) -> NodeSchema | None:
        return self.nodes[0] if self.nodes else None

    def without_primary_key(self) -> tuple[Table, ...]:
        found: set[Table] = set()
        for node in self.nodes:
            found.update(node.without_primary_key())
        return tuple(sorted(found))


def wanted_schemas(ctx: ProbeContext) -> tuple[str, ...]:
    """The schemas named in settings (``--schema``), or () for every non-system schema."""
    return tuple(s.strip() for s in ctx.settings.galera_schemas.split(",") if s.strip())


def _read_node(ctx: ProbeContext, node: str) -> tuple[NodeSchema, list[Evidence]]:
    reader = galera_of(ctx)
    wanted = wanted_schemas(ctx)
    listed = reader.query(node, sql.SCHEMATA_NAMED, wanted) if wanted else reader.query(node, sql.SCHEMATA)
    schemas = tuple(str(r["SCHEMA_NAME"]) for r in listed.value)
    tables = reader.query(node, sql.TABLES, schemas)
    columns = reader.query(node, sql.COLUMNS, schemas)
    indexes = reader.query(node, sql.INDEXES, schemas)
    engines = {
        (str(r["TABLE_SCHEMA"]), str(r["TABLE_NAME"])): str(r.get("ENGINE") or "") for r in tables.value
    }
    cols: dict[Table, list[tuple[str, str, str, str]]] = defaultdict(list)
    for r in columns.value:
        cols[(str(r["TABLE_SCHEMA"]), str(r["TABLE_NAME"]))].append(
            (str(r["COLUMN_NAME"]), str(r["COLUMN_TYPE"]), str(r["IS_NULLABLE"]), str(r.get("EXTRA") or ""))
        )
    parts: dict[tuple[Table, str], tuple[int, list[str]]] = {}
    for r in indexes.value:
        key = ((str(r["TABLE_SCHEMA"]), str(r["TABLE_NAME"])), str(r["INDEX_NAME"]))
        parts.setdefault(key, (int(str(r["NON_UNIQUE"])), []))[1].append(str(r["COLUMN_NAME"]))
    idx: dict[Table, list[tuple[str, int, tuple[str, ...]]]] = defaultdict(list)
    for (table, name), (non_unique, names) in sorted(parts.items()):
        idx[table].append((name, non_unique, tuple(names)))
    snapshot = NodeSchema(
        node,
        schemas,
        engines,
        {t: tuple(c) for t, c in cols.items()},
        {t: tuple(i) for t, i in idx.items()},
    )
    summary = f"{node}: {len(schemas)} schemas, {len(engines)} tables"
    return snapshot, [
        galera_evidence(listed, f"{node}: schemas {', '.join(schemas) or 'none'}"),
        galera_evidence(tables, summary),
        galera_evidence(columns, f"{node}: {len(columns.value)} columns"),
        galera_evidence(indexes, f"{node}: {len(indexes.value)} index columns"),
    ]


def _label(nodes: list[str]) -> str:
    return ", ".join(nodes)


def compare(nodes: tuple[NodeSchema, ...]) -> tuple[Difference, ...]:
    """What differs between the nodes' schemas, table by table, in plain words."""
    if len(nodes) < 2:
        return ()
    out: list[Difference] = []
    all_schemas = sorted({s for n in nodes for s in n.schemas})
    for schema in all_schemas:
        holders = [n.node for n in nodes if schema in n.schemas]
        if len(holders) != len(nodes):
            out.append(Difference((schema, ""), f"schema exists only on {_label(holders)}"))
    tables = sorted({t for n in nodes for t in n.tables})
    for table in tables:
        having = [n for n in nodes if table in n.engines]
        if len(having) != len(nodes):
            out.append(Difference(table, f"table exists only on {_label([n.node for n in having])}"))
            continue
        column_sets: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
        for n in having:
            for column in n.columns.get(table, ()):
                column_sets[column].append(n.node)
        for column, where in sorted(column_sets.items()):
            if len(where) != len(having):
                out.append(Difference(table, f"column {column[0]} {column[1]} only on {_label(where)}"))
        index_sets: dict[tuple[str, int, tuple[str, ...]], list[str]] = defaultdict(list)
        for n in having:
            for index in n.indexes.get(table, ()):
                index_sets[index].append(n.node)
        for index, where in sorted(index_sets.items()):
            if len(where) != len(having):
                out.append(
                    Difference(table, f"index {index[0]} ({', '.join(index[2])}) only on {_label(where)}")
                )
    return tuple(out)


def read_schemas(ctx: ProbeContext) -> Observed:
    """Every readable node's schemas, and how they differ."""
    nodes: list[NodeSchema] = []
    unreadable: list[str] = []
    evidence: list[Evidence] = []
    for node, answer in per_node(ctx, lambda n: _read_node(ctx, n)):
        if isinstance(answer, ReaderError):
            unreadable.append(node)
            evidence.append(failure_evidence(answer, ctx.now, Source.GALERA))
            continue
        nodes.append(answer[0])
        evidence.extend(answer[1])
    schemas = tuple(sorted({s for n in nodes for s in n.schemas}))
    return Observed(
        SchemaReport(schemas, tuple(nodes), tuple(unreadable), compare(tuple(nodes))), tuple(evidence)
    )
