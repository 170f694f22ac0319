"""Diagnosis → Markdown, for postmortems and tickets."""

from __future__ import annotations

from typing import Any

from kfops.model import Diagnosis
from kfops.render.document import document

ICON = {"OK": "✅", "SKIPPED": "➖", "NO_DATA": "❔", "WARN": "⚠️", "ERROR": "🛑", "FAIL": "❌"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _one(doc: dict[str, Any]) -> list[str]:
    c = doc["conclusion"]
    target = doc["target"] if doc["target"] != "*" else "sweep (no target named)"
    lines = [
        f"## {doc['runbook']} → `{target}`: **{doc['status']}**",
        "",
        f"> {c['summary']}",
        "",
    ]
    if c["cause"]:
        lines += [f"- **Cause:** `{c['cause']}` (confidence {c['confidence']})"]
    lines += [
        f"- **Run:** `{doc['runId']}` at {doc['finishedAt']}",
        f"- **Source:** {doc['source']}",
        f"- **Runbook:** [{doc['doc']}]({doc['doc']})",
        "",
    ]
    if doc["selfHealth"]:
        lines += ["### Could not check everything", ""]
        lines += [f"- {line}" for line in doc["selfHealth"]] + [""]
    lines += ["### Ladder", "", "| | Rung | Answer |", "|---|---|---|"]
    for f in doc["findings"]:
        lines.append(f"| {ICON[f['status']]} {f['status']} | `{f['rung']}` | {_cell(f['summary'])} |")
    lines += ["", "### Evidence", ""]
    for f in doc["findings"]:
        for e in f["evidence"]:
            lines.append(f"- `{f['rung']}` — `{e['query']}` — {_cell(e['summary'])}")
    if doc["proposals"]:
        lines += [
            "",
            "### Proposed next steps",
            "",
            "| id | action | risk | mode | what |",
            "|---|---|---|---|---|",
        ]
        for p in doc["proposals"]:
            what = p["title"] + "".join(f"<br>requires: {pre}" for pre in p["preconditions"])
            lines.append(f"| `{p['id']}` | `{p['action']}` | {p['risk']} | {p['mode']} | {_cell(what)} |")
    return [*lines, ""]


def render_markdown(diagnoses: list[Diagnosis]) -> str:
    lines = ["# kfops diagnosis", ""]
    for diagnosis in diagnoses:
        lines += _one(document(diagnosis))
    return "\n".join(lines)
