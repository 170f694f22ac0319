"""`kfops`: diagnose Kubeflow incidents from the terminal.

Exit codes: 0 healthy, 1 problem found, 2 usage error, 3 could not diagnose.
Heavy modules (the kubernetes client, the engine, rich) are imported inside the commands, so
`kfops --help` starts fast.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from kfops.clients.protocols import GaleraReader, KfpReader, KubeReader
    from kfops.model import Diagnosis
    from kfops.settings import Settings

EXIT_USAGE = 2
_UNANSWERED = frozenset({"ERROR", "SKIPPED"})  # a diagnosis with only these learned nothing
EXIT_CANNOT_DIAGNOSE = 3
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

app = typer.Typer(
    name="kfops",
    help="Day-2 runbook automation for Kubeflow: what is broken, why, and the safest next step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Output(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One clear sentence on stderr, never a traceback."""
    typer.echo(f"kfops: {message}", err=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from kfops import __version__

        typer.echo(f"kfops {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """kfops walks the diagnosis ladder a senior SRE would, with read-only probes."""


def _settings(config: Path | None) -> Settings:
    from kfops.settings import Settings, SettingsError

    try:
        return Settings.load(config)
    except SettingsError as exc:
        fail(str(exc))


def _reader(snapshot: Path | None, kubeconfig: Path | None, context: str | None) -> KubeReader:
    from kfops.clients.errors import ConfigurationError, SnapshotError

    if snapshot is not None:
        if kubeconfig or context:
            fail("--snapshot reads a captured directory; it cannot be combined with --kubeconfig/--context")
        from kfops.clients.snapshot.kube import SnapshotKubeReader

        try:
            return SnapshotKubeReader.open(snapshot)
        except SnapshotError as exc:
            fail(f"cannot use snapshot: {exc}")
    from kfops.clients.live.kube import LiveKubeReader

    try:
        return LiveKubeReader.connect(str(kubeconfig) if kubeconfig else None, context)
    except ConfigurationError as exc:
        fail(f"cannot connect to Kubernetes: {exc}", EXIT_CANNOT_DIAGNOSE)


SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_$]{1,64}$")


def _with_schemas(settings: Settings, schemas: list[str]) -> Settings:
    from dataclasses import replace

    bad = [s for s in schemas if not SCHEMA_NAME.match(s)]
    if bad:
        fail(f"'{bad[0]}' is not a schema name (letters, digits, '_' and '$', at most 64)")
    return replace(settings, galera_schemas=",".join(schemas))


def _check_addresses(nodes: list[str] | tuple[str, ...]) -> None:
    """Refuse a malformed --galera-node before connecting to anything."""
    from kfops.clients.galera.address import parse_address

    for node in nodes:
        try:
            parse_address(node)
        except ValueError as exc:
            fail(str(exc))


def _galera(
    settings: Settings, reader: KubeReader, nodes: list[str] | None, offline: bool
) -> GaleraReader | None:
    """The Galera cluster to read: the snapshot's recording, or the nodes given / configured."""
    from kfops.clients.errors import ConfigurationError
    from kfops.clients.sources import open_galera

    if offline and nodes:
        fail("--snapshot replays the Galera answers it recorded; it cannot be combined with --galera-node")
    try:
        return open_galera(settings, reader, tuple(nodes or ()))
    except ConfigurationError as exc:
        fail(f"cannot read Galera: {exc}", EXIT_CANNOT_DIAGNOSE)


def _pipeline_target(
    ladder: str, run_id: str | None, workflow: str | None, namespace: str | None
) -> str | None:
    """The stuck-pipeline target: a run id (UUID) or "NAMESPACE/NAME"; None asks for the sweep."""
    if ladder != "stuck-pipeline":
        return None
    from kfops.diagnostics.pipelines.workflows import is_run_id

    if run_id is not None and (workflow or namespace):
        fail("give either --run-id or --workflow with --namespace, not both")
    if run_id is not None:
        if not is_run_id(run_id):
            fail(f"'{run_id}' is not a KFP run id: expected a UUID like 3f1c9a52-6e0b-4c8e-9d1a-5b2f7e8c4a10")
        return run_id.lower()
    if workflow is None and namespace is None:
        return None
    if not workflow or not namespace:
        fail("--workflow and --namespace go together (the Argo Workflow's name and namespace)")
    if len(workflow) > 253 or not DNS1123_SUBDOMAIN.match(workflow):
        fail(f"'{workflow}' is not a valid Workflow name (lowercase letters, digits, '-' and '.')")
    if len(namespace) > 63 or not DNS1123_LABEL.match(namespace):
        fail(f"'{namespace}' is not a valid namespace (lowercase letters, digits and '-', at most 63)")
    return f"{namespace}/{workflow}"


def _isvc_target(ladder: str, target: str | None, namespace: str | None, name: str | None) -> str | None:
    """The kserve-flapping target "NAMESPACE/NAME", from TARGET or --namespace with --name; None: sweep."""
    if ladder != "kserve-flapping":
        if target is not None:
            fail(f"a positional TARGET applies to kserve-flapping (NAMESPACE/NAME), not to {ladder}")
        if name is not None:
            fail(f"--name applies to kserve-flapping, not to {ladder}")
        return None
    if target is not None and (namespace is not None or name is not None):
        fail("give either TARGET (NAMESPACE/NAME) or --namespace with --name, not both")
    if target is not None:
        if target.count("/") != 1:
            fail(f"'{target}' is not an InferenceService as NAMESPACE/NAME (e.g. team-a/sklearn-iris)")
        namespace, name = target.split("/")
    elif namespace is None and name is None:
        return None
    if not namespace or not name:
        fail("--namespace and --name go together (the InferenceService's namespace and name)")
    if len(namespace) > 63 or not DNS1123_LABEL.match(namespace):
        fail(f"'{namespace}' is not a valid namespace (lowercase letters, digits and '-', at most 63)")
    if len(name) > 63 or not DNS1123_LABEL.match(name):
        fail(f"'{name}' is not a valid InferenceService name (lowercase letters, digits and '-', at most 63)")
    return f"{namespace}/{name}"


def _kfp(settings: Settings, reader: KubeReader, url: str | None, offline: bool) -> KfpReader | None:
    """The KFP API to ask: the snapshot's recording, or the live API at --kfp-url / settings.kfp_url."""
    from kfops.clients.errors import ConfigurationError
    from kfops.clients.sources import open_kfp

    if offline and url:
        fail("--snapshot replays the KFP answers it recorded; it cannot be combined with --kfp-url")
    try:
        return open_kfp(settings, reader, url)
    except ConfigurationError as exc:
        fail(f"cannot use the KFP API: {exc}", EXIT_CANNOT_DIAGNOSE)


def _emit(diagnoses: list[Diagnosis], output: Output, verbose: bool) -> None:
    if output is Output.json:
        from kfops.render.json_out import render_json

        typer.echo(render_json(diagnoses))
    elif output is Output.markdown:
        from kfops.render.markdown import render_markdown

        typer.echo(render_markdown(diagnoses))
    else:
        from rich.console import Console

        from kfops.render.text import render_text

        render_text(diagnoses, Console(), verbose=verbose)


def _exit(code: int) -> NoReturn:
    """Exit with the code; abandoned probe threads (past their timeout) must not hold us up."""
    sys.stdout.flush()
    sys.stderr.flush()
    if any(t.name.startswith("kfops-") and t.is_alive() for t in threading.enumerate()):
        os._exit(code)
    raise typer.Exit(code)


@app.command()
def runbooks() -> None:
    """List the diagnosis ladders kfops knows."""
    from kfops.runbooks.registry import ladders

    for ladder in ladders():
        aliases = f" (aliases: {', '.join(ladder.aliases)})" if ladder.aliases else ""
        typer.echo(f"{ladder.id:<32} {ladder.title}{aliases}")
        target = (
            "NAMESPACE/NAME (or --namespace, --name)"
            if ladder.id == "kserve-flapping"
            else "none (the Profile controller named in settings)"
            if ladder.target_input == "controller"
            else f"--{ladder.target_input}"
        )
        typer.echo(f"{'':<32} target: {target}; alerts: {', '.join(ladder.alerts)}")


@app.command()
def explain(ladder: Annotated[str, typer.Argument(help="Runbook id, e.g. gpu-node-down.")]) -> None:
    """Print a ladder: its rungs, what each reads, and how each answer is decided."""
    from kfops.runbooks.explain import explain_ladder
    from kfops.runbooks.registry import UnknownLadder, find

    try:
        found = find(ladder)
    except UnknownLadder as exc:
        fail(str(exc))
    typer.echo(explain_ladder(found))


@app.command()
def diagnose(
    ladder: Annotated[str, typer.Argument(help="Runbook id, e.g. gpu-node-down (see `kfops runbooks`).")],
    target: Annotated[
        str | None,
        typer.Argument(
            help="kserve-flapping: the InferenceService as NAMESPACE/NAME; without it, every one not Ready "
            "or flapping.",
            show_default=False,
        ),
    ] = None,
    node: Annotated[
        str | None, typer.Option(help="The node to diagnose; without it, every unhealthy GPU node.")
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(help="Diagnose a captured snapshot directory instead of a live cluster."),
    ] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context to use.")] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)."),
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
    deadline: Annotated[
        float | None,
        typer.Option(help="Seconds before returning a partial answer (default 30).", min=0.1),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the evidence and exact queries.")
    ] = False,
    config: Annotated[Path | None, typer.Option(help="Settings file (YAML); also KFOPS_CONFIG.")] = None,
    propose: Annotated[
        bool, typer.Option("--propose", help="Also show each proposal's exact plan, for `kfops remediate`.")
    ] = False,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Prometheus base URL (also KFOPS_PROMETHEUS_URL); live only.")
    ] = None,
    galera_node: Annotated[
        list[str] | None,
        typer.Option(
            help="A Galera node HOST:PORT (repeat for each; also KFOPS_GALERA_NODES). The user and "
            "password come from KFOPS_GALERA_USER / KFOPS_GALERA_PASSWORD, never from arguments."
        ),
    ] = None,
    schema: Annotated[
        list[str] | None,
        typer.Option(help="A database schema to examine (repeat; default: every non-system schema)."),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="stuck-pipeline: the KFP run id (a UUID, shown in the UI).")
    ] = None,
    workflow: Annotated[
        str | None, typer.Option(help="stuck-pipeline: the Argo Workflow's name (with --namespace).")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="stuck-pipeline: the Workflow's namespace (with --workflow); kserve-flapping: the "
            "InferenceService's namespace (with --name)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="kserve-flapping: the InferenceService's name (with --namespace).")
    ] = None,
    kfp_url: Annotated[
        str | None,
        typer.Option(help="KFP API base URL (also KFOPS_KFP_URL); token from KFOPS_KFP_TOKEN; live only."),
    ] = None,
) -> None:
    """Walk a diagnosis ladder and say what is broken, why, and the safest next step."""
    from kfops.diagnostics.context import TargetNotFound
    from kfops.runbooks.engine import Engine
    from kfops.runbooks.registry import UnknownLadder, find

    try:
        found = find(ladder)
    except UnknownLadder as exc:
        fail(str(exc))
    if node is not None and found.target_input != "node":
        takes = "no target" if found.target_input == "controller" else f"--{found.target_input}"
        fail(f"--node does not apply to {found.id}; it takes {takes}")
    if node is not None and (len(node) > 253 or not DNS1123_SUBDOMAIN.match(node)):
        fail(f"'{node}' is not a valid node name (lowercase letters, digits, '-' and '.', at most 253)")
    if found.id == "kserve-flapping":
        if run_id or workflow or kfp_url:
            fail("--run-id, --workflow and --kfp-url apply to stuck-pipeline, not to kserve-flapping")
        chosen = _isvc_target(found.id, target, namespace, name)
    else:
        _isvc_target(found.id, target, None, name)
        if (run_id or workflow or namespace or kfp_url) and found.target_input != "workflow":
            fail(
                f"--run-id, --workflow, --namespace and --kfp-url apply to stuck-pipeline, not to {found.id}"
            )
        chosen = (
            node if found.target_input == "node" else _pipeline_target(found.id, run_id, workflow, namespace)
        )
    settings = _settings(config)
    if (galera_node or schema) and found.target_input != "galera-node":
        fail(f"--galera-node and --schema apply to galera-migration-failure, not to {found.id}")
    if schema:
        settings = _with_schemas(settings, schema)
    _check_addresses(galera_node or ())
    reader = _reader(snapshot, kubeconfig, context)
    from kfops.clients.sources import open_prometheus

    prom = open_prometheus(settings, reader, prometheus_url)
    galera = (
        _galera(settings, reader, galera_node, snapshot is not None)
        if found.target_input == "galera-node"
        else None
    )
    kfp = _kfp(settings, reader, kfp_url, snapshot is not None) if found.target_input == "workflow" else None
    try:
        diagnoses = Engine(reader, settings, prom, galera=galera, kfp=kfp).diagnose(found, chosen, deadline)
    except TargetNotFound as exc:
        fail(str(exc))
    blind = [d for d in diagnoses if d.errors and all(f.status in _UNANSWERED for f in d.findings)]
    if blind and output is Output.text:
        fail(f"could not diagnose anything: {blind[0].findings[0].summary}", EXIT_CANNOT_DIAGNOSE)
    _emit(diagnoses, output, verbose)
    if propose:
        from kfops.cli.proposals import show_proposals

        show_proposals(
            diagnoses,
            reader,
            settings,
            live=snapshot is None,
            kubeconfig=kubeconfig,
            context=context,
            err=output is not Output.text,
        )
    _exit(max(diagnoses, key=lambda d: d.conclusion.verdict.rank).conclusion.verdict.exit_code)


