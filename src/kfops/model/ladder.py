"""Rungs and ladders: the codified runbook, as data.

A ladder is an ordered tuple of rungs. A rung asks one question, runs its probes (in parallel,
in the engine) and decides with ordered branches: the first branch whose condition holds wins,
and a default branch is mandatory, so a rung always answers — never silently.

The model holds no I/O: probes are callables the engine runs with a probe context
(kfops.diagnostics.context.ProbeContext); the model only names them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kfops.model.evidence import Observed
from kfops.model.finding import Finding
from kfops.model.proposal import Proposal
from kfops.model.status import Status

if TYPE_CHECKING:
    from kfops.settings import Settings


@dataclass(frozen=True)
class Probe:
    """A named, read-only question to one source.

    ``run`` takes a ProbeContext and returns Observed. Probes are identified by ``name`` within a
    diagnosis: two rungs using the same probe share one run.
    ``optional`` probes may fail without turning their rung into ERROR: their value is None and
    their failure is kept as evidence.
    """

    name: str
    reads: str  # what it reads, for `kfops explain` (e.g. "GET /api/v1/nodes/{node}")
    run: Callable[[Any], Observed]
    optional: bool = False


class Facts:
    """The values of the probes a rung ran, by probe, and the instant the diagnosis calls now."""

    def __init__(self, values: Mapping[str, Any], now: datetime) -> None:
        self._values = dict(values)
        self.now = now

    def __getitem__(self, probe: Probe) -> Any:
        return self._values[probe.name]

    def get(self, probe: Probe) -> Any:
        return self._values.get(probe.name)


@dataclass(frozen=True)
class Branch:
    """One possible answer of a rung: when ``when`` holds, the rung answers ``status``."""

    id: str
    status: Status
    means: str  # plain words for `kfops explain`
    when: Callable[[Facts], bool]
    say: Callable[[Facts], str]


@dataclass(frozen=True)
class Rung:
    id: str
    question: str
    probes: tuple[Probe, ...]
    branches: tuple[Branch, ...]
    default: Branch  # mandatory: "inconclusive — here is what to check by hand"

    def decide(self, facts: Facts) -> Branch:
        for branch in self.branches:
            if branch.when(facts):
                return branch
        return self.default


class Findings:
    """A diagnosis' findings by rung id, for conclusions and proposals to ask about."""

    def __init__(self, findings: tuple[Finding, ...]) -> None:
        self.all = findings
        self._by_rung = {f.rung: f for f in findings}

    def get(self, rung: str) -> Finding | None:
        return self._by_rung.get(rung)

    def branch(self, rung: str) -> str | None:
        found = self._by_rung.get(rung)
        return found.branch if found else None

    def status(self, rung: str) -> Status | None:
        found = self._by_rung.get(rung)
        return found.status if found else None

    def fingerprints(self, *rungs: str) -> tuple[str, ...]:
        return tuple(self._by_rung[r].fingerprint for r in rungs if r in self._by_rung)


@dataclass(frozen=True)
class Cause:
    """A root cause a ladder can conclude, checked in ladder order: the first that holds wins."""

    id: str
    title: str
    when: Callable[[Findings], bool]
    say: Callable[[Findings], str]
    confidence: str = "high"  # high | medium | low


@dataclass(frozen=True)
class ProposalInput:
    """What a ladder's proposer sees: the target, the cause, every probe value and finding."""

    target: str
    cause: str | None
    facts: Facts
    findings: Findings
    settings: Settings


@dataclass(frozen=True)
class Ladder:
    id: str
    title: str
    meaning: str  # what the alert/incident means, for the runbook page
    impact: str
    target_input: str  # the CLI option naming the target, e.g. "node"
    rungs: tuple[Rung, ...]
    causes: tuple[Cause, ...]
    propose: Callable[[ProposalInput], tuple[Proposal, ...]]
    # Target resolution: `check_target` raises TargetNotFound for a named target that does not
    # exist; without a target, the `sweep` rung runs and `select_targets` picks what to examine.
    check_target: Callable[[Any, str], None]
    sweep: Rung
    select_targets: Callable[[Facts], tuple[str, ...]]
    aliases: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    mitigation: tuple[str, ...] = field(default_factory=tuple)
    #: how to run it, for the runbook page, when the generic "--<target_input> NAME" sentence is wrong
    usage: str = ""
    #: what a sweep examined, for "No problem found on …" (e.g. "the GPU fleet")
    subject: str = "every target the sweep examined"

    @property
    def doc(self) -> str:
        return f"docs/runbooks/{self.id}.md"

    def probes(self) -> tuple[Probe, ...]:
        """Every distinct probe of the ladder's rungs, in first-use order."""
        seen: dict[str, Probe] = {}
        for rung in self.rungs:
            for probe in rung.probes:
                seen.setdefault(probe.name, probe)
        return tuple(seen.values())
