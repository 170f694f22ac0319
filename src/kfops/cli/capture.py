"""`kfops capture`: write what the ladders read from a live cluster as a snapshot directory.

The snapshot replays offline to the same diagnosis (tests/live/test_capture.py). Secrets are
scrubbed on the way out: Secret objects are never kept, environment values whose names look
secret are masked, and every string goes through the renderers' redaction.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from kfops import __version__
from kfops.clients.protocols import GaleraReader, KfpReader, KubeReader, PromReader
from kfops.clients.snapshot.recorder import (
    Recording,
    RecordingGaleraReader,
    RecordingKfpReader,
    RecordingKubeReader,
    RecordingPromReader,
)
from kfops.model import Diagnosis, Ladder
from kfops.render.redact import MASK, redact, redact_text
from kfops.runbooks.engine import Engine
from kfops.settings import Settings

_SECRET_NAME = re.compile(r"(?i)(pass|secret|token|key|credential|auth)")


class CaptureError(Exception):
    """The output cannot be written (exists and is not empty, or not writable)."""


@dataclass(frozen=True)
class Captured:
    path: Path
    diagnoses: list[Diagnosis]
    objects: int
    logs: int
    queries: int
    faults: int
    kfp_runs: int = 0  # KFP run answers (and failed run reads) recorded in kfp/runs/


def capture(
    output: Path,
    kube: KubeReader,
    prom: PromReader | None,
    settings: Settings,
    ladders: list[Ladder],
    target: str | None = None,
    galera: GaleraReader | None = None,
    kfp: KfpReader | None = None,
    inferenceservice: str | None = None,
) -> Captured:
    """Run the ladders against the live readers and write what they read into `output`.

    `target`: the node the node ladders examine; `inferenceservice`: the "NAMESPACE/NAME"
    kserve-flapping examines; every other ladder (and these without one) sweeps.

    `kfp`: the KFP API reader (``open_kfp``); when given, its answers go to ``kfp/`` — the API's
    URL (never its credentials) and each run read, or the failure the API answered.
    """
    if output.exists() and any(output.iterdir()):
        raise CaptureError(f"{output} exists and is not empty: capture into a new directory")
    recording = Recording()
    recorded_kube = RecordingKubeReader(kube, recording)
    recorded_prom = RecordingPromReader(prom, recording) if prom is not None else None
    recorded_galera = RecordingGaleraReader(galera, recording) if galera is not None else None
    recorded_kfp = RecordingKfpReader(kfp, recording) if kfp is not None else None
    captured_at = kube.now()
    diagnoses: list[Diagnosis] = []
    for ladder in ladders:
        wanted = {"node": target, "inferenceservice": inferenceservice}.get(ladder.target_input)
        diagnoses += Engine(
            recorded_kube, settings, recorded_prom, galera=recorded_galera, kfp=recorded_kfp
        ).diagnose(ladder, wanted)
    write(output, recording, captured_at, kube.describe(), with_prometheus=prom is not None)
    if galera is not None:
        write_galera(output, recording, galera.expected_size())
    if kfp is not None:
        write_kfp(output, recording, str(getattr(kfp, "url", "") or ""))
    return Captured(
        output,
        diagnoses,
        len(recording.objects),
        len(recording.logs),
        len(recording.prometheus),
        len(recording.faults),
        len(recording.kfp_runs),
    )


def _scrub(obj: Any) -> Any:
    """Mask environment values whose variable names look secret, then redact by key and shape."""
    if isinstance(obj, dict):
        if "name" in obj and "value" in obj and _SECRET_NAME.search(str(obj["name"])):
            obj = {**obj, "value": MASK}
        return {k: _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def _dump(path: Path, data: Any, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def write(
    output: Path, recording: Recording, captured_at: datetime, cluster: str, *, with_prometheus: bool
) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (_, kind, _, _), obj in sorted(recording.objects.items()):
            by_kind[kind].append(redact(_scrub(obj)))
        for kind, items in by_kind.items():
            _dump(output / f"{kind.lower()}s.yaml", {"apiVersion": "v1", "kind": "List", "items": items})
        for (namespace, pod, container, previous), text in recording.logs.items():
            name = f"{container}.previous.log" if previous else f"{container}.log"
            path = output / "logs" / namespace / pod / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(redact_text(text), encoding="utf-8")
        if with_prometheus:
            entries = [
                {"query": query, "type": kind, "result": redact(result)}
                for (kind, query), result in sorted(recording.prometheus.items())
            ]
            _dump(
                output / "prometheus" / "queries.yaml",
                entries,
                "# Recorded by kfops capture (docs/snapshots.md)\n",
            )
        _dump(
            output / "kfops-snapshot.yaml",
            {
                "capturedAt": captured_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "cluster": cluster,
                "kfopsVersion": __version__,
                "description": f"captured by kfops capture from {cluster}",
                "faults": list(recording.faults.values()),
            },
        )
    except OSError as exc:
        raise CaptureError(f"cannot write the snapshot to {output}: {exc}") from exc


def write_galera(output: Path, recording: Recording, expected: int) -> None:
    """The Galera answers as galera/cluster.yaml plus one file per node (docs/snapshots.md)."""
    header = "# Recorded by kfops capture (docs/snapshots.md)\n"
    try:
        _dump(
            output / "galera" / "cluster.yaml",
            {"expectedSize": expected, "nodes": list(recording.galera)},
            header,
        )
        for index, node in enumerate(recording.galera.values(), start=1):
            _dump(output / "galera" / f"node{index}.yaml", redact(node), header)
    except OSError as exc:
        raise CaptureError(f"cannot write the Galera answers to {output}: {exc}") from exc


def write_kfp(output: Path, recording: Recording, url: str) -> None:
    """The KFP answers as kfp/api.yaml (the URL; the API's fault when no call succeeded) and one
    kfp/runs/<run_id>.json per run read (docs/snapshots.md). Credentials are never written."""
    api: dict[str, Any] = {"url": url}
    faults = [answer["fault"] for answer in recording.kfp_runs.values() if "fault" in answer]
    if faults and len(faults) == len(recording.kfp_runs):  # no call succeeded: the API's own fault
        api["fault"] = redact(faults[-1])
    try:
        _dump(output / "kfp" / "api.yaml", api, "# Recorded by kfops capture (docs/snapshots.md)\n")
        runs = output / "kfp" / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        for run_id, answer in sorted(recording.kfp_runs.items()):
            if "fault" in answer and "fault" in api:
                continue  # the API's fault already fails every read
            text = json.dumps(redact(_scrub(answer)), indent=2, ensure_ascii=False)
            (runs / f"{run_id}.json").write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise CaptureError(f"cannot write the KFP answers to {output}: {exc}") from exc
