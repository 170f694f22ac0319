"""Small builders for a ladder's causes: "this rung answered with one of these branches", and a
summary that leads with the cause and quotes the rung's own answer."""

from __future__ import annotations

from collections.abc import Callable

from kfops.model import Findings


def answered(rung: str, *branches: str) -> Callable[[Findings], bool]:
    return lambda found: found.branch(rung) in branches


def summary_of(rung: str, prefix: str, *others: str) -> Callable[[Findings], str]:
    """The prefix and the first of these rungs' answers that exists (`others`: fallbacks, e.g. a
    sweep rung that answers the same question before any target is chosen)."""

    def say(found: Findings) -> str:
        finding = next((f for r in (rung, *others) if (f := found.get(r)) is not None), None)
        return f"{prefix}: {finding.summary}" if finding else prefix

    return say


def answered_either(*answers: tuple[str, tuple[str, ...]]) -> Callable[[Findings], bool]:
    """Any of (rung, branches) answered: the same cause seen by a target's rung or by the sweep."""
    return lambda found: any(found.branch(rung) in branches for rung, branches in answers)
