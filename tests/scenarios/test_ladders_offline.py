"""Every scenario snapshot, diagnosed offline, must reach its exact expected verdict.

Table-driven: the table is the scenario folders' kfops-expected.yaml files (examples/snapshots
and tests/scenarios). Each case asserts the verdict, the cause, the statuses of the rungs that
matter and the exact set of proposed actions.
"""

from __future__ import annotations

import pytest

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.sources import open_galera, open_kfp, open_prometheus
from kfops.diagnostics.context import TargetNotFound
from kfops.model import Diagnosis
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from kfops.settings import Settings
from tests.support.scenarios import Case, cases

CASES = cases()


def assert_matches(diagnoses: list[Diagnosis], case: Case) -> None:
    exit_code = max(diagnoses, key=lambda d: d.conclusion.verdict.rank).conclusion.verdict.exit_code
    got = [(d.target, d.conclusion.verdict.value, d.conclusion.cause) for d in diagnoses]
    want = [(e["target"], e["status"], e.get("cause")) for e in case.diagnoses]
    assert got == want, "\n".join(d.conclusion.summary for d in diagnoses)
    assert exit_code == case.exit
    for diagnosis, expected in zip(diagnoses, case.diagnoses, strict=True):
        statuses = {f.rung: f.status.value for f in diagnosis.findings}
        for rung, status in (expected.get("rungs") or {}).items():
            finding = next(f for f in diagnosis.findings if f.rung == rung)
            assert statuses[rung] == status, f"{rung}: {finding.summary}"
        assert sorted(p.action for p in diagnosis.proposals) == sorted(expected.get("proposals") or [])


@pytest.mark.parametrize(
    ("ladder", "least"),
    [
        ("gpu-node-down", 8),
        ("galera-migration-failure", 10),
        ("stuck-pipeline", 10),
        ("kserve-flapping", 10),
        ("profile-controller-crashloop", 8),
    ],
)
def test_there_are_enough_scenarios(ladder: str, least: int) -> None:
    mine = [c for c in CASES if c.ladder == ladder]
    assert len({c.scenario for c in mine}) >= least
    healthy = [c for c in mine if c.exit == 0 and all(d["status"] == "healthy" for d in c.diagnoses)]
    assert healthy, "every ladder needs a healthy baseline that raises no alarm"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_offline_diagnosis(case: Case) -> None:
    ladder = find(case.ladder)
    reader = SnapshotKubeReader.open(case.scenario)
    settings = Settings()
    # the snapshot's recorded Prometheus, Galera and KFP API answers, as the CLI opens them
    prom = open_prometheus(settings, reader)
    galera = open_galera(settings, reader)
    kfp = open_kfp(settings, reader)
    target = case.target(ladder.target_input)
    engine = Engine(reader, settings, prom, galera=galera, kfp=kfp)
    if case.exit == 2:  # a named target that does not exist: a usage error, never a verdict
        with pytest.raises(TargetNotFound, match="not found") as refused:
            engine.diagnose(ladder, target)
        assert target and target.split("/")[-1] in str(refused.value), "the refusal names what was asked for"
        return
    diagnoses = engine.diagnose(ladder, target)
    assert_matches(diagnoses, case)
    for diagnosis in diagnoses:
        if diagnosis.conclusion.verdict.value == "healthy":
            assert not diagnosis.errors and not diagnosis.proposals


def test_galera_restore_names_the_backup_from_before_the_migration() -> None:
    """migration-dirty also holds a Backup completed after the failed migration (it holds the damage):
    the restore kfops writes out must name the last one that predates the migration."""
    dirty = [c for c in CASES if c.id == "galera-migration-failure/migration-dirty/sweep"]
    assert dirty
    for case in dirty:  # the test scenario and its copy in examples/
        reader = SnapshotKubeReader.open(case.scenario)
        settings = Settings()
        engine = Engine(reader, settings, galera=open_galera(settings, reader))
        [diagnosis] = engine.diagnose(find(case.ladder))
        [restore] = [p for p in diagnosis.proposals if p.action == "galera.restore-backup"]
        assert restore.target == "backup/kubeflow/mariadb-nightly"
        assert any("backupRef:\n    name: mariadb-nightly" in step for step in restore.steps)
