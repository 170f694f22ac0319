"""`kfops diagnose … --propose`: each proposal with its id and exact plan, remembered for remediate."""

from __future__ import annotations

from pathlib import Path

import typer

from kfops.cli.remediate import show_plan
from kfops.cli.state import remember
from kfops.clients.errors import ConfigurationError, ReaderError
from kfops.clients.protocols import KubeReader
from kfops.model import Diagnosis, Mode
from kfops.playbooks.base import Context
from kfops.playbooks.plan import PlanRefused
from kfops.playbooks.registry import PLAYBOOKS
from kfops.settings import Settings


def show_proposals(
    diagnoses: list[Diagnosis],
    reader: KubeReader,
    settings: Settings,
    *,
    live: bool,
    kubeconfig: Path | None,
    context: str | None,
    err: bool = False,
) -> None:
    """Proposals and plans; on stderr (`err`) when stdout carries JSON or Markdown."""

    def say(line: str) -> None:
        typer.echo(line, err=err)

    ctx = Context(reader, settings, reader.now())
    for diagnosis in diagnoses:
        for proposal in diagnosis.proposals:
            say(f"\nproposal {proposal.id}: {proposal.action} ({proposal.risk.value}, {proposal.mode.value})")
            playbook = PLAYBOOKS.get(proposal.action)
            if proposal.mode is Mode.MANUAL or playbook is None:
                for step in proposal.steps:
                    say(f"  by hand: {step}")
                continue
            try:
                show_plan(playbook.plan(ctx, proposal).to_json(), err=err)
            except PlanRefused as exc:
                say(f"  no plan now: {exc}")
                continue
            except (ReaderError, ConfigurationError) as exc:
                # planning reads afresh (the API server, the KFP API): a failed read is one sentence
                headline = exc.headline if isinstance(exc, ReaderError) else str(exc)
                say(f"  no plan now: a fresh read failed: {headline}")
                continue
            if live:
                say(f"  run: kfops remediate {proposal.id} [--dry-run]")
    if live:
        remember(settings, diagnoses, str(kubeconfig) if kubeconfig else None, context)
    else:
        say("\n(snapshot: plans are shown from the captured state; they cannot be executed)")
