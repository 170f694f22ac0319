"""Diagnoses → a PagerDuty incident note: concise plain text for the incident timeline.

Drawn from the redacted document like every renderer. The note says what the responder needs
first — verdict, cause, the strongest evidence with its query, the proposals and their risk —
and where the rest is (the run id, the Slack thread). PagerDuty's API documents no length limit
for a note (reference/protocols.md §2.2, unverified), so notes are kept to a few KB and cut
visibly, never silently; the run line is always kept.

Takes values rather than a bot Run: render sits below the bot in the import layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kfops.model import Diagnosis, Status
from kfops.render.document import document
from kfops.render.redact import redact_text

NOTE_LIMIT = 4000  # characters
MAX_EVIDENCE = 5  # findings shown per diagnosis, worst first
MAX_LINE = 300  # characters of one evidence or proposal line
_SHOWN = (Status.FAIL.value, Status.ERROR.value, Status.WARN.value)


def _clip(text: str, limit: int = MAX_LINE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _evidence(doc: dict[str, Any]) -> list[str]:
    """The worst findings (FAIL, then ERROR, then WARN; ladder order within), with their query."""
    worst = sorted(
        (f for f in doc["findings"] if f["status"] in _SHOWN),
        key=lambda f: _SHOWN.index(f["status"]),
    )
    lines = []
    for finding in worst[:MAX_EVIDENCE]:
        query = f" [{finding['evidence'][0]['query']}]" if finding["evidence"] else ""
        lines.append(_clip(f"- [{finding['status']}] {finding['rung']}: {finding['summary']}{query}"))
    if len(worst) > MAX_EVIDENCE:
        lines.append(f"- … and {len(worst) - MAX_EVIDENCE} more findings")
    return lines


def _proposals(doc: dict[str, Any]) -> list[str]:
    lines = []
    for p in doc["proposals"]:
        requires = f"; requires: {', '.join(p['preconditions'])}" if p["preconditions"] else ""
        what = f"- {p['action']} — {p['title']} (risk {p['risk']}, {p['mode']}{requires}) [id {p['id']}]"
        lines.append(_clip(what))
    return lines


def _section(doc: dict[str, Any]) -> list[str]:
    conclusion = doc["conclusion"]
    target = doc["target"] if doc["target"] not in ("", "*") else "(sweep)"
    cause = (
        f" — cause {conclusion['cause']} ({conclusion['confidence']} confidence)"
        if conclusion["cause"]
        else ""
    )
    lines = [
        f"kfops {doc['runbook']} → {target}: {doc['status'].upper()}{cause}",
        _clip(conclusion["summary"], 600),
    ]
    evidence = _evidence(doc)
    if evidence:
        lines += ["Evidence:", *evidence]
    if doc["deadlineExceeded"]:
        lines.append("The diagnosis hit its deadline: some rungs did not answer.")
    proposals = _proposals(doc)
    if proposals:
        lines += ["Proposed (nothing runs without approval):", *proposals]
    lines.append(f"Runbook: {doc['doc']}")
    return lines


def _fit(body: str, budget: int, run_id: str) -> str:
    """The body cut at a line boundary to `budget` characters, with a visible marker."""
    if len(body) <= budget:
        return body
    if budget <= 0:
        return ""
    marker = f"… [note truncated; the full diagnosis: Slack thread or `kfops status {run_id}`]"
    room = max(0, budget - len(marker) - 1)
    cut = body[:room]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return f"{cut}\n{marker}" if cut else marker[:budget]


def incident_note(
    diagnoses: Sequence[Diagnosis],
    *,
    run_id: str,
    slack_link: str | None = None,
    error: str = "",
    limit: int = NOTE_LIMIT,
) -> str:
    """The note for one run: its diagnoses (or its error), the run id and the Slack link."""
    run_id = redact_text(run_id)
    sections: list[list[str]] = [_section(document(d)) for d in diagnoses]
    if error:
        sections.insert(0, [f"kfops could not diagnose: {_clip(redact_text(error), 1000)}"])
    if not sections:
        sections.append(["kfops: the run produced no diagnosis."])
    body = "\n\n".join("\n".join(lines) for lines in sections)
    footer = f"Run {run_id} (`kfops status {run_id}`)"
    if slack_link:
        footer += f" · Slack: {redact_text(slack_link)}"
    fitted = _fit(body, limit - len(footer) - 1, run_id)
    return f"{fitted}\n{footer}" if fitted else footer