@app.command()
def demo(
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the evidence and exact queries.")
    ] = False,
) -> None:
    """Run every ladder on its bundled incident snapshots — no cluster needed."""
    from kfops.cli.demo import run_demo

    _exit(run_demo(output.value, verbose))


def main() -> None:
    app()


# The gate's commands live in their own module; importing it registers them on `app`.
from kfops.cli import doctor as _doctor  # noqa: E402, F401
from kfops.cli import remediate as _remediate  # noqa: E402, F401


@app.command()
def status(
    run_id: Annotated[str, typer.Argument(help="A run id (kf-YYYYMMDD-HHMMSS-xxxxxx) from any surface.")],
    config: Annotated[Path | None, typer.Option(help="Settings file (YAML); also KFOPS_CONFIG.")] = None,
) -> None:
    """Show what a run concluded: the same run id links Slack, PagerDuty and the audit log."""
    import json

    from kfops.bot.runs import RunStore

    settings = _settings(config)
    found = RunStore(Path(settings.state_dir) / "runs.jsonl").lookup(run_id)
    if found is None:
        fail(f"no run {run_id} in {settings.state_dir}/runs.jsonl (runs are recorded by `kfops serve`)")
    typer.echo(json.dumps(found, indent=2))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",  # noqa: S104 — a server
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    socket_mode: Annotated[
        bool,
        typer.Option(
            "--socket-mode", help="Receive Slack over Socket Mode (SLACK_APP_TOKEN), no ingress needed."
        ),
    ] = False,
    config: Annotated[Path | None, typer.Option(help="Settings file (YAML); also KFOPS_CONFIG.")] = None,
) -> None:
    """Run the bot: Slack, PagerDuty and Alertmanager webhooks, /metrics, /healthz, /readyz."""
    from kfops.bot.main import run_server

    raise typer.Exit(run_server(_settings(config), host, port, socket_mode))


