"""`kfops remediate`, `approve`, `pause`, `resume`, `breaker reset`, `audit verify`: the gate's CLI.

Exit codes: 0 done (or dry-run shown, or waiting for approvals), 2 usage error, 3 cannot reach
the cluster, 4 refused by the gate (nothing was written), 5 executed but not verified.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kfops.cli.main import EXIT_CANNOT_DIAGNOSE, app, fail

if TYPE_CHECKING:
    from kfops.clients.live.kube import LiveKubeReader
    from kfops.clients.live.writer import LiveKubeWriter
    from kfops.playbooks.gate import Executed, Gate
    from kfops.settings import Settings

EXIT_REFUSED = 4
EXIT_NOT_VERIFIED = 5

Context_ = Annotated[str | None, typer.Option("--context", help="kubeconfig context to act as.")]
Kubeconfig = Annotated[Path | None, typer.Option(help="kubeconfig file.")]
Config = Annotated[Path | None, typer.Option(help="Settings file (YAML); also KFOPS_CONFIG.")]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (required without a TTY).")
]


def _settings(config: Path | None) -> Settings:
    from kfops.cli.main import _settings as load

    return load(config)


def _connect(kubeconfig: Path | None, context: str | None) -> tuple[LiveKubeReader, LiveKubeWriter]:
    from kfops.clients.errors import ConfigurationError
    from kfops.clients.live.kube import LiveKubeReader
    from kfops.clients.live.writer import LiveKubeWriter

    try:
        path = str(kubeconfig) if kubeconfig else None
        return LiveKubeReader.connect(path, context), LiveKubeWriter.connect(path, context)
    except ConfigurationError as exc:
        fail(f"cannot connect to Kubernetes: {exc}", EXIT_CANNOT_DIAGNOSE)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail("not a terminal: refusing to execute without --yes (nothing was written)", EXIT_REFUSED)
    if not typer.confirm(question, default=False):
        fail("not confirmed: nothing was written", EXIT_REFUSED)


def show_plan(plan: dict[str, Any], dry_run: tuple[str, ...] = (), err: bool = False) -> None:
    def say(line: str) -> None:
        typer.echo(line, err=err)

    say(f"plan {plan['id']}  {plan['action']} on {plan['target']}  risk {plan['risk']}")
    say(f"  {plan['title']}")
    for line in plan["diff"]:
        say(f"    {line}")
    for step in plan["steps"]:
        where = f" -n {step['namespace']}" if step.get("namespace") else ""
        say(f"  step: {step['verb']} {step['resource']}/{step['name']}{where}")
    for line in dry_run:
        say(f"  {line}")
    for line in plan.get("preconditions", ()):
        say(f"  requires: {line}")
    for line in plan.get("notes", ()):
        say(f"  note: {line}")
    if plan.get("rollback"):
        say(f"  rollback: {plan['rollback']}")


def _show_executed(executed: Executed) -> int:
    outcome, verification = executed.outcome, executed.verification
    typer.echo(f"{'executed' if outcome.ok else 'FAILED'} as {executed.executed_as}: {outcome.summary}")
    for line in outcome.details:
        typer.echo(f"  {line}")
    typer.echo(f"{'verified' if verification.ok else 'NOT VERIFIED'}: {verification.summary}")
    rollback = executed.plan.proposal.rollback
    if rollback:
        typer.echo(f"rollback: {rollback}")
    if executed.breaker_opened:
        typer.echo("the circuit breaker is now open: further executions wait for `kfops breaker reset`")
    return 0 if outcome.ok and verification.ok else EXIT_NOT_VERIFIED


def _gate(
    reader: LiveKubeReader, writer: LiveKubeWriter, settings: Settings, options: dict[str, Any]
) -> Gate:
    from kfops.playbooks.base import Options
    from kfops.playbooks.gate import Gate

    return Gate(reader, writer, settings, options=Options(**options))


@app.command()
def remediate(
    proposal_id: Annotated[str, typer.Argument(help="A proposal id from `kfops diagnose … --propose`.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan and the server-side dry-run only.")
    ] = False,
    yes: Yes = False,
    allow_local_data: Annotated[
        bool, typer.Option(help="drain: also evict pods with emptyDir data.")
    ] = False,
    allow_unmanaged: Annotated[
        bool, typer.Option(help="drain: also evict pods no controller recreates.")
    ] = False,
    context: Context_ = None,
    kubeconfig: Kubeconfig = None,
    config: Config = None,
) -> None:
    """Carry out a proposal through the gate: plan, dry-run, approve, re-check, execute, verify, audit."""
    from kfops.cli.state import recall
    from kfops.playbooks.gate import Refused
    from kfops.runbooks.engine import Engine
    from kfops.runbooks.registry import find

    settings = _settings(config)
    entry = recall(settings, proposal_id)
    if entry is None:
        fail(
            f"unknown proposal {proposal_id}: run `kfops diagnose <runbook> --propose` "
            "against the cluster first"
        )
    reader, writer = _connect(
        kubeconfig or (Path(entry["kubeconfig"]) if entry["kubeconfig"] else None),
        context or entry["context"],
    )
    # Fresh diagnosis: the proposal must still be what the ladder offers now.
    diagnoses = Engine(reader, settings).diagnose(find(entry["ladder"]), entry["target"])
    current = {p.id: p for d in diagnoses for p in d.proposals}
    if proposal_id not in current:
        fail(f"proposal {proposal_id} no longer applies: {diagnoses[0].conclusion.summary}", EXIT_REFUSED)
    options = {"allow_local_data": allow_local_data, "allow_unmanaged": allow_unmanaged}
    gate = _gate(reader, writer, settings, options)
    try:
        who = writer.identity()
        prepared = gate.prepare(current[proposal_id], who)
        show_plan({**prepared.plan.to_json(), "options": options}, prepared.dry_run)
        if dry_run:
            typer.echo("dry run: nothing was written")
            raise typer.Exit(0)
        _confirm(f"Execute plan {prepared.plan.id} as {who.username}?", yes)
        record = gate.request(prepared, who, options)
        if record.required > 1:
            typer.echo(
                f"plan {prepared.plan.id} is high risk: it needs {record.required} approvals "
                "by people other than "
                f"{who.username}, each with `kfops approve {prepared.plan.id}` before "
                f"{record.expires_at:%H:%M:%SZ}"
            )
            raise typer.Exit(0)
        if who.username not in record.approvers:  # a retry after a refusal keeps its approval
            gate.approve(prepared.plan.id, who, self_approval=True)
        raise typer.Exit(_show_executed(gate.execute(prepared.plan.id, who)))
    except Refused as exc:
        fail(f"refused: {exc}", EXIT_REFUSED)


@app.command()
def approve(
    plan_id: Annotated[str, typer.Argument(help="The plan id `kfops remediate` printed.")],
    yes: Yes = False,
    context: Context_ = None,
    kubeconfig: Kubeconfig = None,
    config: Config = None,
) -> None:
    """Approve a plan as yourself; the approval that completes it executes it."""
    from kfops.playbooks.approvals import ApprovalRefused, Approvals
    from kfops.playbooks.gate import Refused

    settings = _settings(config)
    reader, writer = _connect(kubeconfig, context)
    try:
        record = Approvals(writer, settings).load(plan_id)
    except ApprovalRefused as exc:
        fail(f"refused: {exc}", EXIT_REFUSED)
    gate = _gate(reader, writer, settings, record.plan.get("options") or {})
    try:
        who = writer.identity()
        show_plan(record.plan)
        typer.echo(
            f"requested by {record.requester}; approvals so far: {', '.join(record.approvers) or 'none'}"
        )
        gate.authorise_record(record, who)
        _confirm(f"Approve plan {plan_id} as {who.username}?", yes)
        record = gate.approve(plan_id, who)
        if not record.complete:
            typer.echo(
                f"approved by {who.username}: {len(record.approvals)} of {record.required}; "
                "waiting for another person"
            )
            raise typer.Exit(0)
        raise typer.Exit(_show_executed(gate.execute(plan_id, who)))
    except Refused as exc:
        fail(f"refused: {exc}", EXIT_REFUSED)


@app.command()
def pause(
    reason: Annotated[str, typer.Option(help="Why, for whoever finds it paused.")] = "",
    context: Context_ = None,
    kubeconfig: Kubeconfig = None,
    config: Config = None,
) -> None:
    """Stop every kfops execution, from every surface, until `kfops resume`."""
    from kfops.playbooks.control import Control

    settings = _settings(config)
    _, writer = _connect(kubeconfig, context)
    Control(writer, settings).set_paused(True, writer.identity().username, reason)
    typer.echo("kfops is paused: nothing executes until `kfops resume`")


@app.command()
def resume(context: Context_ = None, kubeconfig: Kubeconfig = None, config: Config = None) -> None:
    """Lift the pause switch."""
    from kfops.playbooks.control import Control

    settings = _settings(config)
    _, writer = _connect(kubeconfig, context)
    Control(writer, settings).set_paused(False, writer.identity().username)
    typer.echo("kfops is resumed")


breaker = typer.Typer(help="The circuit breaker that stops executions after too many in a window.")
app.add_typer(breaker, name="breaker")


@breaker.command("reset")
def breaker_reset(context: Context_ = None, kubeconfig: Kubeconfig = None, config: Config = None) -> None:
    """Close the circuit breaker (a human decision, after looking at why it opened)."""
    from kfops.playbooks.control import Control

    settings = _settings(config)
    _, writer = _connect(kubeconfig, context)
    Control(writer, settings).reset_breaker(writer.identity().username)
    typer.echo("circuit breaker closed")


audit = typer.Typer(help="The hash-chained audit log of every gated execution.")
app.add_typer(audit, name="audit")


@audit.command("verify")
def audit_verify(
    path: Annotated[Path | None, typer.Option(help="Audit log (default: settings.audit_path).")] = None,
    config: Config = None,
) -> None:
    """Check that no audit record was altered, removed or reordered."""
    from kfops.playbooks.audit import AuditLog

    log = AuditLog(path or Path(_settings(config).audit_path))
    result = log.verify()
    typer.echo(f"{log.path}: {result.message}")
    raise typer.Exit(0 if result.ok else 1)
