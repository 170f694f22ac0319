"""The /kfops parser: exactly the documented forms, everything else a usage error with the help."""

from __future__ import annotations

import pytest

from kfops.bot.slack_commands import (
    HELP,
    Diagnose,
    Explain,
    Help,
    Runbooks,
    Status,
    UsageError,
    explain_answer,
    parse,
    runbooks_answer,
    status_answer,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("diagnose gpu-node-down gpu-a100-3", Diagnose("gpu-node-down", "gpu-a100-3")),
        ("  diagnose   gpu-node-down  ", Diagnose("gpu-node-down", None)),
        (
            "DIAGNOSE gpu ip-10-0-1-7.eu-west-1.compute.internal",
            Diagnose("gpu-node-down", "ip-10-0-1-7.eu-west-1.compute.internal"),
        ),
        ("runbooks", Runbooks()),
        ("explain gpu-node", Explain("gpu-node-down")),
        ("help", Help()),
        ("", Help()),
        ("status kf-20261120-031200-a1b2c3", Status("kf-20261120-031200-a1b2c3")),
    ],
)
def test_valid_commands(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("diagnose", "needs a runbook"),
        ("diagnose gpu-node-down a b", "at most one target"),
        ("diagnose nope", "unknown runbook 'nope'"),
        ("diagnose ../etc", "is not a runbook name"),
        ("diagnose gpu-node-down GPU_A100", "is not a valid node name"),
        ("diagnose gpu-node-down -gpu", "is not a valid node name"),
        ("diagnose gpu-node-down gpu-" + "a" * 260, "is not a valid node name"),
        ("diagnose gpu-node-down <http://x.io|x.io>", "is not a valid node name"),
        ("status 42", "is not a run id"),
        ("status kf-20261120-031200-A1B2C3", "is not a run id"),
        ("status", "needs exactly one <run-id>"),
        ("explain", "needs exactly one <runbook>"),
        ("help me", "takes no arguments"),
        ("frobnicate now", "unknown command `frobnicate`"),
        ("diagnose " + "x" * 400, "no kfops command needs"),
    ],
)
def test_anything_else_is_a_usage_error_with_the_help(text: str, why: str) -> None:
    with pytest.raises(UsageError) as error:
        parse(text)
    assert why.replace("<", "&lt;").replace(">", "&gt;") in error.value.answer
    assert error.value.answer.endswith(HELP)


def test_user_text_in_errors_is_escaped() -> None:
    with pytest.raises(UsageError) as error:
        parse("<!channel>")
    assert "<!channel>" not in error.value.answer
    assert "&lt;!channel&gt;" in error.value.answer


def test_answers() -> None:
    assert "`gpu-node-down` (also `gpu`, `gpu-node`) — GPU node down or GPUs unusable" in runbooks_answer()
    page = explain_answer("gpu-node-down")
    assert page.startswith("*gpu-node-down: GPU node down or GPUs unusable*")
    assert "<!--" not in page and "**" not in page and len(page) <= 3500
    assert "no run `kf-1` is known" in status_answer("kf-1", None)
    summary = {
        "ladder": "gpu-node-down",
        "target": "gpu-a100-3",
        "status": "done",
        "verdicts": ["problem"],
        "causes": ["node-unreachable"],
        "summaries": ["The node is down <b>"],
        "error": "",
        "links": {"slack": "C1/1.2"},
    }
    answer = status_answer("kf-1", summary)
    assert "*problem* (`node-unreachable`): The node is down &lt;b&gt;" in answer
    assert "slack `C1/1.2`" in answer
