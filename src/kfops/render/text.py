"""Diagnosis → terminal (rich): the ladder with a status per rung, the conclusion, the proposals."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kfops.model import Diagnosis
from kfops.render.document import document

STATUS_STYLE = {
    "OK": ("✔", "green"),
    "SKIPPED": ("–", "dim"),
    "NO_DATA": ("?", "yellow"),
    "WARN": ("!", "yellow"),
    "ERROR": ("✖", "magenta"),
    "FAIL": ("✖", "red"),
}
VERDICT_STYLE = {"healthy": "bold green", "problem": "bold red", "inconclusive": "bold magenta"}
RISK_STYLE = {"low": "green", "medium": "yellow", "high": "bold red"}


def _header(doc: dict[str, Any]) -> Panel:
    verdict = doc["status"]
    conclusion = doc["conclusion"]
    title = Text.assemble(
        (f" {verdict.upper()} ", VERDICT_STYLE[verdict]),
        (
            f" {doc['runbook']} → {doc['target'] if doc['target'] != '*' else 'sweep (no target named)'}",
            "bold",
        ),
    )
    body = [Text(conclusion["summary"])]
    if conclusion["cause"]:
        body.append(Text(f"cause: {conclusion['cause']} (confidence {conclusion['confidence']})", "dim"))
    return Panel(Group(*body), title=title, title_align="left", border_style=VERDICT_STYLE[verdict])


def _self_health(doc: dict[str, Any]) -> Panel | None:
    if not doc["selfHealth"]:
        return None
    lines = [Text(f"• {line}") for line in doc["selfHealth"]]
    return Panel(Group(*lines), title="[bold magenta]Could not check everything[/]", border_style="magenta")


def _ladder(doc: dict[str, Any], verbose: bool) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=True)
    table.add_column("", width=1)
    table.add_column("rung", style="bold", no_wrap=True)
    table.add_column("answer", ratio=1)
    for f in doc["findings"]:
        icon, style = STATUS_STYLE[f["status"]]
        answer = Text(f["summary"])
        if verbose:
            for e in f["evidence"]:
                answer.append(f"\n  ↳ {e['query']}", style="cyan")
                answer.append(f"\n    {e['summary']}", style="dim")
        table.add_row(Text(icon, style), Text(f["rung"], style), answer)
    return table


def _proposals(doc: dict[str, Any]) -> Table | None:
    if not doc["proposals"]:
        return None
    table = Table(
        title="Proposed next steps (nothing is executed without approval)",
        title_justify="left",
        show_header=True,
        header_style="bold",
        box=None,
        expand=True,
    )
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("action", no_wrap=True)
    table.add_column("risk", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    table.add_column("what", ratio=1)
    for p in doc["proposals"]:
        what = Text(p["title"])
        for pre in p["preconditions"]:
            what.append(f"\n  requires: {pre}", style="dim")
        for step in p["steps"]:
            what.append(f"\n  step: {step}", style="dim")
        table.add_row(p["id"], p["action"], Text(p["risk"], RISK_STYLE[p["risk"]]), p["mode"], what)
    return table


def _footer(doc: dict[str, Any]) -> Text:
    stats = doc["stats"]
    return Text(
        f"run {doc['runId']} · {doc['source']} · {doc['durationSeconds']:.2f} s · "
        f"{stats['requests']} requests ({stats['memoHits']} memoised, {stats['errors']} failed)"
        + (" · DEADLINE EXCEEDED: partial answer" if doc["deadlineExceeded"] else "")
        + f" · runbook: {doc['doc']}",
        style="dim",
    )


def render_text(diagnoses: list[Diagnosis], console: Console, verbose: bool = False) -> None:
    for diagnosis in diagnoses:
        doc = document(diagnosis)
        parts = [
            _header(doc),
            _self_health(doc),
            _ladder(doc, verbose),
            _proposals(doc),
            _footer(doc),
        ]
        for part in parts:
            if part is not None:
                console.print(part)
        console.print()
