"""Walks a ladder: every probe in a bounded pool, each rung decided in ladder order.

Rules (DESIGN.md §4):
- Fail forward, never hang: a probe that raises becomes an ERROR finding and the ladder goes on;
  a probe that outlives its timeout becomes an ERROR finding; past the diagnosis deadline the
  diagnosis returns what it has, marked incomplete.
- Fast: all probes of a target start at once (rungs are independent questions), and the readers
  are memoised with single-flight, so two rungs asking the same thing cost one request.
- Honest: the verdict is `healthy` only when no rung failed to answer.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from kfops.clients.accounting import Accounting, MemoGaleraReader, MemoKubeReader, MemoPromReader
from kfops.clients.errors import ReaderError
from kfops.clients.protocols import GaleraReader, KfpReader, KubeReader, PromReader
from kfops.diagnostics.context import ProbeContext, failure_evidence
from kfops.model import (
    Conclusion,
    Diagnosis,
    Evidence,
    Facts,
    Finding,
    Findings,
    Ladder,
    Observed,
    Probe,
    Proposal,
    ProposalInput,
    Rung,
    Source,
    Status,
    Verdict,
)
from kfops.settings import Settings


class ProbeTimeout(Exception):
    pass


class DeadlineExceeded(Exception):
    pass


def new_run_id(now: datetime) -> str:
    """Short, sortable, unique enough to find a run in Slack, PagerDuty and the audit log."""
    return f"kf-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RungOutcome:
    findings: tuple[Finding, ...]
    facts: Facts
    deadline_exceeded: bool


class Engine:
    def __init__(
        self,
        kube: KubeReader,
        settings: Settings | None = None,
        prom: PromReader | None = None,
        progress: Callable[[str], None] | None = None,
        galera: GaleraReader | None = None,
        kfp: KfpReader | None = None,
    ) -> None:
        self.settings = settings or Settings()
        #: told "k of n probes answered (name)" as probes finish, so a surface can show a long run
        self.progress = progress
        self.accounting = Accounting()
        self.kube = MemoKubeReader(kube, self.accounting)
        self.prom = MemoPromReader(prom, self.accounting) if prom is not None else None
        self.galera = MemoGaleraReader(galera, self.accounting) if galera is not None else None
        self.kfp = kfp

    def diagnose(
        self, ladder: Ladder, target: str | None = None, deadline_s: float | None = None
    ) -> list[Diagnosis]:
        """One diagnosis for a named target; without one, one per target the sweep selects."""
        deadline = time.monotonic() + (deadline_s or self.settings.deadline_s)
        started = datetime.now(UTC)
        now = self.kube.now()
        pool = ThreadPoolExecutor(self.settings.max_parallel_probes, thread_name_prefix="kfops-probe")
        try:
            if target:
                ladder.check_target(self._context(target, now), target)
                return [self._diagnose_target(ladder, target, now, started, deadline, pool, ())]
            sweep = self._run_rungs((ladder.sweep,), self._context("*", now), pool, deadline)
            targets = () if sweep.findings[0].status is Status.ERROR else ladder.select_targets(sweep.facts)
            if not targets:
                return [
                    self._finish(
                        ladder,
                        "*",
                        now,
                        started,
                        sweep.findings,
                        sweep.facts,
                        sweep.deadline_exceeded,
                    )
                ]
            return [
                self._diagnose_target(ladder, t, now, started, deadline, pool, sweep.findings)
                for t in targets
            ]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _context(self, target: str, now: datetime) -> ProbeContext:
        return ProbeContext(
            kube=self.kube,
            target=target,
            now=now,
            settings=self.settings,
            prom=self.prom,
            galera=self.galera,
            kfp=self.kfp,
        )

    def _diagnose_target(
        self,
        ladder: Ladder,
        target: str,
        now: datetime,
        started: datetime,
        deadline: float,
        pool: ThreadPoolExecutor,
        prelude: tuple[Finding, ...],
    ) -> Diagnosis:
        outcome = self._run_rungs(ladder.rungs, self._context(target, now), pool, deadline)
        return self._finish(
            ladder,
            target,
            now,
            started,
            prelude + outcome.findings,
            outcome.facts,
            outcome.deadline_exceeded,
        )

    def _run_rungs(
        self, rungs: Iterable[Rung], ctx: ProbeContext, pool: ThreadPoolExecutor, deadline: float
    ) -> RungOutcome:
        rungs = tuple(rungs)
        probes: dict[str, Probe] = {}
        for rung in rungs:
            for probe in rung.probes:
                probes.setdefault(probe.name, probe)
        results = self._run_probes(probes, ctx, pool, deadline)
        values = {n: r.value for n, r in results.items() if isinstance(r, Observed)}
        facts = Facts(values, ctx.now)
        findings = tuple(self._decide(rung, results, facts, ctx) for rung in rungs)
        exceeded = any(isinstance(r, DeadlineExceeded) for r in results.values())
        return RungOutcome(findings, facts, exceeded)

    def _run_probes(
        self,
        probes: dict[str, Probe],
        ctx: ProbeContext,
        pool: ThreadPoolExecutor,
        deadline: float,
    ) -> dict[str, Observed | BaseException]:
        started: dict[str, float] = {}

        def run(probe: Probe) -> Observed:
            started[probe.name] = time.monotonic()
            return probe.run(ctx)

        pending: dict[Future[Observed], str] = {pool.submit(run, p): n for n, p in probes.items()}
        results: dict[str, Observed | BaseException] = {}
        timeout = self.settings.probe_timeout_s
        while pending:
            now = time.monotonic()
            if now >= deadline:
                for name in pending.values():
                    results[name] = DeadlineExceeded()
                break
            expiries = [started[n] + timeout for n in pending.values() if n in started]
            wake = min([deadline, *expiries])
            done, _ = wait(pending, timeout=max(0.0, wake - now), return_when=FIRST_COMPLETED)
            for future in done:
                name = pending.pop(future)
                error = future.exception()
                results[name] = error if error is not None else future.result()
                if self.progress is not None:
                    self.progress(f"{len(results)} of {len(probes)} probes answered ({name})")
            now = time.monotonic()
            for future, name in list(pending.items()):
                if name in started and now - started[name] >= timeout:
                    results[name] = ProbeTimeout(f"probe '{name}' gave no answer within {timeout:g} s")
                    del pending[future]
        return results

    def _decide(
        self,
        rung: Rung,
        results: dict[str, Observed | BaseException],
        facts: Facts,
        ctx: ProbeContext,
    ) -> Finding:
        evidence: list[Evidence] = []
        failures: list[str] = []
        for probe in rung.probes:
            result = results[probe.name]
            if isinstance(result, Observed):
                evidence.extend(result.evidence)
                continue
            evidence.append(_failure_evidence(probe, result, ctx.now))
            if not probe.optional:
                failures.append(_explain_failure(probe, result))

        def finding(status: Status, branch: str, summary: str) -> Finding:
            return Finding(
                rung=rung.id,
                question=rung.question,
                status=status,
                summary=summary,
                evidence=tuple(evidence),
                branch=branch,
                subject=ctx.target,
            )

        if failures:
            return finding(Status.ERROR, "probe-failed", "; ".join(dict.fromkeys(failures)))
        try:
            branch = rung.decide(facts)
            return finding(branch.status, branch.id, branch.say(facts))
        except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            # A bug in a rung must not take the whole diagnosis down; it is shown, not hidden.
            return finding(
                Status.ERROR,
                "internal-error",
                f"kfops could not decide this rung ({type(exc).__name__}: {exc}); "
                "please report it with the JSON output",
            )

    def _finish(
        self,
        ladder: Ladder,
        target: str,
        now: datetime,
        started: datetime,
        findings: tuple[Finding, ...],
        facts: Facts,
        deadline_exceeded: bool,
    ) -> Diagnosis:
        found = Findings(findings)
        conclusion = conclude(ladder, found, target, deadline_exceeded)
        finished = datetime.now(UTC)
        proposals: tuple[Proposal, ...] = ()
        if conclusion.verdict is Verdict.PROBLEM:
            expires = now + timedelta(minutes=self.settings.proposal_ttl_min)
            proposals = tuple(
                replace(p, expires_at=expires)
                for p in ladder.propose(ProposalInput(target, conclusion.cause, facts, found, self.settings))
            )
        return Diagnosis(
            run_id=new_run_id(started),
            ladder=ladder.id,
            ladder_title=ladder.title,
            target=target,
            source="; ".join(
                s.describe() for s in (self.kube, self.prom, self.galera, self.kfp) if s is not None
            ),
            started_at=started,
            finished_at=finished,
            findings=findings,
            conclusion=conclusion,
            proposals=proposals,
            stats=self.accounting.snapshot(),
            deadline_exceeded=deadline_exceeded,
            inputs=((ladder.target_input, target),),
        )


def conclude(ladder: Ladder, findings: Findings, target: str, deadline_exceeded: bool) -> Conclusion:
    """The first cause that holds wins; without one, any unanswered rung makes it inconclusive."""
    errors = [f for f in findings.all if f.status is Status.ERROR]
    unchecked = "; ".join(f"{f.rung}: {f.summary}" for f in errors)
    for cause in ladder.causes:
        if cause.when(findings):
            summary = cause.say(findings)
            confidence = cause.confidence
            if errors:
                confidence = "medium" if confidence == "high" else "low"
                summary += f" (not every rung could answer — {len(errors)} failed)"
            return Conclusion(Verdict.PROBLEM, summary, cause.id, confidence)
    if errors or deadline_exceeded:
        why = unchecked or "the diagnosis deadline passed before every rung answered"
        return Conclusion(Verdict.INCONCLUSIVE, f"Could not diagnose {target}: {why}")
    failed = [f for f in findings.all if f.status is Status.FAIL]
    if failed:
        return Conclusion(Verdict.PROBLEM, failed[0].summary, "unclassified", "low")
    warnings = [f.summary for f in findings.all if f.status is Status.WARN]
    note = f" Worth a look: {'; '.join(warnings)}" if warnings else ""
    # a rung whose source had nothing ruled nothing out: say so, never a silent "healthy"
    blind = [f"{f.rung}: {f.summary}" for f in findings.all if f.status is Status.NO_DATA]
    if blind:
        note += f" Not checked: {'; '.join(blind)}"
        return Conclusion(Verdict.HEALTHY, f"No problem found on {subject_of(ladder, target)}.{note}")
    return Conclusion(
        Verdict.HEALTHY,
        f"No problem found on {subject_of(ladder, target)}: every rung ruled out a cause.{note}",
    )


def subject_of(ladder: Ladder, target: str) -> str:
    """What a conclusion talks about: the target, or for a sweep ("*") the ladder's subject."""
    return ladder.subject if target == "*" else target


def _failure_evidence(probe: Probe, error: BaseException, now: datetime) -> Evidence:
    if isinstance(error, ReaderError):
        return failure_evidence(error, now)
    return Evidence(
        source=Source.KUBE,
        query=probe.reads,
        summary=_explain_failure(probe, error),
        observed_at=now,
    )


def _explain_failure(probe: Probe, error: BaseException) -> str:
    if isinstance(error, ReaderError):
        return error.headline
    if isinstance(error, ProbeTimeout):
        return str(error)
    if isinstance(error, DeadlineExceeded):
        return f"probe '{probe.name}' had not answered when the diagnosis deadline passed"
    return f"probe '{probe.name}' failed: {type(error).__name__}: {error}"
