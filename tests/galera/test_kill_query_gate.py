"""galera.kill-query (and job.rerun's dirty-schema check) through the whole gate: real Galera nodes
for the database, a real kube-apiserver for the approvals, Leases and RBAC of the on-call people.

The blocked migration is made the way it happens: a session idle in an open transaction holds a
table's metadata lock, and an ALTER on that table waits for it ("Waiting for table metadata
lock"). The ALTER runs with ``wsrep_OSU_method=RSU``, because under the default TOI Galera does
not wait: it brute-force aborts the local holder (error 1213). RSU desyncs node 1 while the ALTER
runs and leaves the table altered on node 1 only, so every test waits for node 1 to be Synced
again and drops its schema (DROP DATABASE replicates by TOI) before it ends.

The control plane (etcd + kube-apiserver, tests/live/controlplane.py) is started once for this
module: the live suite's session fixture lives in tests/live/conftest.py, which pytest only
applies to tests under tests/live.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from kubernetes import client
from pymysql.connections import Connection

from kfops.model import Proposal
from kfops.playbooks.galera import KillQuery
from kfops.playbooks.gate import Gate, Refused
from tests.galera.cluster import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    LOOPBACK,
    READER_PASSWORD,
    READER_USER,
    GaleraCluster,
)
from tests.live.controlplane import ControlPlane
from tests.live.test_gate import (  # noqa: F401 — fixtures
    People,
    audit_events,
    oncall_roles,
    people,
    proposal,
    settings,
)
from tests.live.test_job_rerun import JOB, _failed_job, team  # noqa: F401 — fixture
from tests.support.kube import close_api_client, new_api_client

# SQL below formats only schema and user names this module generated (identifiers cannot be
# bound parameters), hence the S608 exemptions; values are always bound.
MDL_WAIT = "Waiting for table metadata lock"


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane.start(tmp_path_factory.mktemp("control-plane"))
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def admin_api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = new_api_client(control_plane.kubeconfig, "admin")
    yield api
    close_api_client(api)


@pytest.fixture
def core(admin_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(admin_api)


def _query(conn: Connection, sql: str, args: object = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


class Db:
    """One test's schema (table ``t``) and application user on the cluster, and its gates."""

    def __init__(self, galera: GaleraCluster, on_call: People) -> None:
        self.galera = galera
        self.people = on_call
        self.schema = galera.schema("kill")
        self.user = f"app_{secrets.token_hex(3)}"
        self.password = secrets.token_hex(8)
        self.node = f"{LOOPBACK}:{galera.node(1).port}"
        with galera.admin(1) as conn:
            _query(conn, f"CREATE TABLE `{self.schema}`.t (id INT PRIMARY KEY)")
            _query(conn, f"INSERT INTO `{self.schema}`.t VALUES (1)")  # noqa: S608
            _query(conn, f"CREATE USER '{self.user}'@'{LOOPBACK}' IDENTIFIED BY %s", (self.password,))
            _query(conn, f"GRANT SELECT ON `{self.schema}`.* TO '{self.user}'@'{LOOPBACK}'")
        galera.sync()

    def app(self) -> Connection:
        """A new connection as the application user on node 1."""
        return pymysql.connect(
            host=LOOPBACK,
            port=self.galera.node(1).port,
            user=self.user,
            password=self.password,
            database=self.schema,
            autocommit=True,
            connect_timeout=5,
            read_timeout=60,
        )

    def gate(self, user: str, **overrides: Any) -> Gate:
        galera_settings = {
            "galera_nodes": ",".join(f"{LOOPBACK}:{n.port}" for n in self.galera.nodes),
            "galera_admin_user": ADMIN_USER,
            "galera_admin_password": ADMIN_PASSWORD,
            "galera_user": READER_USER,
            "galera_password": READER_PASSWORD,
        }
        return self.people.gate(user, **{**galera_settings, **overrides})

    def kill(self, thread_id: int, *, connection: bool, info: str = "") -> Any:
        return proposal(
            "galera.kill-query",
            f"galera/{self.node}/{thread_id}",
            node=self.node,
            threadId=thread_id,
            connection=connection,
            user=self.user,
            db=self.schema,
            info=info,
            seconds=3,
            state="",
        )

    def session(self, thread_id: int) -> tuple[Any, ...] | None:
        with self.galera.admin(1) as conn:
            rows = _query(
                conn,
                "SELECT COMMAND, STATE, INFO FROM information_schema.PROCESSLIST WHERE ID = %s",
                (thread_id,),
            )
        return rows[0] if rows else None

    def wait_until_running(self, text: str) -> None:
        """Wait until a session on node 1 is in state `text` or runs the statement `text`."""
        deadline = time.monotonic() + 20
        while True:
            with self.galera.admin(1) as conn:
                sql = "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE = %s OR INFO = %s"
                if _query(conn, sql, (text, text)):
                    return
            assert time.monotonic() < deadline, f"no session {text!r} within 20 s"
            time.sleep(0.1)

    def drop(self) -> None:
        self.galera.wait_synced(1, size=3)  # an RSU ALTER desynced node 1 while it ran
        with self.galera.admin(1) as conn:
            _query(conn, f"DROP DATABASE IF EXISTS `{self.schema}`")  # TOI: gone everywhere
            _query(conn, f"DROP USER IF EXISTS '{self.user}'@'{LOOPBACK}'")


