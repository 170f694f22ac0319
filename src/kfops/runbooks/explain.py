"""A ladder as a runbook page (Meaning / Impact / Diagnosis / Mitigation), for a stressed novice.

`kfops explain <ladder>` prints it and docs/runbooks/<ladder>.md is generated from it
(`python -m kfops.runbooks.explain docs/runbooks`); a test keeps the checked-in pages true.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kfops.model import Ladder, Rung


def _rung_lines(number: int, rung: Rung) -> list[str]:
    lines = [f"{number}. **`{rung.id}`** — {rung.question}", ""]
    lines.append("   Reads: " + "; ".join(f"`{p.reads}`" for p in rung.probes))
    lines.append("")
    for branch in (*rung.branches, rung.default):
        first = "otherwise" if branch is rung.default else "if"
        lines.append(f"   - {first} {branch.means} → **{branch.status.value}** (`{branch.id}`)")
    return [*lines, ""]


def explain_ladder(ladder: Ladder) -> str:
    lines = [
        f"# {ladder.id}: {ladder.title}",
        "",
        "<!-- Generated from the ladder by `make docs`; edit src/kfops/runbooks, not this page. -->",
        "",
        "## Meaning",
        "",
        ladder.meaning,
        "",
        "## Impact",
        "",
        ladder.impact,
        "",
        "## Diagnosis",
        "",
        ladder.usage
        or (
            f"Run `kfops diagnose {ladder.id} --{ladder.target_input} NAME` (add `--verbose` for the "
            f"evidence and exact queries). Without `--{ladder.target_input}`, the sweep rung "
            f"`{ladder.sweep.id}` "
            f"({ladder.sweep.question}) picks every unhealthy target."
        ),
        "",
        f"Alerts that lead here: {', '.join(f'`{a}`' for a in ladder.alerts)}.",
        "",
        "The rungs, in order; each answers with the first branch that holds:",
        "",
    ]
    for number, rung in enumerate(ladder.rungs, 1):
        lines += _rung_lines(number, rung)
    lines += ["Causes it can conclude, checked in this order (the first that holds wins):", ""]
    lines += [f"- `{c.id}` — {c.title}" for c in ladder.causes]
    lines += [
        "",
        "If a rung could not answer (RBAC, timeout, unreachable source), the verdict is "
        "`inconclusive` unless a cause is certain anyway; it is never `healthy`.",
        "",
        "## Mitigation",
        "",
    ]
    lines += [f"{n}. {step}" for n, step in enumerate(ladder.mitigation, 1)]
    lines += [
        "",
        "kfops proposes these steps with their risk; nothing is executed without approval.",
        "",
    ]
    return "\n".join(lines)


def write_pages(folder: Path) -> list[Path]:
    from kfops.runbooks.registry import ladders

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for ladder in ladders():
        path = folder / f"{ladder.id}.md"
        path.write_text(explain_ladder(ladder), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for page in write_pages(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/runbooks")):
        print(page)
