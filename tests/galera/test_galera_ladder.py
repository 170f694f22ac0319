"""The galera-migration-failure ladder on a real 3-node MariaDB Galera cluster.

Each incident is made with real SQL on the real cluster (a dirty golang-migrate row, an RSU
ALTER on one node, a metadata-lock wait, a stopped node, a lost quorum …) and diagnosed by the
live pymysql reader as the read-only user. Every test examines only its own schema (``--schema``)
so tests cannot see each other's tables; the cluster-wide rungs (membership, sessions) see the
whole cluster, so every test leaves no session behind. The Kubernetes side (a Backup, the MLMD
Deployment) is a small snapshot in tests/galera/kube/: the parity suite proves the Kubernetes
reads live (tests/live/test_parity.py).
"""

# ruff: noqa: S608 — test SQL names the per-test schema the fixture created; values are bound
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from kfops.cli.capture import capture
from kfops.clients.live.galera import LiveGaleraReader
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_galera
from kfops.model import Diagnosis, Status
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings

from .cluster import READER_PASSWORD, READER_USER, GaleraCluster

KUBE = Path(__file__).resolve().parent / "kube"
LADDER = find("galera-migration-failure")


def diagnose(
    galera: GaleraCluster,
    *schemas: str,
    kube: str = "base",
    password: str = READER_PASSWORD,
    **settings: object,
) -> Diagnosis:
    reader = LiveGaleraReader(
        [f"127.0.0.1:{n.port}" for n in galera.nodes],
        READER_USER,
        password,
        expected_size=len(galera.nodes),
        connect_timeout_s=2,
        read_timeout_s=5,
    )
    try:
        config = Settings(galera_schemas=",".join(schemas), **settings)  # type: ignore[arg-type]
        [diagnosis] = Engine(SnapshotKubeReader.open(KUBE / kube), config, galera=reader).diagnose(LADDER)
    finally:
        reader.close()
    return diagnosis


def statuses(diagnosis: Diagnosis) -> dict[str, str]:
    return {f.rung: f.status.value for f in diagnosis.findings}


def summary(diagnosis: Diagnosis, rung: str) -> str:
    return next(f.summary for f in diagnosis.findings if f.rung == rung)


def actions(diagnosis: Diagnosis) -> list[str]:
    return sorted(p.action for p in diagnosis.proposals)


def run(galera: GaleraCluster, *statements: str, node: int = 1) -> None:
    with galera.admin(node) as conn, conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture
def schema(galera: GaleraCluster) -> Iterator[str]:
    """A fresh schema with one keyed table and a clean golang-migrate row; dropped afterwards."""
    name = galera.schema("ladder")
    run(
        galera,
        f"CREATE TABLE `{name}`.runs (id BIGINT PRIMARY KEY, state VARCHAR(32))",
        f"CREATE TABLE `{name}`.schema_migrations "
        "(version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL)",
        f"INSERT INTO `{name}`.schema_migrations VALUES (6, 0)",
    )
    galera.sync()
    yield name
    if galera.healthy():
        run(galera, f"DROP DATABASE IF EXISTS `{name}`")


def test_healthy_cluster_with_clean_migrations_raises_no_alarm(galera: GaleraCluster, schema: str) -> None:
    diagnosis = diagnose(galera, schema)
    assert diagnosis.conclusion.verdict.value == "healthy", diagnosis.conclusion.summary
    assert statuses(diagnosis) == {
        "galera-nodes": "OK",
        "galera-reachable": "OK",
        "galera-membership": "OK",
        "galera-replication": "OK",
        "galera-ddl": "OK",
        "galera-schema": "OK",
        "galera-migrations": "OK",
        "mlmd-schema": "SKIPPED",
        "migration-job": "NO_DATA",
        "galera-primary-keys": "OK",
        "galera-backup": "OK",
    }
    assert f"{schema}: golang-migrate version 6, clean" in summary(diagnosis, "galera-migrations")
    assert not diagnosis.proposals and not diagnosis.errors


def test_golang_migrate_dirty_at_version_n(galera: GaleraCluster, schema: str) -> None:
    run(galera, f"UPDATE `{schema}`.schema_migrations SET version = 7, dirty = 1")
    galera.sync()
    diagnosis = diagnose(galera, schema)
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == ("problem", "migration-dirty")
    assert summary(diagnosis, "galera-migrations") == f"{schema}: golang-migrate version 7 DIRTY"
    assert actions(diagnosis) == ["galera.force-migration-version", "galera.restore-backup"]
    force = next(p for p in diagnosis.proposals if p.action == "galera.force-migration-version")
    assert any("force 6" in step for step in force.steps) and force.mode.value == "manual"
    restore = next(p for p in diagnosis.proposals if p.action == "galera.restore-backup")
    assert restore.target == "backup/kubeflow/mariadb-nightly"
    assert any("backupRef:\n    name: mariadb-nightly" in step for step in restore.steps)


