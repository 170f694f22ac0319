"""Diagnosis → Block Kit: Slack's limits hold for any diagnosis, and untrusted text cannot format or ping."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block as SdkBlock

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.model import Diagnosis, Evidence, Finding, Mode, Proposal, Risk, Source, Status
from kfops.render import slack
from kfops.runbooks.engine import Engine
from kfops.runbooks.registry import find

ROOT = Path(__file__).resolve().parents[2]
STUCK = ROOT / "examples/snapshots/gpu-node-down/node-unreachable-training-stuck"
RUN = "kf-20261120-031200-a1b2c3"


@pytest.fixture(scope="module")
def diagnosis() -> Diagnosis:
    return Engine(SnapshotKubeReader.open(STUCK)).diagnose(find("gpu-node-down"))[0]


def huge(d: Diagnosis, rungs: int = 120, proposals: int = 40) -> Diagnosis:
    """The real diagnosis, blown up: long hostile summaries, many rungs, queries and proposals."""
    nasty = "<!channel> & <@U0> `tick` *bold* " + "x" * 4000 + " password=hunter2"
    evidence = tuple(
        Evidence(Source.KUBE, f"GET /api/v1/nodes/gpu-{n}?labelSelector=a<b", "one " * 200, d.started_at)
        for n in range(30)
    )
    findings = tuple(
        Finding(f"rung-{n}", "Why? <b>", Status.FAIL if n % 3 else Status.WARN, nasty, evidence, "b", "s")
        for n in range(rungs)
    )
    extra = tuple(
        Proposal(
            action=f"node.cordon-{n}",
            target=f"node/gpu-{n}",
            title="Cordon <!here> " + "y" * 500,
            risk=Risk.LOW,
            mode=Mode.APPROVE,
            rationale=(),
            preconditions=("z" * 400,),
        )
        for n in range(proposals)
    )
    return dataclasses.replace(
        d,
        findings=d.findings + findings,
        proposals=d.proposals + extra,
        conclusion=dataclasses.replace(d.conclusion, summary=nasty),
    )


def texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k == "text" and isinstance(v, str)]
        return found + [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def assert_within_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= slack.MAX_BLOCKS
    for parsed in SdkBlock.parse_all(blocks):  # the SDK's own validators (limits, required fields)
        parsed.validate_json()
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= slack.MAX_SECTION_TEXT
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= slack.MAX_HEADER_TEXT
        if block["type"] == "actions":
            assert len(block["elements"]) <= slack.MAX_ACTIONS_ELEMENTS
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= slack.MAX_BUTTON_TEXT
                assert len(element["value"]) <= slack.MAX_BUTTON_VALUE
                assert len(element["action_id"]) <= slack.MAX_ACTION_ID
                assert len(element["confirm"]["title"]["text"]) <= slack.MAX_CONFIRM_TITLE
                assert len(element["confirm"]["text"]["text"]) <= slack.MAX_CONFIRM_TEXT
    assert slack.text_size(blocks) <= slack.MAX_MESSAGE_TEXT


def approve_button(n: int) -> dict[str, Any]:
    return slack.button(
        f"Approve a very long action name number {n} " + "w" * 80,
        f"kfops_approve:{n:012d}",
        "v" * 1999,
        style="danger",
        confirm_dialog=slack.confirm("T" * 200, "t" * 900, danger=True),
    )


def test_the_real_diagnosis_message_has_verdict_cause_failing_rungs_proposals_and_run_id(
    diagnosis: Diagnosis,
) -> None:
    text, blocks = slack.diagnosis_message([diagnosis], RUN, [approve_button(1)], mentions="<@U1> asked")
    assert_within_limits(blocks)
    body = "\n".join(texts(blocks))
    assert "PROBLEM gpu-node-down → gpu-a100-3" in body
    assert "*Cause:* `node-unreachable` (confidence high)" in body
    for rung in ("node-ready", "node-taints", "spare-capacity", "gpu-workloads"):  # FAIL and WARN
        assert f"`{rung}`" in body
    assert "`node-pressure`" not in body  # SKIPPED rungs are in the thread, not the message
    assert "`node.out-of-service-taint` *high risk*" in body
    assert "requires: node gpu-a100-3 is powered off" in body
    assert f"`kfops status {RUN}`" in body
    assert blocks[0]["text"]["text"] == "<@U1> asked"  # trusted mentions kept as mrkdwn
    assert [b["type"] for b in blocks][-2:] == ["actions", "context"]
    assert text.startswith("<@U1> asked kfops: PROBLEM gpu-node-down → gpu-a100-3: The node is down")


def test_a_huge_hostile_diagnosis_stays_within_block_kit_limits_and_says_it_was_cut(
    diagnosis: Diagnosis,
) -> None:
    buttons = [approve_button(n) for n in range(30)]
    text, blocks = slack.diagnosis_message([huge(diagnosis), huge(diagnosis)], RUN, buttons, mentions="<@U1>")
    assert_within_limits(blocks)
    body = "\n".join(texts(blocks))
    assert f"…(truncated, see `kfops status {RUN}`)" in body
    assert blocks[1]["type"] == "header" and "PROBLEM" in blocks[1]["text"]["text"]  # the head is kept
    assert sum(len(b["elements"]) for b in blocks if b["type"] == "actions") == slack.MAX_BUTTONS
    assert "20 more proposals without buttons here: `kfops remediate &lt;id&gt;`" in body
    assert blocks[-1]["type"] == "context"
    assert len(text) <= slack.MAX_FALLBACK_TEXT


def test_untrusted_text_is_escaped_and_secrets_masked(diagnosis: Diagnosis) -> None:
    text, blocks = slack.diagnosis_message([huge(diagnosis, rungs=2, proposals=1)], RUN, [])
    everything = text + json.dumps(blocks)
    assert "<!channel>" not in everything and "<@U0>" not in everything and "<!here>" not in everything
    assert "&lt;!channel&gt; &amp; &lt;@U0&gt;" in everything
    assert "hunter2" not in json.dumps(slack.evidence_blocks(huge(diagnosis, rungs=3)))


def test_truncation_never_splits_an_entity() -> None:
    escaped = slack.escape("<" * 100)
    for limit in range(5, 60):
        cut = slack.truncate(escaped, limit, "…")
        assert len(cut) <= limit
        assert cut[:-1].endswith("&lt;") or cut == "…"


def test_evidence_replies_hold_every_rung_and_its_exact_queries(diagnosis: Diagnosis) -> None:
    replies = slack.evidence_blocks(diagnosis, RUN)
    body = "\n".join(t for reply in replies for t in texts(reply))
    for finding in diagnosis.findings:
        assert f"*{finding.status.value}* `{finding.rung}`" in body
        for evidence in finding.evidence:
            assert slack.escape(evidence.query) in body
    assert f"(run `{RUN}`)" in body
    for reply in replies:
        assert_within_limits(reply)


def test_evidence_of_a_huge_diagnosis_is_split_into_replies_within_limits(diagnosis: Diagnosis) -> None:
    replies = slack.evidence_blocks(huge(diagnosis), RUN)
    assert len(replies) > 1
    for reply in replies:
        assert_within_limits(reply)
        for block in reply:
            if block["text"]["text"].startswith("```"):
                assert block["text"]["text"].count("```") == 2  # a cut code block is still closed


def test_button_limits() -> None:
    with pytest.raises(ValueError, match="exceeds Slack's 2000"):
        slack.button("Approve", "kfops_approve:x", "v" * 2001)
    with pytest.raises(ValueError, match="action_id"):
        slack.button("Approve", "a" * 256, "v")
    element = approve_button(1)
    assert len(element["text"]["text"]) == slack.MAX_BUTTON_TEXT and element["text"]["text"].endswith("…")
    assert element["confirm"]["style"] == "danger" and element["style"] == "danger"


def test_progress_and_failure_messages() -> None:
    text, blocks = slack.progress_message(
        RUN, "gpu-node-down", None, "running", "3 of 9 rungs", mentions="<@U1>"
    )
    assert text == "kfops diagnosing: gpu-node-down → all targets"
    assert blocks[0]["text"]["text"].startswith("<@U1> :hourglass_flowing_sand: kfops diagnosing")
    assert_within_limits(blocks)
    text, blocks = slack.failure_message(RUN, "gpu-node-down", "gpu-1", "ReaderError: token=abc <boom>")
    body = json.dumps(blocks)
    assert "kfops could not diagnose" in body and "&lt;boom&gt;" in body and "abc" not in body
    assert_within_limits(blocks)