@app.command()
def capture(
    output: Annotated[Path, typer.Option("--output", "-O", help="A new directory for the snapshot.")],
    ladder: Annotated[
        list[str] | None, typer.Option("--ladder", help="Runbooks to capture for (default: all).")
    ] = None,
    node: Annotated[str | None, typer.Option(help="Also diagnose (and capture) this node.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context to use.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="kubeconfig file.")] = None,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Prometheus base URL (also KFOPS_PROMETHEUS_URL).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Settings file (YAML); also KFOPS_CONFIG.")] = None,
    galera_node: Annotated[
        list[str] | None,
        typer.Option(help="A Galera node HOST:PORT to record (repeat; also KFOPS_GALERA_NODES)."),
    ] = None,
    schema: Annotated[list[str] | None, typer.Option(help="A database schema to record (repeat).")] = None,
    kfp_url: Annotated[
        str | None, typer.Option(help="KFP API base URL to record run answers from (also KFOPS_KFP_URL).")
    ] = None,
    inferenceservice: Annotated[
        str | None,
        typer.Option(
            help="kserve-flapping: also diagnose (and capture) this InferenceService, NAMESPACE/NAME."
        ),
    ] = None,
) -> None:
    """Capture what the ladders read from a live cluster as a snapshot (secrets scrubbed)."""
    from kfops.cli.capture import CaptureError
    from kfops.cli.capture import capture as run_capture
    from kfops.clients.sources import open_prometheus
    from kfops.diagnostics.context import TargetNotFound
    from kfops.runbooks.registry import UnknownLadder, find, ladders

    settings = _settings(config)
    try:
        chosen = [find(name) for name in ladder] if ladder else list(ladders())
    except UnknownLadder as exc:
        fail(str(exc))
    isvc = _isvc_target("kserve-flapping", inferenceservice, None, None)
    reader = _reader(None, kubeconfig, context)
    if schema:
        settings = _with_schemas(settings, schema)
    galera = (
        _galera(settings, reader, galera_node, offline=False)
        if any(lad.target_input == "galera-node" for lad in chosen)
        else None
    )
    kfp = (
        _kfp(settings, reader, kfp_url, offline=False)
        if any(lad.target_input == "workflow" for lad in chosen)
        else None
    )
    try:
        result = run_capture(
            output,
            reader,
            open_prometheus(settings, reader, prometheus_url),
            settings,
            chosen,
            node,
            galera,
            kfp,
            isvc,
        )
    except (CaptureError, TargetNotFound) as exc:
        fail(str(exc))
    typer.echo(
        f"captured {result.objects} objects, {result.logs} logs, {result.queries} Prometheus answers, "
        f"{result.kfp_runs} KFP runs and "
        f"{result.faults} refused reads into {result.path}; "
        f"replay: kfops diagnose <runbook> --snapshot {result.path}"
    )
