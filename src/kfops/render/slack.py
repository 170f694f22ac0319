"""Diagnosis → Slack Block Kit: the channel message, the evidence thread, progress updates.

Pure functions over the redacted document (`render.document`), so Slack can never show what the
other surfaces mask. No Slack library is imported here (only `kfops.bot` talks to Slack): blocks
are plain dicts, built within Block Kit's limits (reference/protocols.md §1.7) and truncated
visibly — "…(truncated, see `kfops status <run-id>`)" — rather than rejected by Slack.

Text from the cluster or from users (summaries, names, queries) is escaped: `&`, `<` and `>`
are Slack's control characters, so an object named `<!channel>` cannot ping a whole channel.
Mentions passed in by the bot (`mentions=`) are trusted mrkdwn and kept as they are.
"""

from __future__ import annotations

import re
from typing import Any

from kfops.model import Diagnosis
from kfops.render.document import document
from kfops.render.redact import redact_text

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_ACTIONS_ELEMENTS = 25
#: approve buttons shown in one message (each carries a confirm dialog; the rest: `kfops remediate`)
MAX_BUTTONS = 10
#: the conclusion's one-line summary in the message (the whole of it is in `kfops status`)
MAX_SUMMARY = 1500
MAX_CONTEXT_ELEMENTS = 10
#: Slack answers msg_blocks_too_long at roughly 13k characters of block text (undocumented, §1.3);
#: stay well below it.
MAX_MESSAGE_TEXT = 11_000
#: the notification/fallback `text` of a message (Slack cuts at 40k; nobody reads that much).
MAX_FALLBACK_TEXT = 2000
#: blocks per evidence reply in the thread (fewer than the limit keeps each reply readable).
EVIDENCE_BLOCKS_PER_REPLY = 40

STATUS_ICON = {
    "OK": ":white_check_mark:",
    "SKIPPED": ":heavy_minus_sign:",
    "NO_DATA": ":grey_question:",
    "WARN": ":warning:",
    "ERROR": ":octagonal_sign:",
    "FAIL": ":x:",
}
VERDICT_ICON = {
    "healthy": ":large_green_circle:",
    "problem": ":red_circle:",
    "inconclusive": ":large_yellow_circle:",
}
RISK_ICON = {"low": ":large_green_square:", "medium": ":large_orange_square:", "high": ":large_red_square:"}
SHOWN_IN_MESSAGE = ("FAIL", "ERROR", "WARN")

_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")


# --------------------------------------------------------------------------- text primitives
def escape(text: object) -> str:
    """Slack mrkdwn escaping of untrusted text: only &, < and > are control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    """Untrusted text as an inline code span (a backtick inside would end the span early)."""
    return "`" + escape(text).replace("`", "'") + "`"


def truncation_marker(run_id: str) -> str:
    return f"…(truncated, see `kfops status {escape(run_id)}`)"


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """`text` cut to `limit` characters, ending in `marker`; never splits an escaped entity."""
    if len(text) <= limit:
        return text
    cut = _ENTITY_TAIL.sub("", text[: max(0, limit - len(marker))])
    return cut + marker


def plain(text: object, limit: int) -> dict[str, Any]:
    """A plain_text object (not parsed by Slack, so not escaped), cut to `limit`."""
    return {"type": "plain_text", "text": truncate(str(text), limit) or "-", "emoji": True}


def section(mrkdwn: str, run_id: str) -> Block:
    """A section of already-escaped mrkdwn, cut visibly at Slack's 3000 characters."""
    return {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": truncate(mrkdwn, MAX_SECTION_TEXT, truncation_marker(run_id)) or " ",
        },
    }


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def context(*elements: str, run_id: str) -> Block:
    items = [e for e in elements if e][:MAX_CONTEXT_ELEMENTS]
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": truncate(e, MAX_SECTION_TEXT, truncation_marker(run_id))}
            for e in items
        ],
    }