@pytest.fixture
def db(galera: GaleraCluster, people: People) -> Iterator[Db]:  # noqa: F811 — fixture (test_gate.py)
    made = Db(galera, people)
    try:
        yield made
    finally:
        made.drop()


class Background:
    """A statement running on its own connection in a thread (it blocks until it ends)."""

    def __init__(self, conn: Connection, *statements: str) -> None:
        self.conn = conn
        self.error: BaseException | None = None
        self.result: list[tuple[Any, ...]] = []
        self.thread = threading.Thread(target=self._run, args=(statements,), daemon=True)
        self.thread.start()

    def _run(self, statements: tuple[str, ...]) -> None:
        try:
            for statement in statements:
                self.result = _query(self.conn, statement)
        except BaseException as exc:  # noqa: BLE001 — reported by the test
            self.error = exc

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the statement did not end"


def test_killing_the_metadata_lock_holder_unblocks_the_migration(db: Db, settings: Any) -> None:  # noqa: F811
    holder = db.app()
    _query(holder, "BEGIN")
    _query(holder, f"SELECT * FROM `{db.schema}`.t")  # noqa: S608 — holds the table's metadata lock
    holder_id = int(_query(holder, "SELECT CONNECTION_ID()")[0][0])
    migration = db.galera.admin(1)
    alter = Background(
        migration, "SET SESSION wsrep_OSU_method = 'RSU'", f"ALTER TABLE `{db.schema}`.t ADD COLUMN z INT"
    )
    try:
        db.wait_until_running(MDL_WAIT)
        assert db.session(holder_id) == ("Sleep", "", None)  # idle in its transaction

        alice, bob, carol = (db.people.who(u) for u in ("alice", "bob", "carol"))
        gate = db.gate("alice")
        prepared = gate.prepare(db.kill(holder_id, connection=True), alice)
        step = prepared.plan.steps[0]
        assert step.command() == f"KILL CONNECTION {holder_id} [Galera node {db.node}]"
        assert step.to_json()["resource"] == "galera" and step.ref is None
        assert prepared.access == ()  # RBAC does not govern SQL
        assert prepared.plan.diff == (
            f"- session {holder_id} of {db.user} (db {db.schema}): idle in a transaction",
            f"+ KILL CONNECTION {holder_id}: the session ends; its open transaction rolls back "
            "and its locks are released",
        )
        assert prepared.dry_run == (
            f"dry-run OK: KILL CONNECTION {holder_id} [Galera node {db.node}] (not sent: the admin user "
            f"connects and sees session {holder_id} on Galera node {db.node} as planned; the KILL "
            "privilege itself is checked only when it runs)",
        )
        assert db.session(holder_id) is not None and alter.thread.is_alive()  # the dry run killed nothing

        record = gate.request(prepared, alice)
        assert record.required == 2
        with pytest.raises(Refused, match="has 0 of 2 approvals"):
            gate.execute(prepared.plan.id, alice)
        time.sleep(1.1)  # the session's TIME grows while people approve: the plan must not change
        db.gate("bob").approve(prepared.plan.id, bob)
        db.gate("carol").approve(prepared.plan.id, carol)
        executed = db.gate("carol").execute(prepared.plan.id, carol)

        assert executed.outcome.ok, executed.outcome.summary
        assert executed.verification.ok, executed.verification.summary
        assert executed.verification.summary == f"session {holder_id} on Galera node {db.node} is gone"
        alter.join()
        assert alter.error is None, alter.error
        with db.galera.admin(1) as conn:
            columns = _query(
                conn,
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION",
                (db.schema,),
            )
        assert [c[0] for c in columns] == ["id", "z"]
        assert audit_events(settings) == ["requested", "approved", "approved", "executed"]
        with pytest.raises(Refused, match="already executed"):
            db.gate("carol").execute(prepared.plan.id, carol)
    finally:
        with contextlib.suppress(pymysql.err.MySQLError):
            holder.close()
        alter.join()
        migration.close()


