"""`/kfops` commands: a strict parser and the ephemeral answers that need no cluster.

Strict on purpose: the text comes from anyone in the workspace, and a diagnosis costs API
requests. Anything that is not exactly one of the forms in HELP is a `UsageError` whose message
(with the help) is answered to the user alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kfops.model import Ladder
from kfops.render.slack import code, escape, truncate
from kfops.runbooks.explain import explain_ladder
from kfops.runbooks.registry import UnknownLadder, find, ladders

#: run ids as `kfops.runbooks.engine.new_run_id` makes them
RUN_ID = re.compile(r"kf-\d{8}-\d{6}-[0-9a-f]{6}")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
#: a DNS-1123 subdomain, what Kubernetes requires of node names
DNS1123_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
#: other targets: a DNS-1123 name, optionally "namespace/name"
NAMESPACED = re.compile(rf"(?:{_DNS_LABEL}/)?{DNS1123_SUBDOMAIN.pattern}")
LADDER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_TEXT = 300  # far longer than any valid command
MAX_ANSWER = 3500  # an ephemeral answer stays readable, the rest is in the docs

HELP = "\n".join(
    [
        "*kfops* — on-call diagnosis for Kubeflow. Usage:",
        "`/kfops diagnose &lt;runbook&gt; [&lt;target&gt;]` — run a runbook's ladder "
        "(no target: every unhealthy one)",
        "`/kfops runbooks` — the runbooks kfops knows",
        "`/kfops explain &lt;runbook&gt;` — what a runbook checks and how it decides",
        "`/kfops status &lt;run-id&gt;` — a run's result (run ids look like `kf-20261120-031200-a1b2c3`)",
        "`/kfops help` — this help",
    ]
)


class UsageError(ValueError):
    """Not a valid /kfops command; `answer` is the ephemeral reply (reason, then the help)."""

    @property
    def answer(self) -> str:
        return f":warning: {self.args[0]}\n\n{HELP}"


@dataclass(frozen=True)
class Diagnose:
    ladder: str  # the ladder's id (aliases resolved)
    target: str | None


@dataclass(frozen=True)
class Runbooks:
    pass


@dataclass(frozen=True)
class Explain:
    ladder: str


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Status:
    run_id: str


Command = Diagnose | Runbooks | Explain | Help | Status


def parse(text: str) -> Command:
    """The command in a slash command's `text`; UsageError for anything else."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"that command is {len(text)} characters long; no kfops command needs {MAX_TEXT}")
    words = text.split()
    if not words:
        return Help()
    verb, args = words[0].lower(), words[1:]
    if verb == "diagnose":
        return _diagnose(args)
    if verb == "status":
        return Status(_run_id(_exactly(verb, args, "&lt;run-id&gt;")))
    if verb == "explain":
        return Explain(_ladder(_exactly(verb, args, "&lt;runbook&gt;")).id)
    if verb in ("runbooks", "help"):
        if args:
            raise UsageError(f"`{verb}` takes no arguments")
        return Runbooks() if verb == "runbooks" else Help()
    raise UsageError(f"unknown command {code(words[0])}")


def _exactly(verb: str, args: list[str], what: str) -> str:
    if len(args) != 1:
        raise UsageError(f"`{verb}` needs exactly one {what}")
    return args[0]


def _diagnose(args: list[str]) -> Diagnose:
    if not 1 <= len(args) <= 2:
        raise UsageError("`diagnose` needs a runbook and at most one target")
    ladder = _ladder(args[0])
    target = args[1] if len(args) == 2 else None
    if target is not None:
        _check_target(ladder, target)
    return Diagnose(ladder.id, target)


def _ladder(name: str) -> Ladder:
    if not LADDER_NAME.fullmatch(name):
        raise UsageError(f"{code(name)} is not a runbook name (see `/kfops runbooks`)")
    try:
        return find(name)
    except UnknownLadder as exc:
        raise UsageError(escape(exc)) from exc


def _check_target(ladder: Ladder, target: str) -> None:
    """Node names must be DNS-1123 subdomains; other targets a name or namespace/name."""
    if ladder.target_input == "node":
        if len(target) > 253 or not DNS1123_SUBDOMAIN.fullmatch(target):
            raise UsageError(
                f"{code(target)} is not a valid node name (DNS-1123: lowercase letters, digits, '-' "
                "and '.', starting and ending alphanumeric, at most 253 characters)"
            )
    elif len(target) > 253 or not NAMESPACED.fullmatch(target):
        raise UsageError(
            f"{code(target)} is not a valid {escape(ladder.target_input)} (name or namespace/name)"
        )


def _run_id(text: str) -> str:
    if not RUN_ID.fullmatch(text):
        raise UsageError(f"{code(text)} is not a run id (they look like `kf-20261120-031200-a1b2c3`)")
    return text


# --------------------------------------------------------------------------- answers
def runbooks_answer() -> str:
    lines = ["*Runbooks* (`/kfops diagnose &lt;runbook&gt; [&lt;target&gt;]`):"]
    for ladder in ladders():
        aliases = f" (also {', '.join(code(a) for a in ladder.aliases)})" if ladder.aliases else ""
        lines.append(
            f"• {code(ladder.id)}{aliases} — {escape(ladder.title)}; target: a {ladder.target_input}"
        )
    return "\n".join(lines)


def explain_answer(ladder_id: str) -> str:
    """The runbook page, from GitHub Markdown to Slack mrkdwn, cut to a readable length."""
    ladder = find(ladder_id)
    lines = []
    for line in explain_ladder(ladder).splitlines():
        if line.startswith("<!--"):
            continue
        heading = re.match(r"#+\s+(.*)", line)
        text = f"*{escape(heading.group(1))}*" if heading else escape(line)
        lines.append(re.sub(r"\*\*(.+?)\*\*", r"*\1*", text))
    more = f"\n…the whole page: `kfops explain {ladder.id}` or docs/runbooks/{ladder.id}.md"
    return truncate("\n".join(lines).strip(), MAX_ANSWER, more)


def status_answer(run_id: str, summary: dict[str, Any] | None) -> str:
    if summary is None:
        return f":grey_question: no run {code(run_id)} is known to this kfops (runs are kept for a while)"
    lines = [
        f"*Run* {code(run_id)}: {code(summary.get('ladder', '?'))} → {code(summary.get('target', '*'))}, "
        f"*{escape(summary.get('status', '?'))}*"
    ]
    for verdict, cause, text in zip(
        summary.get("verdicts") or [],
        summary.get("causes") or [],
        summary.get("summaries") or [],
        strict=False,
    ):
        because = f" ({code(cause)})" if cause else ""
        lines.append(f"• *{escape(verdict)}*{because}: {escape(text)}")
    if summary.get("error"):
        lines.append(f"• error: {escape(summary['error'])}")
    links = summary.get("links") or {}
    if links:
        lines.append("• posted: " + ", ".join(f"{escape(k)} {code(v)}" for k, v in sorted(links.items())))
    return truncate("\n".join(lines), MAX_ANSWER, "…")