def confirm(title: str, text: str, ok: str = "Approve", deny: str = "Cancel", danger: bool = False) -> Block:
    """A confirmation dialog: Slack shows it before the click reaches kfops."""
    dialog: Block = {
        "title": plain(title, MAX_CONFIRM_TITLE),
        "text": plain(text, MAX_CONFIRM_TEXT),
        "confirm": plain(ok, MAX_CONFIRM_BUTTON),
        "deny": plain(deny, MAX_CONFIRM_BUTTON),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def button(
    text: str, action_id: str, value: str, *, style: str | None = None, confirm_dialog: Block | None = None
) -> Block:
    """A button element. A value or action id over Slack's limit is an error: cutting it would
    corrupt a signed value, so the caller must keep them short."""
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"button value of {len(value)} characters exceeds Slack's {MAX_BUTTON_VALUE}")
    if not action_id or len(action_id) > MAX_ACTION_ID:
        raise ValueError(f"button action_id must have 1 to {MAX_ACTION_ID} characters")
    element: Block = {
        "type": "button",
        "text": plain(text, MAX_BUTTON_TEXT),
        "action_id": action_id,
        "value": value,
    }
    if style in ("primary", "danger"):
        element["style"] = style
    if confirm_dialog is not None:
        element["confirm"] = confirm_dialog
    return element


def text_size(block: Any) -> int:
    """Characters of text a block carries (what Slack's undocumented message-size limit counts)."""
    if isinstance(block, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_size(v) for k, v in block.items())
    if isinstance(block, list):
        return sum(text_size(v) for v in block)
    return 0


# --------------------------------------------------------------------------- the channel message
def _target(doc: dict[str, Any]) -> str:
    return "all targets" if doc["target"] == "*" else str(doc["target"])


def _headline(doc: dict[str, Any]) -> str:
    return f"{doc['status'].upper()} {doc['runbook']} → {_target(doc)}"


def _conclusion(doc: dict[str, Any], run_id: str) -> Block:
    c = doc["conclusion"]
    summary = truncate(escape(c["summary"]), MAX_SUMMARY, truncation_marker(run_id))
    text = "> " + summary.replace("\n", "\n> ")
    if c["cause"]:
        text += f"\n*Cause:* {code(c['cause'])} (confidence {escape(c['confidence'])})"
    text += f"\n*Target:* {code(_target(doc))}"
    return section(text, run_id)


def _rung_lines(doc: dict[str, Any]) -> list[str]:
    return [
        f"{STATUS_ICON[f['status']]} {code(f['rung'])} {escape(f['summary'])}"
        for f in doc["findings"]
        if f["status"] in SHOWN_IN_MESSAGE
    ]


def _self_health(doc: dict[str, Any]) -> list[str]:
    lines = [f"• {escape(line)}" for line in doc["selfHealth"]]
    if doc["deadlineExceeded"]:
        lines.append("• the deadline was reached: this answer is partial")
    if not lines:
        return []
    return [":rotating_light: *kfops could not check everything* (so the verdict is not `healthy`):", *lines]


def _proposal_lines(doc: dict[str, Any]) -> list[str]:
    if not doc["proposals"]:
        return []
    lines = ["*Proposed next steps*"]
    for p in doc["proposals"]:
        how = "approve below" if p["mode"] == "approve" else "manual"
        lines.append(
            f"{RISK_ICON.get(p['risk'], '')} {code(p['action'])} *{escape(p['risk'])} risk* ({how}) — "
            f"{escape(p['title'])} · id {code(p['id'])}"
        )
        lines += [f"      requires: {escape(pre)}" for pre in p["preconditions"]]
        lines += [f"      {n}. {escape(step)}" for n, step in enumerate(p["steps"], 1)]
    return lines


