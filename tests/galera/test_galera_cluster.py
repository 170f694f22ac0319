"""The Galera test cluster is real: replication, RSU schema divergence, node loss, quorum loss, restore.

These tests prove the harness the Galera ladder will be tested against, and record what real
servers answer in each state (status values, error codes, privileges) so the ladder's probes
are written against facts, not recollection.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import pymysql
import pytest
from pymysql.connections import Connection

from tests.galera.cluster import READER_USER, GaleraCluster, GraState

NODES = (1, 2, 3)
# SQL below formats only schema names this module generated (identifiers cannot be bound
# parameters), hence the S608 exemptions; values are always bound.


def _query(conn: Connection, sql: str, args: object = None) -> list[tuple[object, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def _as_dict(rows: list[tuple[object, ...]]) -> dict[object, object]:
    """``dict(rows)`` for two-column rows (``SHOW STATUS``: name, value)."""
    return {name: value for name, value in rows}


def _causal(conn: Connection) -> Connection:
    """Make reads on ``conn`` wait until the node has applied everything committed before them.

    Galera is only virtually synchronous: a commit on node 1 returns once the write-set is
    certified, and node 3 applies it a moment later. ``wsrep_sync_wait=1`` is the documented
    way to read your own writes from another node; without it such a test would flake.
    """
    _query(conn, "SET SESSION wsrep_sync_wait = 1")
    return conn


def _columns(galera: GaleraCluster, node: int, schema: str, table: str) -> list[str]:
    """Column names of ``schema.table`` as the read-only user sees them on one node."""
    with galera.dsn(node).connect() as conn:
        rows = _query(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
    return [str(row[0]) for row in rows]


@pytest.fixture
def table(galera: GaleraCluster) -> Iterator[tuple[str, str]]:
    """A fresh ``(schema, table)`` with ``id INT PRIMARY KEY, note VARCHAR(40)``; dropped afterwards."""
    schema = galera.schema("t")
    with galera.admin(1) as conn:
        _query(conn, f"CREATE TABLE `{schema}`.items (id INT PRIMARY KEY, note VARCHAR(40))")
    yield schema, "items"
    with contextlib.suppress(pymysql.err.MySQLError), galera.admin(_any_running(galera)) as conn:
        _query(conn, f"DROP DATABASE `{schema}`")


def _any_running(galera: GaleraCluster) -> int:
    return next(n.index for n in galera.nodes if n.running)


def _insert(galera: GaleraCluster, node: int, schema: str, row_id: int, note: str) -> None:
    with galera.admin(node) as conn:
        _query(conn, f"INSERT INTO `{schema}`.items VALUES (%s, %s)", (row_id, note))  # noqa: S608


def _read_note(galera: GaleraCluster, node: int, schema: str, row_id: int) -> str | None:
    with _causal(galera.dsn(node).connect()) as conn:
        rows = _query(conn, f"SELECT note FROM `{schema}`.items WHERE id = %s", (row_id,))  # noqa: S608
    return str(rows[0][0]) if rows else None


def _transfer_lines(galera: GaleraCluster, node: int) -> str:
    """The error-log lines that say why a node got IST or SST, for assertion messages."""
    keys = (
        "State transfer required",
        "Group state",
        "Local state",
        "IST",
        "SST",
        "Recovered position",
        "Loading provider",
        "DDL_LOG",
    )
    lines = galera.logs(node, tail=None, since_start=True).splitlines()
    return "\n".join(line for line in lines if any(key in line for key in keys))


# ---------------------------------------------------------------------- a healthy cluster


def test_three_nodes_synced_in_one_primary_component(galera: GaleraCluster) -> None:
    statuses = {node: galera.status(node) for node in NODES}
    for node, status in statuses.items():
        assert status["wsrep_local_state_comment"] == "Synced", node
        assert status["wsrep_local_state"] == "4", node
        assert status["wsrep_cluster_status"] == "Primary", node
        assert status["wsrep_cluster_size"] == "3", node
        assert status["wsrep_ready"] == "ON", node
        assert status["wsrep_connected"] == "ON", node
        assert status["wsrep_local_state_uuid"] == status["wsrep_cluster_state_uuid"], node
    assert len({s["wsrep_cluster_state_uuid"] for s in statuses.values()}) == 1
    for status in statuses.values():
        addresses = status["wsrep_incoming_addresses"].split(",")
        assert sorted(addresses) == sorted(f"127.0.0.1:{galera.node(n).port}" for n in NODES)


def test_a_write_on_node_1_is_read_on_node_3(galera: GaleraCluster, table: tuple[str, str]) -> None:
    schema, _ = table
    _insert(galera, 1, schema, 1, "written on node 1")
    assert _read_note(galera, 3, schema, 1) == "written on node 1"


def test_rsu_alter_on_one_node_silently_diverges_the_schema(
    galera: GaleraCluster, table: tuple[str, str]
) -> None:
    """RSU runs DDL on the local node only: the cluster stays healthy while the schemas differ."""
    schema, name = table
    expected = ["id", "note"]
    for node in NODES:  # the CREATE TABLE (TOI) is everywhere first
        with _causal(galera.dsn(node).connect()) as conn:
            _query(conn, f"SELECT COUNT(*) FROM `{schema}`.`{name}`")  # noqa: S608
        assert _columns(galera, node, schema, name) == expected

    with galera.admin(2) as conn:
        _query(conn, "SET SESSION wsrep_OSU_method = 'RSU'")
        _query(conn, f"ALTER TABLE `{schema}`.`{name}` ADD COLUMN migrated_at DATETIME NULL")

    assert _columns(galera, 2, schema, name) == [*expected, "migrated_at"]
    assert _columns(galera, 1, schema, name) == expected
    assert _columns(galera, 3, schema, name) == expected
    # ... and nothing in wsrep status gives it away once node 2 has caught up again.
    for node in NODES:
        status = galera.wait_synced(node, size=3)
        assert status["wsrep_desync_count"] == "0"


# ---------------------------------------------------------------------- the read-only user


def test_read_only_user_reads_status_processlist_and_columns(
    galera: GaleraCluster, table: tuple[str, str]
) -> None:
    schema, name = table
    with galera.admin(2) as admin, galera.dsn(2).connect() as reader:
        admin_id = _query(admin, "SELECT CONNECTION_ID()")[0][0]
        status = _as_dict(_query(reader, "SHOW GLOBAL STATUS LIKE 'wsrep%'"))
        assert status["wsrep_cluster_status"] == "Primary"
        assert status["wsrep_cluster_size"] == "3"

        sessions = _query(reader, "SELECT ID, USER, COMMAND FROM information_schema.PROCESSLIST")
        assert any(row[0] == admin_id for row in sessions), "PROCESS shows other users' sessions"
        assert any(row[1] == "system user" for row in sessions), "Galera applier threads are listed"

        columns = _query(
            reader,
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, name),
        )
        assert columns == [("id", "int(11)"), ("note", "varchar(40)")]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO `{schema}`.items VALUES (99, 'nope')",
        "CREATE TABLE `{schema}`.more (id INT PRIMARY KEY)",
        "ALTER TABLE `{schema}`.items ADD COLUMN nope INT",
    ],
)
def test_read_only_user_is_refused_writes(
    galera: GaleraCluster, table: tuple[str, str], statement: str
) -> None:
    schema, _ = table
    with galera.dsn(1).connect() as reader, pytest.raises(pymysql.err.MySQLError) as refused:
        _query(reader, statement.format(schema=schema))
    assert refused.value.args[0] == 1142  # ER_TABLEACCESS_DENIED_ERROR: "... command denied to user"
    assert READER_USER in str(refused.value.args[1])


def test_without_process_privilege_the_processlist_shows_only_own_sessions(galera: GaleraCluster) -> None:
    """Why the read-only user needs PROCESS (and why SHOW GLOBAL STATUS does not need anything)."""
    user, password = f"noproc_{secrets.token_hex(3)}", "noproc-test-pw"
    with galera.admin(1) as admin:
        _query(admin, f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'")
        try:
            with pymysql.connect(
                host="127.0.0.1", port=galera.node(1).port, user=user, password=password
            ) as conn:
                assert _as_dict(_query(conn, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")) == {
                    "wsrep_cluster_size": "3"
                }
                users = {row[0] for row in _query(conn, "SELECT USER FROM information_schema.PROCESSLIST")}
                assert users == {user}
        finally:
            _query(admin, f"DROP USER '{user}'@'127.0.0.1'")


# ---------------------------------------------------------------------- losing nodes


def test_a_cleanly_stopped_node_leaves_a_primary_cluster_of_two_and_rejoins_by_ist(
    restoring_galera: GaleraCluster, table: tuple[str, str]
) -> None:
    galera, (schema, _) = restoring_galera, table
    galera.stop_node(3)
    for node in (1, 2):
        status = galera.status(node)
        assert status["wsrep_cluster_size"] == "2"
        assert status["wsrep_cluster_status"] == "Primary"
        assert status["wsrep_local_state_comment"] == "Synced"
    state = GraState.read(galera.node(3).datadir)
    assert state is not None and state.seqno >= 0, "a clean shutdown records the position"
    assert not state.safe_to_bootstrap, "only the last node out is safe to bootstrap from"

    _insert(galera, 1, schema, 2, "written while node 3 was down")
    galera.start_node(3)
    assert _read_note(galera, 3, schema, 2) == "written while node 3 was down"
    assert galera.state_transfer(3) == "IST", _transfer_lines(galera, 3)


def test_a_killed_node_is_evicted_and_rejoins(
    restoring_galera: GaleraCluster, table: tuple[str, str]
) -> None:
    galera, (schema, _) = restoring_galera, table
    galera.sync()  # not in the middle of applying the fixture's DDL (see GaleraCluster.sync)
    galera.kill_node(2)
    state = GraState.read(galera.node(2).datadir)
    assert state is not None and state.seqno == -1, "a crash leaves seqno -1 in grastate.dat"
    for node in (1, 3):  # evicted after evs.suspect_timeout (5 s)
        galera.wait_for(node, lambda s: s["wsrep_cluster_size"] == "2", "cluster size 2 after the kill")
        assert galera.status(node)["wsrep_cluster_status"] == "Primary"

    _insert(galera, 3, schema, 3, "written while node 2 was dead")
    galera.start_node(2)  # position recovered from InnoDB first (grastate.dat says -1), so IST
    assert galera.state_transfer(2) == "IST", _transfer_lines(galera, 2)
    assert _read_note(galera, 2, schema, 3) == "written while node 2 was dead"


def test_losing_quorum_leaves_the_survivor_non_primary_until_restore(
    restoring_galera: GaleraCluster, table: tuple[str, str]
) -> None:
    galera, (schema, _) = restoring_galera, table
    _insert(galera, 1, schema, 4, "before the quorum loss")
    history = galera.status(1)["wsrep_cluster_state_uuid"]
    galera.sync()
    galera.lose_quorum(survivor=1)

    status = galera.status(1)
    assert status["wsrep_cluster_status"] == "non-Primary"
    assert status["wsrep_ready"] == "OFF"
    assert status["wsrep_cluster_size"] == "1"
    with galera.dsn(1).connect() as reader:  # status still answers, so kfops can diagnose it ...
        assert _as_dict(_query(reader, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'")) == {
            "wsrep_cluster_status": "non-Primary"
        }
        with pytest.raises(pymysql.err.MySQLError) as refused:  # ... but reads of data are refused
            _query(reader, f"SELECT note FROM `{schema}`.items")  # noqa: S608
        assert refused.value.args[0] == 1047  # ER_UNKNOWN_COM_ERROR: "WSREP has not yet prepared node ..."

    galera.restore()
    assert galera.events[-1].startswith("no Primary component")
    assert "bootstrapping from node1 (running: pc.bootstrap=YES)" in galera.events[-1]
    for node in NODES:
        status = galera.status(node)
        assert (status["wsrep_local_state_comment"], status["wsrep_cluster_size"]) == ("Synced", "3")
        assert status["wsrep_cluster_state_uuid"] == history, "pc.bootstrap keeps the history"
    for node in (2, 3):
        assert galera.state_transfer(node) == "IST", _transfer_lines(galera, node)
    assert _read_note(galera, 3, schema, 4) == "before the quorum loss"


def test_restore_after_a_full_crash_bootstraps_the_most_advanced_node(
    restoring_galera: GaleraCluster, table: tuple[str, str]
) -> None:
    """Node 3 leaves first (behind), then 1 and 2 crash: restore must not bootstrap from node 3."""
    galera, (schema, _) = restoring_galera, table
    history = galera.status(1)["wsrep_cluster_state_uuid"]
    galera.stop_node(3)
    _insert(galera, 1, schema, 5, "only nodes 1 and 2 have this")
    galera.sync()
    galera.kill_node(1)
    galera.kill_node(2)
    assert not galera.running_nodes()

    positions = galera.positions()  # --wsrep-recover for 1 and 2, grastate.dat for 3
    # node 2 may have crashed a moment before applying the last write-set, never after node 1
    assert positions[1] >= positions[2] and positions[1] > positions[3]

    galera.restore()
    assert "bootstrapping from node1 (stopped: safe_to_bootstrap=1)" in galera.events[-1]
    # Bootstrapped at its recovered position, the history goes on and the others catch up by IST
    # (without --wsrep-start-position it would start a new history and force full SSTs).
    assert {galera.status(node)["wsrep_cluster_state_uuid"] for node in NODES} == {history}
    for node in (2, 3):
        assert galera.state_transfer(node) == "IST", _transfer_lines(galera, node)
    assert _read_note(galera, 3, schema, 5) == "only nodes 1 and 2 have this"
