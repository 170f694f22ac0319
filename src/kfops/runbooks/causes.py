"""Small builders for a ladder's causes: "this rung answered with one of these branches", and a
summary that leads with the cause and quotes the rung's own answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kfops.model import Findings, Proposal, ProposalInput

#: what one cause proposes, given the fingerprints of the findings that justify it
Proposer = Callable[[ProposalInput, tuple[str, ...]], tuple[Proposal, ...]]


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


def proposals_by_cause(
    proposers: Mapping[str, Proposer], rationale: Mapping[str, tuple[str, ...]]
) -> Callable[[ProposalInput], tuple[Proposal, ...]]:
    """A ladder's `propose`: the concluded cause's proposer, justified by the fingerprints of the
    rungs `rationale` names for it; a cause without a proposer proposes nothing.

    A proposer that looks up a fact whose probe failed (LookupError: KeyError, IndexError) proposes
    nothing rather than something built on a value kfops did not read; the rung says ERROR.
    """

    def propose(inp: ProposalInput) -> tuple[Proposal, ...]:
        proposer = proposers.get(inp.cause or "")
        if proposer is None:
            return ()
        try:
            return proposer(inp, inp.findings.fingerprints(*rationale.get(inp.cause or "", ())))
        except LookupError:
            return ()

    return propose