def _diagnosis_blocks(doc: dict[str, Any], run_id: str) -> list[Block]:
    blocks = [
        header(f"{VERDICT_ICON.get(doc['status'], '')} {_headline(doc)}"),
        _conclusion(doc, run_id),
    ]
    for lines in (_rung_lines(doc), _self_health(doc), _proposal_lines(doc)):
        if lines:
            blocks.append(section("\n".join(lines), run_id))
    return blocks


def _actions(buttons: list[Block]) -> list[Block]:
    return [
        {
            "type": "actions",
            "block_id": f"kfops_actions_{n}",
            "elements": buttons[i : i + MAX_ACTIONS_ELEMENTS],
        }
        for n, i in enumerate(range(0, len(buttons), MAX_ACTIONS_ELEMENTS))
    ]


def _fit(head: list[Block], groups: list[list[Block]], tail: list[Block], run_id: str) -> list[Block]:
    """The head and tail, and whole groups in order while they fit; a visible marker if not.

    The head (mentions, verdict, conclusion) and the tail (buttons, run id) are always kept:
    losing an approval button to a long rung summary would be worse than losing the rung line,
    which the thread and `kfops status` still show.
    """
    marker = section(truncation_marker(run_id), run_id)
    budget_blocks = MAX_BLOCKS - len(head) - len(tail) - 1
    budget_text = MAX_MESSAGE_TEXT - text_size(head) - text_size(tail) - text_size(marker)
    kept: list[Block] = []
    for block in (b for group in groups for b in group):
        if len(kept) + 1 > budget_blocks or text_size(kept) + text_size(block) > budget_text:
            return [*head, *kept, marker, *tail]
        kept.append(block)
    return [*head, *kept, *tail]


def fallback_text(docs: list[dict[str, Any]], run_id: str, mentions: str = "") -> str:
    """The notification text: verdict, target and summary of the worst diagnosis."""
    first = docs[0]
    more = f" (and {len(docs) - 1} more)" if len(docs) > 1 else ""
    text = f"kfops: {_headline(first)}{more}: {first['conclusion']['summary']} (run {run_id})"
    prefix = f"{mentions} " if mentions else ""
    return prefix + truncate(escape(text), MAX_FALLBACK_TEXT - len(prefix))


def diagnosis_message(
    diagnoses: list[Diagnosis], run_id: str, buttons: list[Block], *, mentions: str = ""
) -> tuple[str, list[Block]]:
    """(fallback text, blocks) of the channel message for a finished run.

    `buttons` are ready button elements (see `button`), placed under the proposals.
    `mentions` is trusted mrkdwn ("<@U1> · on-call <!subteam^S1>") shown above the verdict.
    """
    docs = sorted((document(d) for d in diagnoses), key=lambda doc: -_rank(doc["status"]))
    if not docs:
        raise ValueError("a diagnosis message needs at least one diagnosis")
    groups = [_diagnosis_blocks(doc, run_id) for doc in docs]
    head = [*([section(mentions, run_id)] if mentions else []), *groups[0][:2]]
    groups[0] = groups[0][2:]
    for group in groups[1:]:
        group.insert(0, {"type": "divider"})
    shown, hidden = buttons[:MAX_BUTTONS], len(buttons) - MAX_BUTTONS
    footer = context(
        f"run {code(run_id)} · details: {code(f'kfops status {run_id}')} · evidence and exact queries "
        "in the thread",
        f"{hidden} more proposals without buttons here: `kfops remediate &lt;id&gt;` from a terminal"
        if hidden > 0
        else "",
        f"source: {escape(docs[0]['source'])}",
        run_id=run_id,
    )
    blocks = _fit(head, groups, [*_actions(shown), footer], run_id)
    return fallback_text(docs, run_id, mentions), blocks


def _rank(status: str) -> int:
    return {"healthy": 0, "inconclusive": 1, "problem": 2}.get(status, 1)


