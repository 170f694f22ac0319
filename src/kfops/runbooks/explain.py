"""A ladder in plain words: for `kfops explain` and the generated runbook pages (docs/runbooks/)."""

from __future__ import annotations

from kfops.model import Ladder, Rung


def _rung_lines(number: int, rung: Rung) -> list[str]:
    lines = [f"{number}. `{rung.id}` — {rung.question}"]
    lines.append("   Reads: " + "; ".join(f"`{p.reads}`" for p in rung.probes))
    for branch in (*rung.branches, rung.default):
        first = "otherwise" if branch is rung.default else "if"
        lines.append(f"   - {first} {branch.means} → **{branch.status.value}** (`{branch.id}`)")
    return lines


def explain_ladder(ladder: Ladder) -> str:
    """The ladder as Markdown text: meaning, rungs with their branches, causes, mitigation."""
    lines = [
        f"# {ladder.id}: {ladder.title}",
        "",
        f"Meaning: {ladder.meaning}",
        "",
        f"Impact: {ladder.impact}",
        "",
        f"Target: `--{ladder.target_input}`. Without it, the sweep rung `{ladder.sweep.id}` "
        f"({ladder.sweep.question}) picks every unhealthy target.",
        "",
        "Rungs, in order (the first matching answer of each rung wins):",
        "",
    ]
    for number, rung in enumerate(ladder.rungs, 1):
        lines += _rung_lines(number, rung)
    lines += ["", "Causes it can conclude, checked in this order:", ""]
    lines += [f"- `{c.id}` — {c.title}" for c in ladder.causes]
    lines += ["", "Mitigation:", ""]
    lines += [f"{n}. {step}" for n, step in enumerate(ladder.mitigation, 1)]
    return "\n".join(lines)
