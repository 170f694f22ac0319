"""The backup listing of the galera-migration-failure ladder, on small snapshots of real object shapes.

What a restore is built on must be right: a failed mariadb-operator Backup is also Complete=True
(reason JobFailed), a scheduled Backup's runs are its CronJob's Jobs, and a team's own backup
CronJob (settings.galera_backup_cronjob) is read the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.diagnostics.context import ProbeContext
from kfops.diagnostics.galera.backups import CRONJOB, Backups, read_backups
from kfops.settings import Settings, SettingsError

NOW = datetime(2026, 11, 22, 13, 52, 47, tzinfo=UTC)


def _snapshot(tmp_path: Path, objects: list[dict[str, Any]]) -> SnapshotKubeReader:
    (tmp_path / "kfops-snapshot.yaml").write_text(f"capturedAt: '{NOW:%Y-%m-%dT%H:%M:%SZ}'\n")
    (tmp_path / "objects.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    return SnapshotKubeReader.open(tmp_path)


def _read(tmp_path: Path, objects: list[dict[str, Any]], settings: Settings | None = None) -> Backups:
    reader = _snapshot(tmp_path, objects)
    ctx = ProbeContext(reader, "galera", NOW, settings or Settings())
    backups: Backups = read_backups(ctx).value
    return backups


def _backup(name: str, reason: str, when: str, schedule: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"mariaDbRef": {"name": "mariadb"}, "storage": {"s3": {"bucket": "b"}}}
    if schedule:
        spec["schedule"] = {"cron": schedule}
    condition = {"type": "Complete", "status": "True", "reason": reason, "lastTransitionTime": when}
    return {
        "apiVersion": "k8s.mariadb.com/v1alpha1",
        "kind": "Backup",
        "metadata": {"name": name, "namespace": "kubeflow"},
        "spec": spec,
        "status": {"conditions": [condition]},
    }


def _run(cronjob: str, name: str, start: str, done: str | None) -> dict[str, Any]:
    """A Job a CronJob made: Complete with its completionTime, or Failed."""
    if done:
        conditions = [{"type": "Complete", "status": "True"}]
        status: dict[str, Any] = {"startTime": start, "completionTime": done, "conditions": conditions}
    else:
        status = {"startTime": start, "conditions": [{"type": "Failed", "status": "True"}]}
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob, "uid": "u", "controller": True}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "kubeflow", "ownerReferences": [owner]},
        "status": status,
    }


def test_a_failed_one_shot_backup_is_complete_true_but_not_a_backup(tmp_path: Path) -> None:
    backups = _read(tmp_path, [_backup("pre-upgrade", "JobFailed", "2026-11-22T13:17:32Z")])
    [failed] = backups.items
    assert failed.failed and failed.completed is None
    assert backups.last_good() is None
    assert failed.describe(NOW) == "Backup kubeflow/pre-upgrade of mariadb failed"


def test_a_scheduled_backup_is_as_good_as_its_runs_not_its_condition(tmp_path: Path) -> None:
    """CronJobSuccess's transition time is when the schedule first succeeded, weeks ago: the runs
    (Jobs of the CronJob named after the Backup) say when each backup was whole."""
    objects = [
        _backup("nightly", "CronJobSuccess", "2026-10-23T02:04:10Z", schedule="0 2 * * *"),
        _run("nightly", "nightly-1", "2026-11-21T02:00:00Z", "2026-11-21T02:04:10Z"),
        _run("nightly", "nightly-2", "2026-11-22T02:00:00Z", "2026-11-22T02:04:10Z"),
        _run("someone-else", "other-1", "2026-11-22T03:00:00Z", "2026-11-22T03:01:00Z"),
    ]
    backups = _read(tmp_path, objects)
    assert [b.run for b in backups.items] == ["nightly-2", "nightly-1"]
    before = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    good = backups.last_good(before)
    assert good is not None and good.run == "nightly-1"
    assert good.run_started == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def test_a_scheduled_backup_without_a_kept_run_is_no_backup(tmp_path: Path) -> None:
    backups = _read(
        tmp_path, [_backup("nightly", "CronJobSuccess", "2026-10-23T02:04:10Z", schedule="0 2 * * *")]
    )
    [listed] = backups.items
    assert backups.last_good() is None
    assert (
        listed.describe(NOW)
        == "Backup kubeflow/nightly of mariadb (schedule '0 2 * * *'): no run of it is kept"
    )


def _cronjob(last_success: str | None) -> dict[str, Any]:
    container = {"name": "dump", "image": "docker.io/library/mariadb:11.4.4"}
    template = {"spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}}}
    status = {"lastSuccessfulTime": last_success} if last_success else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "mariadb-dump", "namespace": "kubeflow"},
        "spec": {"schedule": "30 1 * * *", "jobTemplate": template},
        "status": status,
    }


OWN = Settings(galera_backup_cronjob="kubeflow/mariadb-dump")


def test_a_backup_cronjob_of_ones_own_lists_its_runs(tmp_path: Path) -> None:
    objects = [
        _cronjob("2026-11-22T01:36:12Z"),
        _run("mariadb-dump", "mariadb-dump-1", "2026-11-21T01:30:00Z", None),
        _run("mariadb-dump", "mariadb-dump-2", "2026-11-22T01:30:00Z", "2026-11-22T01:36:12Z"),
    ]
    backups = _read(tmp_path, objects, OWN)
    assert backups.cronjob == "kubeflow/mariadb-dump" and backups.cronjob_found
    good = backups.last_good()
    assert good is not None and (good.source, good.run) == (CRONJOB, "mariadb-dump-2")
    assert good.image == "docker.io/library/mariadb:11.4.4"
    assert [b.run for b in backups.failed()] == ["mariadb-dump-1"]


def test_the_last_success_of_a_cronjob_counts_when_its_job_is_no_longer_kept(tmp_path: Path) -> None:
    backups = _read(tmp_path, [_cronjob("2026-11-22T01:36:12Z")], OWN)
    good = backups.last_good()
    assert good is not None and good.run == ""
    assert good.completed == datetime(2026, 11, 22, 1, 36, 12, tzinfo=UTC)
    assert "last successful run (its Job no longer kept)" in good.describe(NOW)


def test_a_missing_backup_cronjob_is_said_not_a_crash(tmp_path: Path) -> None:
    backups = _read(tmp_path, [], OWN)
    assert backups.cronjob and not backups.cronjob_found
    assert backups.items == ()


@pytest.mark.parametrize("value", ["mariadb-dump", "kubeflow/", "/mariadb-dump", "Kubeflow/x", "a/b/c"])
def test_namespaced_settings_must_be_namespace_slash_name(value: str) -> None:
    with pytest.raises(SettingsError, match="must be NAMESPACE/NAME"):
        Settings.load(environ={"KFOPS_GALERA_BACKUP_CRONJOB": value})
    assert Settings.load(
        environ={"KFOPS_GALERA_BACKUP_CRONJOB": "kubeflow/mariadb-dump"}
    ).galera_backup_cronjob


def _retained(spec_retention: str | None) -> dict[str, Any]:
    backup = _backup("nightly", "CronJobSuccess", "2026-10-01T02:04:10Z", schedule="0 2 * * *")
    if spec_retention is not None:
        backup["spec"]["maxRetention"] = spec_retention
    return backup


def test_a_run_past_the_backups_max_retention_is_no_backup(tmp_path: Path) -> None:
    """Each run deletes the files older than maxRetention: a run from before the migration that is
    older than that has no file left, and a Restore pinned to it would get the closest remaining
    file — here the run taken after the migration broke the schema."""
    objects = [
        _retained("24h0m0s"),
        _run("nightly", "nightly-old", "2026-11-19T02:00:00Z", "2026-11-19T02:04:10Z"),
        _run("nightly", "nightly-after", "2026-11-22T13:30:00Z", "2026-11-22T13:33:41Z"),
    ]
    backups = _read(tmp_path, objects)
    migration = datetime(2026, 11, 22, 13, 20, 47, tzinfo=UTC)
    assert backups.last_good(migration) is None
    [expired] = backups.expired(migration)
    assert expired.run == "nightly-old"
    assert expired.describe(NOW).endswith("completed 3d11h ago (past maxRetention 24h: its file is deleted)")
    after = backups.last_good()
    assert after is not None and after.run == "nightly-after"


@pytest.mark.parametrize(("days", "kept"), [(29, True), (31, False)])
def test_max_retention_defaults_to_the_operators_30_days(tmp_path: Path, days: int, kept: bool) -> None:
    start = NOW - timedelta(days=days)
    done = start + timedelta(minutes=4)
    run = _run("nightly", "nightly-1", f"{start:%Y-%m-%dT%H:%M:%SZ}", f"{done:%Y-%m-%dT%H:%M:%SZ}")
    backups = _read(tmp_path, [_retained(None), run])
    assert (backups.last_good() is not None) is kept
