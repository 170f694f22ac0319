"""Small builders for a ladder's causes: "this rung answered with one of these branches", and a
summary that leads with the cause and quotes the rung's own answer."""

from __future__ import annotations

from collections.abc import Callable

from kfops.model import Findings


def answered(rung: str, *branches: str) -> Callable[[Findings], bool]:
    return lambda found: found.branch(rung) in branches


def summary_of(rung: str, prefix: str) -> Callable[[Findings], str]:
    def say(found: Findings) -> str:
        finding = found.get(rung)
        return f"{prefix}: {finding.summary}" if finding else prefix

    return say
