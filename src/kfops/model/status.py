"""The enums every layer shares: a rung's answer, a diagnosis verdict, a proposal's risk and mode."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A rung's answer to its question.

    The order of the members is the order of severity used when several answers are merged.
    """

    OK = "OK"  # ruled out
    SKIPPED = "SKIPPED"  # not applicable (the finding says why)
    NO_DATA = "NO_DATA"  # the source had nothing (the finding says what was searched, where)
    WARN = "WARN"  # suspicious, not the cause on its own
    ERROR = "ERROR"  # the probe failed: forbidden, timeout, unreachable (upstream message kept)
    FAIL = "FAIL"  # cause found

    @property
    def severity(self) -> int:
        return list(Status).index(self)


class Verdict(StrEnum):
    """What a whole diagnosis concluded."""

    HEALTHY = "healthy"
    PROBLEM = "problem"
    INCONCLUSIVE = "inconclusive"

    @property
    def rank(self) -> int:
        """For merging several diagnoses: a problem found outranks an inconclusive one."""
        return {Verdict.HEALTHY: 0, Verdict.INCONCLUSIVE: 1, Verdict.PROBLEM: 2}[self]

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: 0 healthy, 1 problem found, 3 could not diagnose."""
        return {Verdict.HEALTHY: 0, Verdict.PROBLEM: 1, Verdict.INCONCLUSIVE: 3}[self]


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Mode(StrEnum):
    """How a proposal is carried out."""

    APPROVE = "approve"  # kfops can execute it after approval through the gate
    MANUAL = "manual"  # kfops writes the exact steps; a human carries them out


class Source(StrEnum):
    """Where a piece of evidence was read."""

    KUBE = "kube"
    PROMETHEUS = "prometheus"
    GALERA = "galera"
    KFP = "kfp"
