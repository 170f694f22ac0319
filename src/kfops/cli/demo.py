"""`kfops demo`: every ladder on its bundled incident snapshots, no cluster needed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.snapshot.store import META_FILE
from kfops.clients.sources import open_galera, open_kfp, open_prometheus
from kfops.model import Diagnosis
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import ladders
from kfops.settings import Settings


def snapshots_root() -> Path:
    """The bundled snapshots: inside the installed package, or the repository's examples/."""
    packaged = Path(str(resources.files("kfops"))) / "examples" / "snapshots"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "examples" / "snapshots"


def scenarios(ladder_id: str) -> list[Path]:
    folder = snapshots_root() / ladder_id
    return sorted(p for p in folder.iterdir() if (p / META_FILE).exists()) if folder.is_dir() else []


def describe(scenario: Path) -> str:
    meta = yaml.safe_load((scenario / META_FILE).read_text(encoding="utf-8")) or {}
    return str(meta.get("description", "")).strip()


def run_demo(output: str, verbose: bool) -> int:
    results: list[tuple[Path, list[Diagnosis]]] = []
    for ladder in ladders():
        for scenario in scenarios(ladder.id):
            kube = SnapshotKubeReader.open(scenario)
            settings = Settings()
            # the snapshot's recorded prometheus/, galera/ and kfp/ answers, if any
            engine = Engine(
                kube,
                settings,
                open_prometheus(settings, kube),
                galera=open_galera(settings, kube),
                kfp=open_kfp(settings, kube),
            )
            results.append((scenario, engine.diagnose(ladder)))
    if not results:
        raise SystemExit(f"kfops: no bundled snapshots found under {snapshots_root()}")
    if output == "json":
        import json

        from kfops.render.document import documents

        print(json.dumps([{"scenario": s.name, **documents(d)} for s, d in results], indent=2))
        return 0
    if output == "markdown":
        from kfops.render.markdown import render_markdown

        for scenario, diagnoses in results:
            print(f"<!-- scenario {scenario.parent.name}/{scenario.name} -->")
            print(render_markdown(diagnoses))
        return 0
    from rich.console import Console
    from rich.rule import Rule

    from kfops.render.text import render_text

    console = Console()
    for scenario, diagnoses in results:
        console.print(Rule(f"[bold]{scenario.parent.name} / {scenario.name}"))
        console.print(f"[dim]{describe(scenario)}[/]\n")
        render_text(diagnoses, console, verbose=verbose)
    return 0