def test_kill_query_aborts_the_statement_and_keeps_the_session(db: Db) -> None:
    runner = db.app()
    runner_id = int(_query(runner, "SELECT CONNECTION_ID()")[0][0])
    sleep = Background(runner, "SELECT SLEEP(60)")
    try:
        db.wait_until_running("SELECT SLEEP(60)")
        alice, bob, carol = (db.people.who(u) for u in ("alice", "bob", "carol"))
        gate = db.gate("alice")
        with pytest.raises(Refused) as refused:  # the diagnosis saw another statement
            gate.prepare(db.kill(runner_id, connection=False, info="SELECT SLEEP(5)"), alice)
        assert str(refused.value).endswith(
            f"session {runner_id} on Galera node {db.node} runs 'SELECT SLEEP(60)' but ran "
            "'SELECT SLEEP(5)' when diagnosed: diagnose again"
        )

        prepared = gate.prepare(db.kill(runner_id, connection=False, info="SELECT SLEEP(60)"), alice)
        assert prepared.plan.steps[0].command() == f"KILL QUERY {runner_id} [Galera node {db.node}]"
        gate.request(prepared, alice)
        db.gate("bob").approve(prepared.plan.id, bob)
        db.gate("carol").approve(prepared.plan.id, carol)
        executed = db.gate("bob").execute(prepared.plan.id, bob)

        assert executed.outcome.ok and executed.verification.ok, executed.verification.summary
        assert executed.verification.summary.startswith(
            f"session {runner_id} on Galera node {db.node} no longer runs the statement"
        )
        sleep.join()
        assert isinstance(sleep.error, pymysql.err.OperationalError)
        assert sleep.error.args == (1317, "Query execution was interrupted")  # what the client sees
        assert _query(runner, "SELECT CONNECTION_ID()")[0][0] == runner_id  # same session, still usable
    finally:
        sleep.join(70)
        runner.close()


def test_a_session_that_has_ended_is_refused(db: Db) -> None:
    gone = db.app()
    gone_id = int(_query(gone, "SELECT CONNECTION_ID()")[0][0])
    gone.close()
    deadline = time.monotonic() + 10
    while db.session(gone_id) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    kill = db.kill(gone_id, connection=True)
    with pytest.raises(Refused) as refused:
        db.gate("alice").prepare(kill, db.people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan galera.kill-query on {kill.target}: session {gone_id} on Galera node {db.node} "
        f"has ended: there is nothing to kill (if it has not, the admin user {ADMIN_USER} lacks the "
        "PROCESS privilege and cannot see it)"
    )


def test_the_admin_credentials_go_only_to_configured_nodes(db: Db) -> None:
    alice = db.people.who("alice")
    kill = db.kill(1, connection=True)
    with pytest.raises(Refused, match="no Galera admin credentials: set KFOPS_GALERA_ADMIN_USER"):
        db.gate("alice", galera_admin_user="").prepare(kill, alice)
    other = f"{LOOPBACK}:{db.galera.node(2).port}"
    with pytest.raises(Refused) as refused:
        db.gate("alice", galera_nodes=other).prepare(kill, alice)
    assert str(refused.value).endswith(
        f"{db.node} is not one of the Galera nodes kfops is configured for ({other}); "
        "kfops sends the admin credentials only to those"
    )


