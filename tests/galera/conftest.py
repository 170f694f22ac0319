"""Fixtures: one real 3-node MariaDB Galera cluster per test session (see cluster.py).

Why session scope: a cold start (three datadirs, a bootstrap, two SST joins) takes ~12 s, and
the cluster survives every disruption the tests make. Tests that break it (stop, kill, quorum
loss) ask for ``restoring_galera``, which checks the cluster is whole before the test and
restores it to every node Synced afterwards, so test order never matters. A cluster that cannot
start FAILS the run, with or without CI=true: a skipped Galera suite would pass while testing
nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.galera.cluster import INSTALL_SCRIPT, GaleraBinaries, GaleraCluster, install_binaries, make_workdir

GALERA_DIR = Path(__file__).resolve().parent
_BINARIES = pytest.StashKey[GaleraBinaries | RuntimeError]()
_INSTALL_S = pytest.StashKey[float]()
_CLUSTER = pytest.StashKey[GaleraCluster]()


def _is_galera(item: pytest.Item) -> bool:
    return GALERA_DIR in item.path.parents


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install (or find) the server before any test runs, and only if a Galera test will.

    A cold install (apt-get) takes ~15 s or more on a slow mirror; inside the fixture it would
    be charged to the first test's timeout. A failure is kept and reported by the fixture.
    """
    if not any(_is_galera(item) for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"galera tests: locating mariadbd and the Galera provider ({INSTALL_SCRIPT.name})"
        )
    try:
        binaries, took = install_binaries()
    except RuntimeError as error:
        session.config.stash[_BINARIES] = error
        return
    session.config.stash[_BINARIES] = binaries
    session.config.stash[_INSTALL_S] = took


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach every node's error-log tail (and restore decisions) to failing Galera tests."""
    report = yield
    cluster = item.config.stash.get(_CLUSTER, None)
    if report.failed and cluster is not None and _is_galera(item):
        for node in cluster.nodes:
            report.sections.append((f"galera {node.name} error log", cluster.logs(node.index)))
            report.sections.append((f"galera {node.name} starts", cluster.logs_console(node.index)))
        if cluster.events:
            report.sections.append(("galera restore decisions", "\n".join(cluster.events)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print what the Galera harness measured (install check, cold start, rejoins, restores)."""
    install_s = config.stash.get(_INSTALL_S, None)
    cluster = config.stash.get(_CLUSTER, None)
    if install_s is None and cluster is None:
        return
    terminalreporter.write_sep("-", "galera timings")
    if install_s is not None:
        terminalreporter.write_line(f"{INSTALL_SCRIPT.name}: {install_s:.2f} s")
    for what, seconds in cluster.timings if cluster is not None else []:
        terminalreporter.write_line(f"{what}: {seconds:.2f} s")


@pytest.fixture(scope="session")
def galera(request: pytest.FixtureRequest) -> Iterator[GaleraCluster]:
    """A running 3-node cluster on loopback: every node Synced, size 3, test users created.

    Its workdir (on /dev/shm when there is room) is removed afterwards unless
    ``KFOPS_TEST_KEEP_GALERA=1``, for reading the logs after a failure.
    """
    binaries = request.config.stash.get(_BINARIES, None)
    if isinstance(binaries, RuntimeError):
        pytest.fail(f"Galera test servers not available: {binaries}", pytrace=False)
    workdir = make_workdir()
    try:
        cluster = GaleraCluster.start(workdir, nodes=3, binaries=binaries)
    except RuntimeError as error:
        _remove(workdir)
        pytest.fail(f"Galera test cluster did not start: {error}", pytrace=False)
    request.config.stash[_CLUSTER] = cluster
    try:
        yield cluster
    finally:
        cluster.stop()
        _remove(workdir)


@pytest.fixture
def restoring_galera(galera: GaleraCluster) -> Iterator[GaleraCluster]:
    """The cluster, for a test that breaks it: whole before the test, restored after it."""
    if not galera.healthy():
        galera.restore()
    yield galera
    if not galera.healthy():
        galera.restore()


def _remove(workdir: Path) -> None:
    if os.environ.get("KFOPS_TEST_KEEP_GALERA") != "1":
        shutil.rmtree(workdir, ignore_errors=True)