# --------------------------------------------------------------------------- the evidence thread
def _evidence_rung(finding: dict[str, Any], run_id: str) -> list[Block]:
    head = (
        f"{STATUS_ICON[finding['status']]} *{finding['status']}* {code(finding['rung'])} — "
        f"{escape(finding['question'])}\n{escape(finding['summary'])}"
    )
    blocks = [section(head, run_id)]
    lines = [f"{e['query']}    # {e['summary']}" if e["summary"] else e["query"] for e in finding["evidence"]]
    if lines:
        blocks.append(section(_code_block(lines, run_id), run_id))
    return blocks


def _code_block(lines: list[str], run_id: str) -> str:
    """Queries in a code block, closed even when cut (so the marker is not read as code)."""
    body = escape("\n".join(lines)).replace("```", "'''")
    marker = truncation_marker(run_id)
    room = MAX_SECTION_TEXT - len("``````\n") - len(marker)
    if len(body) <= room + len(marker):
        return f"```{body}```"
    return f"```{truncate(body, room, '…')}```\n{marker}"


def evidence_blocks(diagnosis: Diagnosis, run_id: str | None = None) -> list[list[Block]]:
    """The thread replies: per rung its status, summary and the exact queries behind it.

    One list of blocks per reply; rungs are packed into as few replies as the limits allow
    (Slack posts about one message per second per channel). `run_id`: the bot's run, when it
    differs from the engine's.
    """
    doc = document(diagnosis)
    run_id = run_id or str(doc["runId"])
    title = section(
        f"*Evidence* for {code(doc['runbook'])} → {code(_target(doc))} (run {code(run_id)}): "
        "each rung's answer and the exact API requests, to repeat by hand",
        run_id,
    )
    replies: list[list[Block]] = [[title]]
    for finding in doc["findings"]:
        rung = _evidence_rung(finding, run_id)
        current = replies[-1]
        too_many = len(current) + len(rung) > EVIDENCE_BLOCKS_PER_REPLY
        if too_many or text_size(current) + text_size(rung) > MAX_MESSAGE_TEXT:
            replies.append([])
        replies[-1].extend(rung)
    return replies


# --------------------------------------------------------------------------- progress and failures
PROGRESS_ICON = {
    "queued": ":hourglass:",
    "running": ":hourglass_flowing_sand:",
    "done": ":white_check_mark:",
    "failed": ":x:",
}


def progress_message(
    run_id: str, ladder: str, target: str | None, status: str, detail: str = "", *, mentions: str = ""
) -> tuple[str, list[Block]]:
    """A short message edited in place (chat.update) while a ladder runs."""
    where = f"{code(ladder)} → {code(target or 'all targets')}"
    doing = {"queued": "queued", "running": "diagnosing", "done": "finished", "failed": "failed"}.get(
        status, escape(status)
    )
    text = f"{PROGRESS_ICON.get(status, ':hourglass:')} kfops {doing}: {where}"
    if detail:
        text += f"\n{escape(detail)}"
    if mentions:
        text = f"{mentions} {text}"
    blocks = [section(text, run_id), context(f"run {code(run_id)}", run_id=run_id)]
    fallback = truncate(f"kfops {doing}: {escape(ladder)} → {escape(target or 'all targets')}", 200)
    return fallback, blocks


def failure_message(
    run_id: str, ladder: str, target: str | None, error: str, *, mentions: str = ""
) -> tuple[str, list[Block]]:
    """A run that could not produce a diagnosis: say so plainly, with the error kfops got."""
    where = f"{code(ladder)} → {code(target or 'all targets')}"
    text = (
        f":x: *kfops could not diagnose* {where}.\n"
        f"*Error:* {escape(redact_text(error) or 'unknown error')}\n"
        "Nothing was concluded and nothing was changed; retry, or run the ladder from a terminal: "
        f"{code(f'kfops diagnose {ladder}')}"
    )
    if mentions:
        text = f"{mentions}\n{text}"
    blocks = [section(text, run_id), context(f"run {code(run_id)}", run_id=run_id)]
    return truncate(f"kfops could not diagnose {escape(ladder)}: {escape(redact_text(error))}", 500), blocks