def test_schema_diverged_by_an_rsu_alter_on_one_node(galera: GaleraCluster, schema: str) -> None:
    run(
        galera,
        "SET SESSION wsrep_OSU_method = 'RSU'",
        f"ALTER TABLE `{schema}`.runs ADD COLUMN note TEXT",
        node=2,
    )
    galera.wait_synced(2, size=3)
    diagnosis = diagnose(galera, schema)
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == ("problem", "schema-diverged")
    port = galera.node(2).port
    assert summary(diagnosis, "galera-schema") == (
        f"schemas differ between nodes: {schema}.runs: column note text only on 127.0.0.1:{port}"
    )
    assert "galera.resync-node" in actions(diagnosis)


def _wait_state(galera: GaleraCluster, state: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with galera.admin(1) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = %s", (state,))
            row = cursor.fetchone()  # COUNT(*) always answers one row
            assert row is not None
            if row[0] >= count:
                return
        time.sleep(0.1)
    raise AssertionError(f"no {count} sessions in state {state!r} within 20 s")


@pytest.mark.parametrize("plugin", [True, False], ids=["metadata_lock_info", "inferred-holder"])
def test_an_alter_waiting_for_a_metadata_lock_names_its_holder(
    galera: GaleraCluster, schema: str, plugin: bool
) -> None:
    """RSU is what makes the wait visible: under TOI Galera BF-aborts the holder (error 1213) instead."""
    run(
        galera,
        "INSTALL SONAME 'metadata_lock_info'"
        if plugin
        else "UNINSTALL SONAME IF EXISTS 'metadata_lock_info'",
    )
    holder = galera.admin(1)
    holder_cursor = holder.cursor()
    holder_cursor.execute("BEGIN")
    holder_cursor.execute(f"SELECT * FROM `{schema}`.runs")
    holder_id = holder.thread_id()  # type: ignore[no-untyped-call]  # unannotated in types-PyMySQL
    errors: list[BaseException] = []

    def blocked(*statements: str) -> None:
        try:
            run(galera, *statements)
        except pymysql.err.MySQLError as exc:  # pragma: no cover — shown if the cleanup fails
            errors.append(exc)

    alter = threading.Thread(
        target=blocked,
        args=("SET SESSION wsrep_OSU_method = 'RSU'", f"ALTER TABLE `{schema}`.runs ADD COLUMN z INT"),
    )
    reader = threading.Thread(target=blocked, args=(f"SELECT COUNT(*) FROM `{schema}`.runs",))
    alter.start()
    _wait_state(galera, "Waiting for table metadata lock", 1)
    reader.start()
    try:
        _wait_state(galera, "Waiting for table metadata lock", 2)
        diagnosis = diagnose(galera, schema)
    finally:
        holder.rollback()
        holder.close()
        alter.join(30)
        reader.join(30)
        run(galera, "SET SESSION wsrep_OSU_method = 'RSU'", f"ALTER TABLE `{schema}`.runs DROP COLUMN z")
        galera.wait_synced(1, size=3)
    assert not errors
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == ("problem", "ddl-blocked")
    said = summary(diagnosis, "galera-ddl")
    assert (
        f"ALTER TABLE `{schema}`.runs ADD COLUMN z INT" in said and "1 more sessions wait behind it" in said
    )
    how = "exact, metadata_lock_info" if plugin else "likely: open transaction"
    assert f"held by thread {holder_id} (kfops_admin)" in said and how in said
    assert "wsrep_OSU_method node1=TOI" in said
    [kill] = diagnosis.proposals
    assert (kill.action, kill.risk.value, kill.target) == (
        "galera.kill-query",
        "high",
        f"galera/127.0.0.1:{galera.node(1).port}/{holder_id}",
    )
    assert kill.params["connection"] is True  # idle in a transaction: only ending the session frees it


def test_a_table_without_a_primary_key(galera: GaleraCluster, schema: str) -> None:
    run(galera, f"CREATE TABLE `{schema}`.events (ts DATETIME, what TEXT)")
    galera.sync()
    diagnosis = diagnose(galera, schema)
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == (
        "problem",
        "tables-without-primary-key",
    )
    assert summary(diagnosis, "galera-primary-keys") == f"1 tables without a primary key: {schema}.events"
    assert actions(diagnosis) == ["galera.add-primary-key"]


def test_mlmd_schema_version_behind_the_deployed_server(galera: GaleraCluster, schema: str) -> None:
    run(
        galera,
        f"CREATE TABLE `{schema}`.MLMDEnv (schema_version INTEGER PRIMARY KEY)",
        f"INSERT INTO `{schema}`.MLMDEnv VALUES (9)",
    )
    galera.sync()
    diagnosis = diagnose(galera, schema, kube="mlmd")
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == (
        "problem",
        "mlmd-schema-mismatch",
    )
    assert summary(diagnosis, "mlmd-schema") == (
        f"MLMD schema version {schema}: 9; the deployed metadata server "
        "(gcr.io/tfx-oss-public/ml_metadata_store_server:1.14.0) expects 10 (image tag 1.14.0) "
        "— the schema upgrade did not finish"
    )
    assert "galera.restore-backup" in actions(diagnosis)


def test_wrong_credentials_are_an_error_per_node_never_healthy(galera: GaleraCluster, schema: str) -> None:
    diagnosis = diagnose(galera, schema, password="not-the-password")
    assert diagnosis.conclusion.verdict.value == "inconclusive"
    reachable = next(f for f in diagnosis.findings if f.rung == "galera-reachable")
    assert reachable.status is Status.ERROR
    for node in galera.nodes:
        assert f"127.0.0.1:{node.port}: credentials refused" in reachable.summary
    assert "Access denied for user 'kfops'" in reachable.summary
    assert "KFOPS_GALERA_USER / KFOPS_GALERA_PASSWORD" in reachable.summary
    assert not diagnosis.proposals


def test_one_node_stopped_cluster_of_two_still_primary(restoring_galera: GaleraCluster, schema: str) -> None:
    galera = restoring_galera
    galera.stop_node(3)
    diagnosis = diagnose(galera, schema)
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == ("problem", "node-down")
    port = galera.node(3).port
    assert summary(diagnosis, "galera-membership") == (
        f"the Primary component has 2 of 3 nodes (still has quorum); missing: 127.0.0.1:{port}"
    )
    reachable = next(f for f in diagnosis.findings if f.rung == "galera-reachable")
    assert (
        reachable.status is Status.ERROR and f"127.0.0.1:{port}: cannot reach the source" in reachable.summary
    )
    assert statuses(diagnosis)["galera-schema"] == "OK"  # the two survivors still agree
    assert actions(diagnosis) == ["galera.rejoin-node"]


def test_quorum_lost_leaves_a_non_primary_survivor(restoring_galera: GaleraCluster, schema: str) -> None:
    galera = restoring_galera
    galera.sync()
    galera.lose_quorum(survivor=1)
    diagnosis = diagnose(galera, schema)
    assert (diagnosis.conclusion.verdict.value, diagnosis.conclusion.cause) == ("problem", "quorum-lost")
    said = summary(diagnosis, "galera-membership")
    assert said.startswith("quorum lost — node1 (127.0.0.1:") and "non-Primary component of 1" in said
    [bootstrap] = diagnosis.proposals
    assert bootstrap.action == "galera.bootstrap" and bootstrap.mode.value == "manual"
    assert "node1" in bootstrap.steps[0] and "highest wsrep_last_committed" in bootstrap.steps[0]


def test_capture_records_galera_and_replays_to_the_same_diagnosis(
    galera: GaleraCluster, schema: str, tmp_path: Path
) -> None:
    """`kfops capture` writes galera/ (docs/snapshots.md); offline replay concludes the same."""
    run(galera, f"UPDATE `{schema}`.schema_migrations SET version = 9, dirty = 1")
    galera.sync()
    settings = Settings(galera_schemas=schema)
    reader = LiveGaleraReader([f"127.0.0.1:{n.port}" for n in galera.nodes], READER_USER, READER_PASSWORD)
    try:
        captured = capture(
            tmp_path / "snap", SnapshotKubeReader.open(KUBE / "base"), None, settings, [LADDER], galera=reader
        )
    finally:
        reader.close()
    [live] = captured.diagnoses
    replay_kube = SnapshotKubeReader.open(tmp_path / "snap")
    [offline] = Engine(replay_kube, settings, galera=open_galera(settings, replay_kube)).diagnose(LADDER)
    assert (live.conclusion.cause, offline.conclusion.cause) == ("migration-dirty", "migration-dirty")
    assert [(f.rung, f.status, f.summary) for f in live.findings] == [
        (f.rung, f.status, f.summary) for f in offline.findings
    ]
    assert sorted(p.id for p in live.proposals) == sorted(p.id for p in offline.proposals)
    recorded = (tmp_path / "snap" / "galera" / "node1.yaml").read_text()
    assert f"{schema}:\n    golang-migrate:\n    - version: 9\n      dirty: 1" in recorded
    assert READER_PASSWORD not in recorded
