"""Discovering scenario snapshots and their expected verdicts (kfops-expected.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kfops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIRS = (ROOT / "examples" / "snapshots", ROOT / "tests" / "scenarios")
#: a scenario's own settings file (the KFOPS_CONFIG its operator runs kfops with), when it needs one
SETTINGS_FILE = "kfops-settings.yaml"


def settings_file(scenario: Path) -> Path | None:
    path = scenario / SETTINGS_FILE
    return path if path.is_file() else None


def scenario_settings(scenario: Path) -> Settings:
    """The settings a scenario is diagnosed with: the defaults, or its kfops-settings.yaml (no
    KFOPS_* variable of the machine running the tests leaks in)."""
    return Settings.load(settings_file(scenario), environ={})


@dataclass(frozen=True)
class Case:
    ladder: str
    scenario: Path
    name: str
    args: tuple[str, ...]
    exit: int
    diagnoses: tuple[dict[str, Any], ...]

    @property
    def id(self) -> str:
        return f"{self.ladder}/{self.scenario.name}/{self.name}"

    def _values(self) -> set[str]:
        """The arguments that are an option's value (``--snapshot DIR`` …), not positionals."""
        return {b for a, b in zip(self.args, self.args[1:], strict=False) if a.startswith("--")}

    def option(self, name: str) -> str | None:
        args = list(self.args)
        return args[args.index(name) + 1] if name in args else None

    def target(self, target_input: str) -> str | None:
        """The engine's target for these CLI args, as `kfops diagnose` builds it.

        ``--run-id UUID`` is the bare run id; a positional ``NS/NAME`` is itself;
        ``--<target_input> NAME`` or ``--name NAME`` with ``--namespace NS`` is "NS/NAME" (a
        namespaced target: a Workflow, an InferenceService); else the bare name; None: a sweep.
        """
        run_id = self.option("--run-id")
        if run_id:
            return run_id
        positional = [a for a in self.args if not a.startswith("-") and "/" in a and a not in self._values()]
        if positional:
            return positional[0]
        name = self.option(f"--{target_input}") or self.option("--name")
        namespace = self.option("--namespace")
        return f"{namespace}/{name}" if name and namespace else name


def cases(ladder: str | None = None) -> list[Case]:
    found = []
    for base in SCENARIO_DIRS:
        for expected in sorted(base.glob("*/*/kfops-expected.yaml")):
            scenario = expected.parent
            if ladder and scenario.parent.name != ladder:
                continue
            data = yaml.safe_load(expected.read_text(encoding="utf-8"))
            for case in data["cases"]:
                found.append(
                    Case(
                        ladder=scenario.parent.name,
                        scenario=scenario,
                        name=str(case["name"]),
                        args=tuple(str(a) for a in case.get("args") or ()),
                        exit=int(case["exit"]),
                        diagnoses=tuple(case["diagnoses"]),
                    )
                )
    return found
