"""Every scenario snapshot, diagnosed live and offline, reaches the same conclusion.

Table-driven like tests/scenarios/test_ladders_offline.py (same cases, same expectations), but
each scenario is first written into the real kube-apiserver by loader.py and diagnosed by the
live reader as user ``kfops-reader``, through RBAC, field and label selectors and the pods/log
proxy. Faults are reproduced for real: a ``forbidden`` read by a ClusterRole lacking that verb, a
``timeout`` (or ``unreachable``) read by parity_proxy.py in front of the API server. Without
faults the reader holds exactly the shipped ClusterRole of deploy/rbac, proving it is enough.

A scenario with a ``kfp/`` folder (a recorded KFP API) is diagnosed live against the loopback KFP
API stand-in (tests/support/kfp_standin.py) serving the recorded runs, its timestamps shifted like
the cluster's; the recorded API fault is reproduced for real: ``unreachable`` is a closed port,
``timeout`` a server that never answers, ``unauthorized`` a 401, ``server-error`` a 503.

Live and offline must agree on every diagnosis: target, verdict, cause, every rung's status and
branch, the proposal actions, and for every finding the exact requests behind its evidence and
which of them failed how. KFP requests are compared with the stand-in's URL replaced by the
recorded one, the only difference between the two runs.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, TypedDict

import pytest
import yaml
from kubernetes import client

from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.resources import WORKFLOWS
from kfops.clients.snapshot.kfp import SnapshotKfpReader
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.snapshot.store import Fault
from kfops.clients.sources import open_galera, open_kfp, open_prometheus
from kfops.clients.timeouts import Timeouts
from kfops.diagnostics.context import TargetNotFound
from kfops.diagnostics.pipelines.workflows import decode_compressed_nodes
from kfops.model import Diagnosis, Evidence, Finding, Source
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings
from tests.scenarios.test_ladders_offline import assert_matches
from tests.support.kfp_standin import UNFINISHED, KfpStandIn, Mode
from tests.support.scenarios import Case, cases, scenario_settings

from .controlplane import ControlPlane, FakeKubelet
from .crds import install_crds
from .loader import (
    READER_USER,
    Loaded,
    fault_permission,
    grant_reader,
    load_scenario,
    purge,
    revoke_reader,
    shift_time,
    shift_times,
)
from .parity_proxy import ParityProxy, Read, classify

CASES = cases()

#: Faults only the proxy can reproduce; ``forbidden`` is RBAC's job.
PROXY_ERRORS: Final = ("timeout", "unreachable")
PROXY_TIMEOUTS: Final = Timeouts(connect_s=1, read_s=1, attempts=1, backoff_max_s=0.1)


class _ProxySettings(TypedDict):
    probe_timeout_s: float
    deadline_s: float


#: what a scenario whose reads are held by the proxy changes in its settings
PROXY_SETTINGS: Final[_ProxySettings] = {"probe_timeout_s": 4.0, "deadline_s": 20.0}
#: How long the proxy holds a timed-out read: past the reader's read timeout, never for ever.
PROXY_HOLD_S: Final = PROXY_TIMEOUTS.read_s + 2
#: How the stand-in reproduces a recorded KFP API fault (``unreachable``: a closed port instead).
KFP_FAULT_MODES: Final[dict[str, Mode]] = {"timeout": "hang", "unauthorized": "401", "server-error": "5xx"}
#: The KFP API's timeout when the recorded fault is a timeout: the stand-in holds the call for ever.
KFP_TIMEOUT_S: Final = 1.0
#: How a failed read's headline starts, by error class (kfops.clients.errors); every one of them
#: then names the request as "(<query>): ".
FAILURE_HEADLINES: Final = (
    ("RBAC forbids '", "forbidden"),
    ("no answer in time (", "timeout"),
    ("cannot reach the source (", "unreachable"),
    ("credentials refused (", "unauthorized"),
    ("cannot reach the KFP API (", "unreachable"),
    ("the KFP API refused the credentials (", "unauthorized"),
    ("the KFP API forbids '", "kfp-forbidden"),  # the KFP API's own authorization, not RBAC
)


def needs_proxy(faults: Sequence[Fault]) -> bool:
    return any(f.error in PROXY_ERRORS or f.delay_s > 0 for f in faults)


def short_timeouts(faults: Sequence[Fault]) -> bool:
    """A lost or timed-out read: short reader timeouts, one attempt, so the case stays fast.

    Not for a mere ``delaySeconds``: the snapshot reader waits it out without any read timeout,
    so the live reader must too.
    """
    return any(f.error in PROXY_ERRORS for f in faults)


def shift_run(value: Any, delta: timedelta) -> Any:
    """A recorded KFP answer with its timestamps moved like the cluster's; the API's "not finished"
    epoch (1970-01-01T00:00:00Z) stays as it is."""
    if isinstance(value, dict):
        return {key: shift_run(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_run(item, delta) for item in value]
    if isinstance(value, str) and value != UNFINISHED:
        return shift_time(value, delta)
    return value


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class LiveKfp:
    """The KFP API of a live scenario: where it answers, and the URL the snapshot recorded."""

    url: str
    recorded_url: str
    standin: KfpStandIn | None  # None: the recorded fault is "unreachable" (a closed port)

    def rewrite(self, query: str) -> str:
        """A live KFP request as the snapshot names it (the recorded URL for the stand-in's)."""
        return query.replace(self.url, self.recorded_url, 1)


def start_kfp(folder: Path, delta: timedelta) -> LiveKfp | None:
    """The stand-in serving a snapshot's recorded KFP runs and fault; None without ``kfp/``."""
    recorded = SnapshotKfpReader.open(SnapshotKubeReader.open(folder).store)
    if recorded is None:
        return None
    runs = {}
    for path in sorted((folder / "kfp" / "runs").glob("*.json")):
        run = json.loads(path.read_text(encoding="utf-8"))
        if "fault" in run:
            raise AssertionError(f"{path}: a fault recorded for one run cannot be replayed by the stand-in")
        runs[path.stem] = shift_run(run, delta)
    api = yaml.safe_load((folder / "kfp" / "api.yaml").read_text(encoding="utf-8")) or {}
    error = str((api.get("fault") or {}).get("error", ""))
    if error == "unreachable":
        return LiveKfp(closed_port_url(), recorded.url, None)
    if error and error not in KFP_FAULT_MODES:
        raise AssertionError(f"{folder}: the KFP stand-in cannot reproduce a recorded {error!r} fault")
    standin = KfpStandIn(runs, mode=KFP_FAULT_MODES.get(error, "ok")).start()
    return LiveKfp(standin.url, recorded.url, standin)


@dataclass
class LiveScenario:
    """One scenario loaded into the cluster, and the reader that sees it as the snapshot says."""

    folder: Path
    loaded: Loaded
    settings: Settings
    reader: LiveKubeReader
    kubelet: FakeKubelet
    proxy: ParityProxy | None
    kfp: LiveKfp | None = None

    def traffic(self) -> str:
        """What the scenario's kubelet and proxy served, for failure messages."""
        lines = [f"fake kubelet:\n{self.kubelet.summary()}"]
        if self.proxy is not None:
            lines.append("proxy:\n" + "\n".join(self.proxy.log[-20:]))
        if self.kfp is not None and self.kfp.standin is not None:
            calls = self.kfp.standin.calls()
            lines.append("KFP stand-in:\n" + "\n".join(f"{c.method} {c.path}" for c in calls[-20:]))
        return "\n".join(lines)

    def rewrite(self, query: str) -> str:
        return self.kfp.rewrite(query) if self.kfp is not None else query

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.kfp is not None and self.kfp.standin is not None:
            self.kfp.standin.stop()
        self.kubelet.stop()


class Parity:
    """Loads scenarios on demand; the cluster holds one at a time, so the last one is cached."""

    def __init__(self, plane: ControlPlane, admin: client.ApiClient, workdir: Path) -> None:
        self._plane = plane
        self._admin = admin
        self._workdir = workdir
        self._current: LiveScenario | None = None

    def scenario(self, folder: Path) -> LiveScenario:
        if self._current is None or self._current.folder != folder:
            self._release()
            self._current = self._load(folder)
        return self._current

    def _load(self, folder: Path) -> LiveScenario:
        kubelet = FakeKubelet(self._plane.pki)  # fresh: a FakeKubelet cannot forget a log
        proxy: ParityProxy | None = None
        kfp: LiveKfp | None = None
        try:
            loaded = load_scenario(self._admin, kubelet, folder)
            grant_reader(self._admin, loaded.faults)
            proxy = self._proxy(loaded.faults) if needs_proxy(loaded.faults) else None
            kfp = start_kfp(folder, loaded.delta)
        except BaseException:
            if proxy is not None:
                proxy.stop()
            kubelet.stop()
            raise
        kubeconfig = self._kubeconfig(proxy.url) if proxy else self._plane.kubeconfig
        short = short_timeouts(loaded.faults)
        settings = scenario_settings(folder)
        timeouts = PROXY_TIMEOUTS if short else Timeouts()
        if short:
            settings = dataclasses.replace(settings, **PROXY_SETTINGS)
        if kfp is not None:
            hangs = kfp.standin is not None and kfp.standin.mode == "hang"
            timeout = KFP_TIMEOUT_S if hangs else settings.kfp_timeout_s
            settings = dataclasses.replace(settings, kfp_url=kfp.url, kfp_timeout_s=timeout)
        reader = LiveKubeReader.connect(str(kubeconfig), READER_USER, timeouts, loaded.clock)
        return LiveScenario(folder, loaded, settings, reader, kubelet, proxy, kfp)

    def _proxy(self, faults: Sequence[Fault]) -> ParityProxy:
        return ParityProxy(
            upstream=self._plane.server,
            ca=self._plane.pki.ca_cert,
            identity=self._plane.users[READER_USER],
            serving=self._plane.pki.issue("parity-proxy", "parity-proxy", server=True),
            faults=faults,
            hold_s=PROXY_HOLD_S,
        )

    def _kubeconfig(self, server: str) -> Path:
        """The control plane's kubeconfig with the server replaced by the proxy."""
        config: dict[str, Any] = yaml.safe_load(self._plane.kubeconfig.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = server
        path = self._workdir / "kubeconfig-proxy"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def _release(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def close(self) -> None:
        self._release()
        revoke_reader(self._admin)
        purge(self._admin)


@pytest.fixture(scope="module")
def parity(
    control_plane: ControlPlane, admin_api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Parity]:
    # Galera scenarios hold mariadb-operator Backups: without the CRDs, listing them live answers 404
    install_crds(admin_api)
    harness = Parity(control_plane, admin_api, tmp_path_factory.mktemp("parity"))
    try:
        yield harness
    finally:
        harness.close()


# --------------------------------------------------------------------------- comparison


def _failure(evidence: Evidence) -> str:
    """Which way the read behind a piece of evidence failed ("" if it did not)."""
    for prefix, kind in FAILURE_HEADLINES:
        if evidence.summary.startswith(prefix) and f"({evidence.query}): " in evidence.summary:
            return kind
    return "failed" if evidence.summary.startswith(f"{evidence.query} failed: ") else ""


def shape(diagnoses: Sequence[Diagnosis]) -> list[tuple[object, ...]]:
    """What live and offline must agree on, per diagnosis."""
    return [
        (
            d.target,
            d.conclusion.verdict.value,
            d.conclusion.cause,
            tuple((f.rung, f.status.value, f.branch) for f in d.findings),
            tuple(sorted(p.action for p in d.proposals)),
        )
        for d in diagnoses
    ]


def _same(query: str) -> str:
    return query


def evidence_shape(
    diagnoses: Sequence[Diagnosis], kfp_query: Callable[[str], str] = _same
) -> list[tuple[object, ...]]:
    """Per finding, the requests behind its evidence and how each failed, if it did; a KFP request
    as ``kfp_query`` names it (the live stand-in's URL → the recorded one)."""
    return [
        (
            d.target,
            f.rung,
            tuple(
                (kfp_query(e.query) if e.source is Source.KFP else e.query, _failure(e)) for e in f.evidence
            ),
        )
        for d in diagnoses
        for f in d.findings
    ]


def _refused_reads(diagnoses: Sequence[Diagnosis]) -> list[str]:
    """kfops' own reads that RBAC refused. Not every "forbidden" in a diagnosis: a scenario's own
    data may quote one (a wait container's log naming a workflowtaskresults refusal)."""
    refused = [
        f"{f.rung}: {e.summary}"
        for d in diagnoses
        for f in d.findings
        for e in f.evidence
        if _failure(e) == "forbidden"
    ]
    refused += [
        f"{f.rung}: {f.summary}"
        for d in diagnoses
        for f in d.findings
        if f.summary.startswith("RBAC forbids")
    ]
    return refused


def _asked_kfp(diagnoses: Sequence[Diagnosis]) -> bool:
    return any(e.source is Source.KFP for d in diagnoses for f in d.findings for e in f.evidence)


def _explain(live: Sequence[Diagnosis], offline: Sequence[Diagnosis]) -> str:
    lines = []
    for ours, theirs in zip(live, offline, strict=False):
        lines.append(
            f"{ours.target}: live {ours.conclusion.summary!r}\n  offline {theirs.conclusion.summary!r}"
        )
        by_rung: dict[str, Finding] = {f.rung: f for f in theirs.findings}
        for finding in ours.findings:
            other = by_rung.get(finding.rung)
            if other is None or (other.status, other.branch) != (finding.status, finding.branch):
                offline_summary = other.summary if other else "(no such rung)"
                lines.append(f"  {finding.rung}: live {finding.summary!r}\n    offline {offline_summary!r}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- tests


def diagnose_both(
    parity: Parity, folder: Path, ladder_id: str, target: str | None
) -> tuple[LiveScenario, list[Diagnosis]]:
    """Diagnose a scenario live and offline, assert they agree, and return the live diagnoses."""
    live = parity.scenario(folder)
    ladder = find(ladder_id)
    snapshot = SnapshotKubeReader.open(folder)
    # Prometheus and Galera are not what parity tests: both runs read the scenario's recorded answers.
    prom = open_prometheus(live.settings, snapshot)
    galera = open_galera(live.settings, snapshot)
    # KFP: the recorded answers offline, the stand-in serving them (or failing as recorded) live
    offline_kfp = open_kfp(live.settings, snapshot)
    live_kfp = open_kfp(live.settings, live.reader)
    assert (offline_kfp is None) == (live_kfp is None), (
        "the KFP API must be configured in both runs or neither"
    )
    offline = Engine(snapshot, live.settings, prom, galera=galera, kfp=offline_kfp).diagnose(ladder, target)
    diagnoses = Engine(live.reader, live.settings, prom, galera=galera, kfp=live_kfp).diagnose(ladder, target)
    why = f"{_explain(diagnoses, offline)}\n{live.traffic()}"
    assert shape(diagnoses) == shape(offline), why
    assert evidence_shape(diagnoses, live.rewrite) == evidence_shape(offline), why
    return live, diagnoses


def _not_found(parity: Parity, folder: Path, ladder_id: str, target: str | None) -> None:
    """A case whose target does not exist (exit 2): both runs refuse it with the same sentence."""
    live = parity.scenario(folder)
    snapshot = SnapshotKubeReader.open(folder)
    refusals = []
    for kube in (snapshot, live.reader):
        with pytest.raises(TargetNotFound) as refused:
            Engine(kube, live.settings, open_prometheus(live.settings, snapshot)).diagnose(
                find(ladder_id), target
            )
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_live_diagnosis_matches_offline(case: Case, parity: Parity) -> None:
    target = case.target(find(case.ladder).target_input)
    if case.exit == 2 and not case.diagnoses:  # a usage error: the target does not exist
        _not_found(parity, case.scenario, case.ladder, target)
        return
    live, diagnoses = diagnose_both(parity, case.scenario, case.ladder, target)

    assert_matches(diagnoses, case)
    if not live.loaded.faults:
        assert not _refused_reads(diagnoses), "the shipped ClusterRole is not enough"
    if live.proxy is not None:
        held = [line for line in live.proxy.log if line.startswith("fault ")]
        assert held, "the proxy never replayed a fault: the timeout came from somewhere else"
    if live.kfp is not None and live.kfp.standin is not None and _asked_kfp(diagnoses):
        assert live.kfp.standin.calls(), "KFP evidence, but the ladder never asked the KFP stand-in"


#: Fault kinds no scenario folder has yet, replayed on copies of scenarios that do exist:
#: (scenario folder, target, the fault, how the live read must fail).
VARIANTS: Final = (
    (
        "timeout-events",
        "gpu-a100-1",
        {"verb": "list", "resource": "events", "error": "unreachable", "message": "connection reset by peer"},
        "unreachable",
    ),
    (
        "device-plugin-crashloop",
        "gpu-t4-2",
        {"verb": "log", "resource": "pods/log", "error": "forbidden", "message": "pods/log is forbidden"},
        "forbidden",
    ),
)


def _variant(tmp_path: Path, scenario: str, fault: dict[str, str]) -> Path:
    """A copy of a scenario folder whose only fault is ``fault``."""
    source = next(c.scenario for c in CASES if c.scenario.name == scenario)
    folder = tmp_path / scenario
    shutil.copytree(source, folder)
    meta_path = folder / "kfops-snapshot.yaml"
    meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    meta["faults"] = [fault]
    meta_path.write_text(yaml.safe_dump(meta), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("scenario", "target", "fault", "failure"), VARIANTS, ids=[f"{v[0]}-{v[3]}" for v in VARIANTS]
)
def test_other_fault_kinds_replay_live_as_offline(
    scenario: str, target: str, fault: dict[str, str], failure: str, parity: Parity, tmp_path: Path
) -> None:
    """An ``unreachable`` read (the proxy drops the connection) and a refused ``log`` (RBAC
    without ``get pods/log``) come out the same live and offline."""
    folder = _variant(tmp_path, scenario, fault)
    _, diagnoses = diagnose_both(parity, folder, "gpu-node-down", target)
    failures = {_failure(e) for d in diagnoses for f in d.findings for e in f.evidence}
    assert failure in failures, "the fault was not replayed"


def test_compressed_nodes_are_loaded_with_their_times_shifted(parity: Parity) -> None:
    """The times inside status.compressedNodes move with every other timestamp of the load, so
    live the steps are exactly as old as offline (the loader decodes, shifts and re-encodes)."""
    folder = next(c.scenario for c in CASES if c.scenario.name == "compressed-nodes")
    live = parity.scenario(folder)
    [entry] = SnapshotKubeReader.open(folder).store.entries(WORKFLOWS.group, WORKFLOWS.kind)
    recorded = decode_compressed_nodes(entry.obj["status"]["compressedNodes"])
    loaded = live.reader.get(WORKFLOWS, entry.name, entry.namespace).value
    assert decode_compressed_nodes(loaded["status"]["compressedNodes"]) == shift_times(
        recorded, live.loaded.delta
    )
    assert live.loaded.delta, "a load shifts times (else this test proves nothing)"


def test_a_kind_recorded_as_not_served_is_not_served_live(parity: Parity) -> None:
    """own-backup-cronjob was recorded where mariadb-operator is not installed (a ``not-found``
    fault on the list of Backups): live, the loader deletes the Backup CRD, so the same 404 comes
    from the API server and both runs say the CRD is not installed (the verdict alone would not
    tell: the team's own backup CronJob is the listing either way)."""
    folder = next(c.scenario for c in CASES if c.scenario.name == "own-backup-cronjob")
    _, diagnoses = diagnose_both(parity, folder, "galera-migration-failure", None)
    [said] = [e.summary for f in diagnoses[0].findings if f.rung == "galera-backup" for e in f.evidence[:1]]
    assert said.startswith("mariadb-operator's Backup CRD is not installed"), said


#: KFP API faults no scenario folder records, replayed on a copy of one that has a KFP API:
#: (the recorded fault, how the live and the offline read must both fail).
KFP_VARIANTS: Final = (
    ("timeout", "timeout"),
    ("unauthorized", "unauthorized"),
    ("server-error", "failed"),
)


def _kfp_variant(tmp_path: Path, scenario: str, error: str) -> Path:
    """A copy of a scenario folder whose recorded KFP API fails every call with `error`."""
    source = next(c.scenario for c in CASES if c.scenario.name == scenario)
    folder = tmp_path / f"{scenario}-kfp-{error}"
    shutil.copytree(source, folder)
    api_path = folder / "kfp" / "api.yaml"
    api = yaml.safe_load(api_path.read_text(encoding="utf-8"))
    api["fault"] = {"error": error, "message": f"recorded {error}"}
    api_path.write_text(yaml.safe_dump(api), encoding="utf-8")
    return folder


@pytest.mark.parametrize(("error", "failure"), KFP_VARIANTS, ids=[v[0] for v in KFP_VARIANTS])
def test_kfp_api_faults_replay_live_as_offline(
    error: str, failure: str, parity: Parity, tmp_path: Path
) -> None:
    """The stand-in hangs, refuses the credentials (401) or fails (503) as the snapshot recorded; the
    kfp-run rung answers the same live and offline, and the ladder still reaches its cause."""
    folder = _kfp_variant(tmp_path, "gpu-pending", error)
    case = next(c for c in CASES if c.scenario.name == "gpu-pending" and c.name == "workflow")
    target = case.target(find(case.ladder).target_input)
    live, diagnoses = diagnose_both(parity, folder, "stuck-pipeline", target)
    kfp = [e for d in diagnoses for f in d.findings for e in f.evidence if e.source is Source.KFP]
    assert {_failure(e) for e in kfp} == {failure}, "the KFP fault was not replayed"
    assert live.kfp is not None and live.kfp.standin is not None and live.kfp.standin.calls()
    assert [d.conclusion.cause for d in diagnoses] == ["gpu-shortage"]


# --------------------------------------------------------------------------- the harness's own rules


def test_timestamps_move_by_whole_seconds_and_keep_their_format() -> None:
    """MicroTime fields must keep six fraction digits; other text must not be touched."""
    later = timedelta(seconds=90)
    assert shift_time("2026-11-20T03:11:55.718913Z", later) == "2026-11-20T03:13:25.718913Z"
    assert shift_time("2026-11-20T23:59:59Z", timedelta(seconds=1)) == "2026-11-21T00:00:00Z"
    assert shift_time("2026-11-20T03:11:55+02:00", -later) == "2026-11-20T03:10:25+02:00"
    assert shift_time("kubelet is posting ready status", later) == "kubelet is posting ready status"
    assert shift_time("2026-11-20", later) == "2026-11-20"


def test_faults_name_the_rbac_permission_they_refuse() -> None:
    def fault(verb: str, resource: str) -> Fault:
        return Fault(verb=verb, resource=resource, error="forbidden", message="")

    assert fault_permission(fault("list", "nodes")) == ("", "nodes", "list")
    assert fault_permission(fault("get", "leases.coordination.k8s.io")) == (
        "coordination.k8s.io",
        "leases",
        "get",
    )
    assert fault_permission(fault("log", "pods/log")) == ("", "pods/log", "get")


def test_the_proxy_reads_paths_as_the_snapshot_reader_names_them() -> None:
    assert classify("/api/v1/events?fieldSelector=involvedObject.kind=Node") == Read("list", "events", None)
    assert classify("/api/v1/namespaces/default/events") == Read("list", "events", "default")
    assert classify("/api/v1/nodes/gpu-a100-1") == Read("get", "nodes", None)
    assert classify("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/gpu-a100-1") == Read(
        "get", "leases.coordination.k8s.io", "kube-node-lease"
    )
    assert classify("/api/v1/namespaces/gpu-operator/pods/p/log?container=c") == Read(
        "log", "pods/log", "gpu-operator"
    )
    assert classify("/api/v1/namespaces/default") == Read("get", "namespaces", None)
    assert classify("/version") is None
