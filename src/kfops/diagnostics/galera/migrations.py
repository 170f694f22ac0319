"""Migration bookkeeping per schema, read on one healthy node (domain.md §5.5, §5.6).

golang-migrate ``schema_migrations`` (version, dirty), Flyway ``flyway_schema_history`` (a row
with success=0), Alembic ``alembic_version`` and MLMD ``MLMDEnv.schema_version``; KFP keeps no
version table, so a half-done 2.15 upgrade is read from its UUID column widths instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kfops.clients.errors import ReaderError
from kfops.clients.galera import queries as sql
from kfops.diagnostics.context import ProbeContext, failure_evidence, galera_evidence
from kfops.diagnostics.galera.nodes import galera_of, read_cluster
from kfops.diagnostics.galera.schema import NodeSchema, SchemaReport, read_schemas
from kfops.model import Evidence, Observed, Source

#: KFP tables keyed by a UUID column; pre-2.15 schemas have them wider than 64 characters
KFP_UUID_TABLES = ("pipelines", "pipeline_versions", "experiments", "run_details", "jobs")
KFP_NEW_UUID_WIDTH = 64
_WIDTH = re.compile(r"\((\d+)\)")


@dataclass(frozen=True)
class Bookkeeping:
    schema: str
    tool: str  # golang-migrate | flyway | alembic | mlmd
    version: str
    failed: bool = False  # golang-migrate dirty, or Flyway's last migration failed
    detail: str = ""

    def describe(self) -> str:
        if self.tool == "golang-migrate":
            return f"{self.schema}: golang-migrate version {self.version}" + (
                " DIRTY" if self.failed else ", clean"
            )
        if self.tool == "flyway":
            return f"{self.schema}: Flyway at {self.version}" + (
                f", FAILED: {self.detail}" if self.failed else ""
            )
        if self.tool == "mlmd":
            return f"{self.schema}: MLMD schema version {self.version}"
        return f"{self.schema}: {self.tool} at {self.version}"


@dataclass(frozen=True)
class KfpSchema:
    schema: str
    widths: dict[str, int]  # table → UUID column width

    @property
    def generation(self) -> str:
        """legacy (pre-2.15), upgraded, or half-upgraded (some tables shrunk, some not)."""
        new = [t for t, w in self.widths.items() if w <= KFP_NEW_UUID_WIDTH]
        if len(new) == len(self.widths):
            return "upgraded"
        return "half-upgraded" if new else "legacy"

    def describe(self) -> str:
        widths = ", ".join(f"{t}.UUID varchar({w})" for t, w in sorted(self.widths.items()))
        return f"{self.schema}: KFP tables {self.generation} ({widths})"


@dataclass(frozen=True)
class MigrationReport:
    node: str
    entries: tuple[Bookkeeping, ...]
    kfp: tuple[KfpSchema, ...]
    schemas: tuple[str, ...]
    #: bookkeeping tables that exist but could not be read: (schema, table, why)
    unreadable: tuple[tuple[str, str, str], ...] = ()

    def failed(self) -> tuple[Bookkeeping, ...]:
        return tuple(e for e in self.entries if e.failed)

    def mlmd(self) -> tuple[Bookkeeping, ...]:
        return tuple(e for e in self.entries if e.tool == "mlmd")


def _kfp(node: NodeSchema) -> list[KfpSchema]:
    found = []
    for schema in node.schemas:
        widths = {}
        for table in KFP_UUID_TABLES:
            column = node.column_type((schema, table), "UUID")
            match = _WIDTH.search(column or "")
            if match:
                widths[table] = int(match.group(1))
        if "pipelines" in widths and len(widths) >= 2:
            found.append(KfpSchema(schema, widths))
    return found


def _entry(schema: str, tool: str, rows: list[dict[str, object]]) -> Bookkeeping | None:
    if not rows:
        return None
    first = rows[0]
    if tool == "golang-migrate":
        return Bookkeeping(
            schema, tool, str(first.get("version")), str(first.get("dirty")) in ("1", "True", "true")
        )
    if tool == "flyway":
        ok = str(first.get("success")) in ("1", "True", "true")
        return Bookkeeping(
            schema, tool, str(first.get("version")), not ok, "" if ok else str(first.get("description") or "")
        )
    if tool == "alembic":
        return Bookkeeping(schema, tool, str(first.get("version_num")))
    return Bookkeeping(schema, tool, str(first.get("schema_version")))


_TOOLS = {
    "golang-migrate": sql.GOLANG_MIGRATE,
    "flyway": sql.FLYWAY,
    "alembic": sql.ALEMBIC,
    "mlmd": sql.MLMD,
}


def read_migrations(ctx: ProbeContext) -> Observed:
    schemas: SchemaReport = read_schemas(ctx).value
    # a healthy node's answer is the cluster's; any readable one will do when none is healthy
    healthy = read_cluster(ctx).value.reference
    reference = next((n for n in schemas.nodes if healthy and n.node == healthy.address), schemas.reference)
    if reference is None:
        raise ReaderError("information_schema on every node", "no node could be read", resource="galera")
    reader = galera_of(ctx)
    entries: list[Bookkeeping] = []
    unreadable: list[tuple[str, str, str]] = []
    evidence: list[Evidence] = []
    for schema, table in reference.tables:
        query = sql.BOOKKEEPING.get(table)
        if query is None:
            continue
        tool = next(name for name, q in _TOOLS.items() if q is query)
        try:
            fetched = reader.query_in(reference.node, schema, query)
        except ReaderError as exc:
            evidence.append(failure_evidence(exc, ctx.now, Source.GALERA))
            unreadable.append((schema, table, exc.headline))
            continue
        entry = _entry(schema, tool, list(fetched.value))
        evidence.append(
            galera_evidence(
                fetched, entry.describe() if entry else f"{schema}.{table} is empty", data=fetched.value
            )
        )
        if entry:
            entries.append(entry)
    return Observed(
        MigrationReport(
            reference.node, tuple(entries), tuple(_kfp(reference)), schemas.schemas, tuple(unreadable)
        ),
        tuple(evidence),
    )
