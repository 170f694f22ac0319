"""`kfops doctor`: check a deployment can do its job, with the settings `kfops serve` uses.

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 usage error. Every client
error becomes a FAIL row with its one-line headline, never a traceback.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kfops.cli.main import _exit, _settings, app

if TYPE_CHECKING:
    from kfops.doctor.rows import Row


class DoctorOutput(StrEnum):
    text = "text"
    json = "json"


@app.command()
def doctor(
    config: Annotated[Path | None, typer.Option(help="Settings file (YAML); also KFOPS_CONFIG.")] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="kubeconfig file (default: settings.kubeconfig, $KUBECONFIG, in-cluster)."),
    ] = None,
    context: Annotated[
        str | None, typer.Option(help="kubeconfig context (default: settings.context).")
    ] = None,
    output: Annotated[
        DoctorOutput, typer.Option("--output", "-o", help="Output format.")
    ] = DoctorOutput.text,
) -> None:
    """Check the cluster, every permission the ladders and enabled playbooks need, Prometheus,
    Galera, KFP and the Slack/PagerDuty settings; print a fix for each failure."""
    from kfops.doctor import exit_code
    from kfops.doctor.run import run_checks

    settings = _settings(config)
    rows = run_checks(settings, str(kubeconfig) if kubeconfig else None, context)
    code = exit_code(rows)
    if output is DoctorOutput.json:
        document = {"schema": "kfops.dev/doctor/v1", "ok": code == 0, "checks": [r.to_json() for r in rows]}
        typer.echo(json.dumps(document, indent=2))
    else:
        _table(rows)
    _exit(code)


def _table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    styles = {"OK": "green", "WARN": "yellow", "FAIL": "bold red", "SKIPPED": "dim"}
    table = Table(title="kfops doctor", show_lines=False, expand=True)
    for column in ("group", "check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for row in rows:
        shown = row.to_json()  # redacted
        table.add_row(
            Text(shown["group"]),
            Text(shown["check"]),
            Text(shown["status"], style=styles[shown["status"]]),
            Text(shown["detail"]),
            Text(shown["fix"]),
        )
    console = Console()
    console.print(table)
    failed = sum(1 for r in rows if r.status.value == "FAIL")
    warned = sum(1 for r in rows if r.status.value == "WARN")
    console.print(f"{failed} failed, {warned} warning(s), {len(rows)} checks")
