"""Galera benchmark: one `galera-migration-failure` diagnosis against a real 3-node cluster.

Starts the test cluster of tests/galera/cluster.py, creates `--schemas` schemas of `--tables`
tables each (ten columns, a primary key and one secondary index), then measures over several
runs: wall time, SQL requests (they must not grow with the number of tables: one
information_schema query per node and kind, not one per table) and the peak RSS of the process.
A second line diagnoses with one node stopped (connection refused): the dead node must not
cost its connect timeout on every probe.

    python bench/galera.py --schemas 4 --tables 50 --runs 10
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.galera.cluster import (  # noqa: E402
    READER_PASSWORD,
    READER_USER,
    GaleraCluster,
    install_binaries,
    make_workdir,
)

from kfops.clients.live.galera import LiveGaleraReader  # noqa: E402
from kfops.clients.snapshot.kube import SnapshotKubeReader  # noqa: E402
from kfops.model import Diagnosis  # noqa: E402
from kfops.runbooks.engine import Engine  # noqa: E402
from kfops.runbooks.registry import find  # noqa: E402
from kfops.settings import Settings  # noqa: E402

KUBE = ROOT / "tests" / "galera" / "kube" / "base"


def populate(cluster: GaleraCluster, schemas: int, tables: int) -> list[str]:
    names = []
    with cluster.admin(1) as conn, conn.cursor() as cursor:
        for s in range(schemas):
            name = f"bench_{s}"
            cursor.execute(f"CREATE DATABASE {name}")
            for t in range(tables):
                columns = ", ".join(f"c{i} VARCHAR(64)" for i in range(8))
                cursor.execute(
                    f"CREATE TABLE {name}.t{t} "
                    f"(id BIGINT PRIMARY KEY, {columns}, at DATETIME, KEY at_idx (at))"
                )
            cursor.execute(f"CREATE TABLE {name}.schema_migrations (version BIGINT PRIMARY KEY, dirty BOOL)")
            cursor.execute(f"INSERT INTO {name}.schema_migrations VALUES (12, 0)")  # noqa: S608 — own names
            names.append(name)
    cluster.sync()
    return names


def once(cluster: GaleraCluster, schemas: list[str]) -> tuple[float, Diagnosis]:
    reader = LiveGaleraReader(
        [f"127.0.0.1:{n.port}" for n in cluster.nodes], READER_USER, READER_PASSWORD, expected_size=3
    )
    settings = Settings(galera_schemas=",".join(schemas))
    began = time.perf_counter()
    [diagnosis] = Engine(SnapshotKubeReader.open(KUBE), settings, galera=reader).diagnose(
        find("galera-migration-failure")
    )
    took = time.perf_counter() - began
    reader.close()
    return took, diagnosis


def report(label: str, cluster: GaleraCluster, schemas: list[str], runs: int) -> None:
    times, last = [], None
    for _ in range(runs):
        took, last = once(cluster, schemas)
        times.append(took)
    assert last is not None
    stats = last.stats
    times.sort()
    print(
        f"{label}: {last.conclusion.verdict.value} ({last.conclusion.cause}); wall p50 "
        f"{statistics.median(times) * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms over {runs} runs; "
        f"{stats.requests} requests ({stats.memo_hits} memoised, {stats.errors} failed), "
        f"{stats.bytes / 1e6:.2f} MB read"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schemas", type=int, default=4)
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    binaries, _ = install_binaries()
    workdir = make_workdir("kfops-galera-bench-")
    cluster = GaleraCluster.start(workdir, nodes=3, binaries=binaries)
    try:
        schemas = populate(cluster, args.schemas, args.tables)
        tables = args.schemas * (args.tables + 1)
        report(f"3 nodes, {tables} tables", cluster, schemas, args.runs)
        cluster.stop_node(3)
        report(f"node3 stopped, {tables} tables", cluster, schemas, args.runs)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the benchmark process: {rss:.0f} MB")
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
