"""Every SQL statement kfops sends to a Galera node: fixed text, parameters bound by the driver.

Nothing here is built from strings at run time. Schema names a user passes (``--schema``) are
only ever bound as parameters (``IN %(schemas)s``) or selected with the protocol's own
"change database" command (``COM_INIT_DB``) before a fixed bookkeeping query — never spliced
into SQL. Pure data: no driver import, so the snapshot reader and the docs share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Shape(StrEnum):
    VARIABLES = "variables"  # two columns (name, value) folded into a mapping
    ROWS = "rows"  # a list of mappings, column name → value


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    shape: Shape
    by_schema: bool = False  # takes the schemas parameter; its rows carry SCHEMA_FIELD
    schema_field: str = "TABLE_SCHEMA"


SYSTEM_SCHEMAS: Final = ("mysql", "information_schema", "performance_schema", "sys")

WSREP_STATUS = Query("wsrep-status", "SHOW GLOBAL STATUS LIKE 'wsrep%'", Shape.VARIABLES)
VARIABLES = Query(
    "variables",
    "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wsrep_osu_method', 'wsrep_ignore_apply_errors', "
    "'wsrep_on', 'wsrep_node_name', 'wsrep_cluster_name', 'wsrep_sst_method', 'read_only', "
    "'lock_wait_timeout', 'innodb_lock_wait_timeout', 'max_allowed_packet', 'version')",
    Shape.VARIABLES,
)
#: other sessions, longest first; INFO is cut to 300 characters (statements can be huge)
PROCESSLIST = Query(
    "processlist",
    "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, LEFT(INFO, 300) AS INFO "
    "FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() ORDER BY TIME DESC LIMIT 500",
    Shape.ROWS,
)
#: open InnoDB transactions: who may hold a metadata lock when the plugin below is absent
INNODB_TRX = Query(
    "innodb-trx",
    "SELECT trx_mysql_thread_id, trx_started, TIMESTAMPDIFF(SECOND, trx_started, NOW()) AS trx_seconds, "
    "trx_state, trx_rows_locked, trx_tables_locked "
    "FROM information_schema.INNODB_TRX ORDER BY trx_started LIMIT 200",
    Shape.ROWS,
)
#: exact metadata-lock holders; needs the metadata_lock_info plugin (absent: the probe says so)
METADATA_LOCKS = Query(
    "metadata-locks",
    "SELECT THREAD_ID, LOCK_MODE, LOCK_TYPE, TABLE_SCHEMA, TABLE_NAME "
    "FROM information_schema.METADATA_LOCK_INFO LIMIT 500",
    Shape.ROWS,
)
#: the application schemas: every non-system one, or those named with --schema
SCHEMATA = Query(
    "schemata",
    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
    "WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') "
    "ORDER BY SCHEMA_NAME LIMIT 200",
    Shape.ROWS,
)
SCHEMATA_NAMED = Query(
    "schemata",
    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN %(schemas)s "
    "ORDER BY SCHEMA_NAME",
    Shape.ROWS,
    by_schema=True,
    schema_field="SCHEMA_NAME",
)
TABLES = Query(
    "tables",
    "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE, TABLE_ROWS FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA IN %(schemas)s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME",
    Shape.ROWS,
    by_schema=True,
)
COLUMNS = Query(
    "columns",
    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, "
    "COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN %(schemas)s "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
    Shape.ROWS,
    by_schema=True,
)
INDEXES = Query(
    "indexes",
    "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME "
    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN %(schemas)s "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    Shape.ROWS,
    by_schema=True,
)

# Migration bookkeeping, read inside one schema (selected with COM_INIT_DB, not with SQL text).
GOLANG_MIGRATE = Query("golang-migrate", "SELECT version, dirty FROM schema_migrations", Shape.ROWS)
FLYWAY = Query(
    "flyway",
    "SELECT installed_rank, version, description, success, installed_on FROM flyway_schema_history "
    "ORDER BY installed_rank DESC LIMIT 5",
    Shape.ROWS,
)
ALEMBIC = Query("alembic", "SELECT version_num FROM alembic_version", Shape.ROWS)
MLMD = Query("mlmd", "SELECT schema_version FROM MLMDEnv", Shape.ROWS)

#: bookkeeping table → the query that reads it
BOOKKEEPING: Final = {
    "schema_migrations": GOLANG_MIGRATE,
    "flyway_schema_history": FLYWAY,
    "alembic_version": ALEMBIC,
    "MLMDEnv": MLMD,
}

NODE_QUERIES: Final = (WSREP_STATUS, VARIABLES, PROCESSLIST, INNODB_TRX, METADATA_LOCKS, SCHEMATA)
SCHEMA_QUERIES: Final = (SCHEMATA_NAMED, TABLES, COLUMNS, INDEXES)
TABLE_QUERIES: Final = tuple(BOOKKEEPING.values())


def show_sql(query: Query, schemas: Sequence[str] = ()) -> str:
    """The statement as a human can re-run it, with the schemas in place of the parameter."""
    listed = "(" + ", ".join(f"'{s}'" for s in schemas) + ")"
    return query.sql.replace("%(schemas)s", listed)