def test_the_playbook_refuses_a_server_thread(db: Db, settings: Any) -> None:  # noqa: F811
    """Galera's applier threads ("system user") are never killed, whatever a proposal says."""
    with db.galera.admin(1) as conn:
        applier = int(
            _query(conn, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'system user'")[0][0]
        )
    kill = db.kill(applier, connection=True)
    with pytest.raises(
        Refused, match=f"session {applier} on Galera node .* is a server thread \\(system user"
    ):
        db.gate("alice").prepare(kill, db.people.who("alice"))
    assert KillQuery.writes == () and not KillQuery.target_in_kubernetes


def _rerun_of_a_failed_job(db: Db, admin_api: client.ApiClient, namespace: str) -> tuple[Proposal, list[str]]:
    """A failed migration Job in ``namespace`` and the job.rerun that names the test schema and
    every Galera node, as the ladder proposes it; and those node addresses."""
    uid, _ = _failed_job(admin_api, namespace)
    nodes = [f"{LOOPBACK}:{n.port}" for n in db.galera.nodes]
    rerun = proposal(
        "job.rerun",
        f"job/{namespace}/{JOB}",
        namespace=namespace,
        job=JOB,
        uid=uid,
        galeraNodes=nodes,
        schema=db.schema,
    )
    return rerun, nodes


def _refusal(db: Db, rerun: Proposal) -> str:
    """Why the gate refuses to prepare ``rerun`` for alice (it must refuse)."""
    with pytest.raises(Refused) as refused:
        db.gate("alice").prepare(rerun, db.people.who("alice"))
    return str(refused.value)


def test_a_rerun_waits_until_the_migration_schema_is_not_dirty(
    db: Db,
    admin_api: client.ApiClient,
    team: str,  # noqa: F811 — fixture (test_job_rerun.py)
) -> None:
    """job.rerun reads golang-migrate's schema_migrations on every node; dirty = 1 refuses the plan."""
    with db.galera.admin(1) as conn:
        _query(
            conn, f"CREATE TABLE `{db.schema}`.schema_migrations (version BIGINT PRIMARY KEY, dirty BOOLEAN)"
        )
        _query(conn, f"INSERT INTO `{db.schema}`.schema_migrations VALUES (7, TRUE)")  # noqa: S608
    db.galera.sync()
    rerun, nodes = _rerun_of_a_failed_job(db, admin_api, team)
    assert _refusal(db, rerun).endswith(
        f"schema {db.schema} is dirty at version 7 on {nodes[0]} (a migration stopped half-way): restore "
        "or force the version first (`migrate force <last good version>`), then re-run the Job"
    )

    with db.galera.admin(1) as conn:
        _query(conn, f"UPDATE `{db.schema}`.schema_migrations SET dirty = FALSE")  # noqa: S608
    db.galera.sync()
    prepared = db.gate("alice").prepare(rerun, db.people.who("alice"))
    assert prepared.plan.notes[-1] == f"schema {db.schema} is not dirty: " + "; ".join(
        f"{n} version 7" for n in nodes
    )


def test_a_rerun_waits_until_a_failed_flyway_migration_is_repaired(
    db: Db,
    admin_api: client.ApiClient,
    team: str,  # noqa: F811 — fixture (test_job_rerun.py)
) -> None:
    """Flyway refuses to migrate while its newest history row has success = 0 ("Detected failed
    migration"); job.rerun reads flyway_schema_history on every node and refuses the plan too."""
    history = (
        f"CREATE TABLE `{db.schema}`.flyway_schema_history (installed_rank INT PRIMARY KEY, "
        "version VARCHAR(50), description VARCHAR(200), type VARCHAR(20), script VARCHAR(1000), "
        "checksum INT, installed_by VARCHAR(100), installed_on TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "
        "execution_time INT, success BOOLEAN)"
    )
    with db.galera.admin(1) as conn:
        _query(conn, history)
        _query(
            conn,
            f"INSERT INTO `{db.schema}`.flyway_schema_history "  # noqa: S608
            "(installed_rank, version, description, type, script, checksum, installed_by, "
            "execution_time, success) VALUES "
            "(1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'app', 10, TRUE), "
            "(2, '2', 'add owner', 'SQL', 'V2__add_owner.sql', 2, 'app', 12, FALSE)",
        )
    db.galera.sync()
    rerun, nodes = _rerun_of_a_failed_job(db, admin_api, team)
    assert _refusal(db, rerun).endswith(
        f"schema {db.schema} has a failed Flyway migration on {nodes[0]} (version 2, add owner): undo "
        "its half-applied changes or restore, run `flyway repair`, then re-run the Job"
    )

    with db.galera.admin(1) as conn:  # what `flyway repair` does with a failed row
        _query(conn, f"DELETE FROM `{db.schema}`.flyway_schema_history WHERE success = FALSE")  # noqa: S608
    db.galera.sync()
    prepared = db.gate("alice").prepare(rerun, db.people.who("alice"))
    assert prepared.plan.notes[-1] == f"schema {db.schema} is not dirty: " + "; ".join(
        f"{n} Flyway at 1" for n in nodes
    )
