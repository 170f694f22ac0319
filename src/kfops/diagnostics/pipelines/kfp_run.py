"""The run as the KFP API server reports it (v2beta1), and why it could not be asked.

The API is a second opinion, never a dependency: when it hangs, fails or refuses the
credentials, the probe says so as data and the ladder diagnoses from the Workflow alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kfops.clients.errors import Forbidden, NotFound, ReaderError, Unauthorized
from kfops.diagnostics.context import ProbeContext, failure_evidence, kfp_evidence
from kfops.diagnostics.kube.timefmt import parse_time
from kfops.diagnostics.pipelines.target import resolve
from kfops.model import Evidence, Observed

#: RuntimeState values of a run that has not finished (v2beta1 run.proto)
ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "PAUSED", "CANCELING", "RUNTIME_STATE_UNSPECIFIED", ""})


@dataclass(frozen=True)
class RunView:
    """answer: "answered", "not-configured", "no-run-id", "unreachable", "unauthorized", "not-found"."""

    answer: str
    run_id: str
    run: dict[str, Any] | None = None
    message: str = ""  # why the API could not answer, in its own words

    @property
    def state(self) -> str:
        return str((self.run or {}).get("state", ""))

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def display_name(self) -> str:
        return str((self.run or {}).get("display_name", ""))

    @property
    def error(self) -> str:
        error = (self.run or {}).get("error") or {}
        return str(error.get("message", "")) if isinstance(error, dict) else ""

    @property
    def created(self) -> datetime | None:
        return parse_time((self.run or {}).get("created_at"))

    @property
    def known(self) -> bool:
        """The API was asked and answered with the run: KFP actions can be offered."""
        return self.answer == "answered"

    def describe(self) -> str:
        name = f" '{self.display_name}'" if self.display_name else ""
        error = f", error: {self.error}" if self.error else ""
        return f"KFP run {self.run_id}{name} is {self.state or 'in no state'}{error}"


def read_kfp_run(ctx: ProbeContext) -> Observed:
    resolved = resolve(ctx)
    run_id = resolved.run_id
    if ctx.kfp is None:
        return Observed(RunView("not-configured", run_id))
    if not run_id:
        return Observed(RunView("no-run-id", ""))
    try:
        fetched = ctx.kfp.get_run(run_id)
    except ReaderError as exc:
        answer = "unreachable"
        if isinstance(exc, NotFound):
            answer = "not-found"
        elif isinstance(exc, Unauthorized | Forbidden):
            answer = "unauthorized"
        evidence: Evidence = failure_evidence(exc, ctx.now)
        return Observed(RunView(answer, run_id, message=exc.headline), (evidence,))
    view = RunView("answered", run_id, dict(fetched.value or {}))
    return Observed(view, (kfp_evidence(fetched, view.describe(), data={"state": view.state}),))
