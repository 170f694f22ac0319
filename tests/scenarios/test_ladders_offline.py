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
from kfops.model import Diagnosis, Proposal
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find
from tests.support.scenarios import Case, cases, scenario_settings

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
    settings = scenario_settings(case.scenario)
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


def _restore(case_id: str) -> list[Proposal]:
    """The galera.restore-backup proposal of each copy of a scenario (tests/ and examples/)."""
    found = [c for c in CASES if c.id == case_id]
    assert found
    restores = []
    for case in found:
        reader = SnapshotKubeReader.open(case.scenario)
        settings = scenario_settings(case.scenario)
        engine = Engine(reader, settings, galera=open_galera(settings, reader))
        [diagnosis] = engine.diagnose(find(case.ladder))
        restores += [p for p in diagnosis.proposals if p.action == "galera.restore-backup"]
    return restores


def test_galera_restore_names_the_backup_from_before_the_migration() -> None:
    """migration-dirty also holds a Backup completed after the failed migration (it holds the damage):
    the restore kfops writes out must name the last one that predates the migration, and pin the
    nightly run by its start: a Restore naming only a scheduled Backup restores its newest file."""
    for restore in _restore("galera-migration-failure/migration-dirty/sweep"):
        assert restore.target == "backup/kubeflow/mariadb-nightly"
        assert any(
            "backupRef:\n    name: mariadb-nightly\n  targetRecoveryTime: 2026-11-22T02:00:00Z" in step
            for step in restore.steps
        )


def test_galera_restore_pins_the_last_scheduled_run_before_the_migration() -> None:
    """Runs at 12:30, 13:00 and 13:30; the migration started at 13:20:47: the 13:00 run is restored."""
    [restore] = _restore("galera-migration-failure/scheduled-run-after-migration/sweep")
    assert restore.params["run"] == "mariadb-halfhourly-29922540"
    manifest = next(step for step in restore.steps if "kind: Restore" in step)
    assert "targetRecoveryTime: 2026-11-22T13:00:00Z" in manifest


def test_galera_restore_from_a_backup_cronjob_of_ones_own_names_the_run() -> None:
    """No mariadb-operator: kfops cannot know the tool's restore command, so it names the run and
    never writes a Restore manifest."""
    [restore] = _restore("galera-migration-failure/own-backup-cronjob/sweep")
    assert restore.target == "cronjob/kubeflow/mariadb-dump"
    assert not any("kind: Restore" in step for step in restore.steps)
    assert any("Job kubeflow/mariadb-dump-29921850" in step for step in restore.steps)


def test_galera_without_a_good_backup_says_so() -> None:
    """The only backup before the migration failed (Complete=True, reason JobFailed)."""
    [restore] = _restore("galera-migration-failure/backup-failed/sweep")
    assert restore.title.startswith("No good backup found")
