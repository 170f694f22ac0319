"""Fixtures for live tests against a real kube-apiserver (see controlplane.py).

A control plane that cannot start FAILS the run, with or without CI=true: a
skipped live suite would pass while testing nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.kube import close_api_client, new_api_client

from .controlplane import BUILD_SCRIPT, Binaries, ControlPlane, find_binaries

LIVE_DIR = Path(__file__).resolve().parent
_BINARIES = pytest.StashKey[Binaries | RuntimeError]()


def _is_live(item: pytest.Item) -> bool:
    return LIVE_DIR in item.path.parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/live as ``live`` so ``-m 'not live'`` deselects them."""
    for item in items:
        if _is_live(item):
            item.add_marker(pytest.mark.live)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Find (or build) the binaries before any test runs, and only if a live test will.

    A cold build takes minutes; inside the fixture it would be charged to the first
    live test and killed by the per-test timeout with a misleading message.
    """
    if not any(_is_live(item) for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"live tests: locating control-plane binaries ({BUILD_SCRIPT.name})")
    try:
        session.config.stash[_BINARIES] = find_binaries()
    except RuntimeError as error:
        session.config.stash[_BINARIES] = error


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the control-plane log tails to failing live tests."""
    report = yield
    plane = getattr(item, "funcargs", {}).get("control_plane")
    if report.failed and isinstance(plane, ControlPlane):
        report.sections.append(("control plane logs", plane.logs()))
    return report


def _start(pytest_config: pytest.Config, workdir: Path) -> ControlPlane | str:
    """The started control plane, or the reason it could not start."""
    binaries = pytest_config.stash.get(_BINARIES, None)
    if isinstance(binaries, RuntimeError):
        return f"test control plane binaries not available: {binaries}"
    try:
        return ControlPlane.start(workdir, binaries)
    except RuntimeError as error:
        return f"test control plane did not start: {error}"


@pytest.fixture(scope="session")
def control_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    started = _start(request.config, tmp_path_factory.mktemp("control-plane"))
    if isinstance(started, str):
        pytest.fail(started, pytrace=False)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def api_client_for(
    control_plane: ControlPlane,
) -> Iterator[Callable[[str], client.ApiClient]]:
    """Factory: an independent ApiClient for one kubeconfig context (= test user).

    ``new_client_from_config`` never touches the process-global default
    configuration, so several users can be used side by side.
    """
    made: list[client.ApiClient] = []

    def make(user: str) -> client.ApiClient:
        api = new_api_client(control_plane.kubeconfig, user)
        made.append(api)
        return api

    yield make
    for api in made:
        close_api_client(api)


@pytest.fixture(scope="session")
def admin_api(api_client_for: Callable[[str], client.ApiClient]) -> client.ApiClient:
    return api_client_for("admin")


@pytest.fixture
def core(admin_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(admin_api)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    """A fresh namespace per test: namespaces never finish deleting without controllers."""
    name = f"live-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    return name
