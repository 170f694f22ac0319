"""KfpReader over the KFP API answers a snapshot recorded (`kfp/`, docs/snapshots.md).

Layout::

    kfp/api.yaml              {url: http://ml-pipeline.kubeflow.svc:8888,
                               fault?: {error: unreachable|timeout|unauthorized|server-error|…,
                                        message: "…"}}   → every call fails that way
    kfp/runs/<run_id>.json    the JSON answer of GET /apis/v2beta1/runs/<run_id> (a V2beta1Run),
                              or {fault: {error, message}} for a read of that run that failed

A run id without a file answers 404 NotFound, as the API server would. Every file is read and
checked when the snapshot is opened, so a malformed one is a SnapshotError naming it, never a
failure in the middle of a diagnosis.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from kfops.clients.errors import NotFound, ReaderError, SnapshotError
from kfops.clients.galera.faults import FAULTS
from kfops.clients.protocols import Fetched
from kfops.clients.snapshot.store import SnapshotStore, _Loader

API = "/apis/v2beta1"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _check_run_id(run_id: str) -> str:
    """The same refusal as the live reader's (kfops.clients.live.kfp.check_run_id)."""
    if not isinstance(run_id, str) or not _UUID.match(run_id):
        raise ValueError(
            f"{run_id!r} is not a KFP run id: expected a UUID like 0b5e2a1c-7f3d-4c1e-9a2b-3c4d5e6f7a8b"
        )
    return run_id


class SnapshotKfpReader:
    def __init__(
        self,
        store: SnapshotStore,
        url: str,
        runs: dict[str, tuple[dict[str, Any], int]],
        fault: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.url = url.rstrip("/")
        self._runs = runs  # run id → (answer or {fault: …}, size of its file)
        self._fault = fault

    @classmethod
    def open(cls, store: SnapshotStore) -> SnapshotKfpReader | None:
        """The snapshot's KFP answers, or None when it has no ``kfp/`` (the API was not configured)."""
        folder = store.root / "kfp"
        if not folder.is_dir():
            return None
        api: dict[str, Any] = {}
        api_file = folder / "api.yaml"
        if api_file.exists():
            api = _load_yaml(api_file)
        url = api.get("url") or ""
        if not isinstance(url, str):
            raise SnapshotError(f"{api_file}: url must be a string, got {type(url).__name__}")
        fault = _fault(api.get("fault"), api_file) if api.get("fault") is not None else None
        runs: dict[str, tuple[dict[str, Any], int]] = {}
        for path in sorted((folder / "runs").glob("*.json")):
            runs[path.stem] = _load_run(path)
        return cls(store, url, runs, fault)

    def describe(self) -> str:
        where = f" of {self.url}" if self.url else ""
        return f"KFP API answers{where} recorded in {self.store.root / 'kfp'}"

    def get_run(self, run_id: str) -> Fetched:
        query = f"GET {self.url}{API}/runs/{_check_run_id(run_id)}"
        if self._fault is not None:
            raise _raise(self._fault, query)
        recorded = self._runs.get(run_id)
        if recorded is None:
            message = (
                f"Failed to get a run: Failed to fetch run {run_id}: "
                f"ResourceNotFoundError: Run {run_id} not found"
            )
            error = NotFound(query, message, resource="kfp")
            error.status = 404
            raise error
        answer, nbytes = recorded
        if "fault" in answer:
            raise _raise(answer["fault"], query)
        return Fetched(answer, query, self.store.meta.captured_at, nbytes)


def _raise(fault: dict[str, str], query: str) -> ReaderError:
    return FAULTS[fault["error"]](query, fault["message"], resource="kfp")


def _fault(raw: Any, path: Path) -> dict[str, str]:
    if not isinstance(raw, dict) or raw.get("error") not in FAULTS:
        raise SnapshotError(
            f"{path}: a fault needs error: one of {', '.join(FAULTS)} (and a message), got {raw!r}"
        )
    return {"error": str(raw["error"]), "message": str(raw.get("message") or raw["error"])}


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}  # noqa: S506 — a safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"{path}: expected a mapping with the API's url")
    return data


def _load_run(path: Path) -> tuple[dict[str, Any], int]:
    if not _UUID.match(path.stem):
        raise SnapshotError(f"{path}: a run file is named <run_id>.json, and {path.stem!r} is not a UUID")
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"{path}: expected the JSON object of a V2beta1Run, got {type(data).__name__}")
    if "fault" in data:
        return {"fault": _fault(data["fault"], path)}, len(raw)
    recorded_id = data.get("run_id")
    if recorded_id is not None and recorded_id != path.stem:
        raise SnapshotError(f"{path}: holds run {recorded_id!r}, but the file is named for {path.stem}")
    return data, len(raw)
