"""Proposals remembered between `kfops diagnose` and `kfops remediate` (a local state file)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kfops.model import Diagnosis
from kfops.settings import Settings

FILE = "proposals.json"
KEEP = 200


def _path(settings: Settings) -> Path:
    return Path(settings.state_dir).expanduser() / FILE


def remember(
    settings: Settings, diagnoses: list[Diagnosis], kubeconfig: str | None, context: str | None
) -> None:
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for diagnosis in diagnoses:
        for proposal in diagnosis.proposals:
            known[proposal.id] = {
                "ladder": diagnosis.ladder,
                "target": diagnosis.target,
                "runId": diagnosis.run_id,
                "kubeconfig": kubeconfig,
                "context": context,
                "proposal": proposal.to_dict(),
                "at": datetime.now(UTC).isoformat(),
            }
    newest = sorted(known.items(), key=lambda kv: kv[1]["at"])[-KEEP:]
    path.write_text(json.dumps(dict(newest), indent=1))


def recall(settings: Settings, proposal_id: str) -> dict[str, Any] | None:
    path = _path(settings)
    if not path.exists():
        return None
    entry: dict[str, Any] | None = json.loads(path.read_text()).get(proposal_id)
    return entry
