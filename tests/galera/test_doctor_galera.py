"""`kfops doctor` against the session's real Galera cluster: the read-only login per node."""

from __future__ import annotations

from kfops.doctor import Level
from kfops.doctor.sources import galera as check_galera
from kfops.settings import Settings
from tests.galera.cluster import GaleraCluster


def _settings(cluster: GaleraCluster, password: str | None = None) -> Settings:
    dsns = [cluster.dsn(i) for i in range(1, len(cluster.nodes) + 1)]
    return Settings(
        galera_nodes=",".join(f"{d.host}:{d.port}" for d in dsns),
        galera_user=dsns[0].user,
        galera_password=password if password is not None else dsns[0].password,
        galera_connect_timeout_s=2,
        galera_read_timeout_s=2,
    )


def test_every_node_accepts_the_read_only_user(galera: GaleraCluster) -> None:
    rows = check_galera(_settings(galera), None)
    assert len(rows) == len(galera.nodes)
    assert all(r.status is Level.OK and "Synced" in r.detail for r in rows), rows


def test_a_wrong_password_fails_naming_each_node(galera: GaleraCluster) -> None:
    settings = _settings(galera, password="wrong-password")
    rows = check_galera(settings, None)
    assert [r.status for r in rows] == [Level.FAIL] * len(galera.nodes)
    for row, index in zip(rows, range(1, len(galera.nodes) + 1), strict=True):
        assert str(galera.dsn(index).port) in row.check
        assert "password" in row.fix
        assert "wrong-password" not in row.detail + row.fix
