"""kfp.terminate-run and kfp.retry-run through the real gate: approvals, Leases and the audit on the
real API server, the run actions on the loopback KFP stand-in (tests/support/kfp_standin.py),
which answers like the KFP API server — and hangs, fails (503) or refuses credentials (401) when
told to, during the plan or only during the POST.

The KFP client's timeout is 0.5 s here, so a hung API costs each test about a second.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kfops.playbooks import kfp as playbooks
from kfops.playbooks.gate import Gate, Refused
from tests.support.kfp_standin import KfpRequest, KfpStandIn, Mode, kfp_run

from . import test_gate
from .test_gate import People, audit_events, proposal, run_low_risk

# the gate's fixtures (on-call roles, a state namespace, a gate per user), shared with test_gate.py
oncall_roles, settings, people = test_gate.oncall_roles, test_gate.settings, test_gate.people

TOKEN = "kfp-t0k3n"
NAMESPACE = "team-a"
WORKFLOW = "train-pipeline-x7k2p"
TIMEOUT_S = 0.5


class FailingWrites(KfpStandIn):
    """Answers reads; meets every POST with `write_mode` (a hang, a 503, a 401)."""

    def __init__(self, runs: dict[str, dict[str, Any]], write_mode: Mode) -> None:
        super().__init__(runs, token=TOKEN)
        self.write_mode = write_mode

    def _record(self, request: KfpRequest) -> None:
        super()._record(request)
        self.mode = self.write_mode if request.method == "POST" else "ok"


class IgnoredWrites(KfpStandIn):
    """Accepts every POST (200) and changes nothing: an API whose action did not take."""

    @staticmethod
    def _move(run: dict[str, Any], allowed: frozenset[str], to: str, verb: str) -> tuple[int, dict[str, Any]]:
        return 200, {}


def _runs(*states: str) -> dict[str, dict[str, Any]]:
    return {run_id: kfp_run(run_id, state) for run_id, state in ((str(uuid.uuid4()), s) for s in states)}


@pytest.fixture
def kfp() -> Iterator[KfpStandIn]:
    with KfpStandIn(_runs("RUNNING", "FAILED", "SUCCEEDED", "RUNNING"), token=TOKEN) as standin:
        yield standin


def _ids(standin: KfpStandIn, state: str) -> list[str]:
    return [run_id for run_id, run in standin.runs.items() if run["state"] == state]


def _gate(people: People, standin: KfpStandIn, **overrides: Any) -> Gate:
    options = {"kfp_url": standin.url, "kfp_token": TOKEN, "kfp_timeout_s": TIMEOUT_S, **overrides}
    return people.gate("alice", **options)


def _action(action: str, run_id: str) -> Any:
    return proposal(action, f"run/{run_id}", runId=run_id, namespace=NAMESPACE, workflow=WORKFLOW)


def _ref(run_id: str) -> str:
    return f"run {run_id} (Workflow {NAMESPACE}/{WORKFLOW})"


def _posts(standin: KfpStandIn) -> list[str]:
    return [r.path for r in standin.calls("POST")]


# --------------------------------------------------------------------------- the happy paths


def test_terminate_dry_run_reads_the_run_and_sends_nothing(people: People, kfp: KfpStandIn) -> None:
    run_id = _ids(kfp, "RUNNING")[0]
    prepared = _gate(people, kfp).prepare(_action("kfp.terminate-run", run_id), people.who("alice"))
    command = f"POST /apis/v2beta1/runs/{run_id}:terminate [KFP API]"
    assert prepared.dry_run == (
        f"dry-run OK: {command} (not sent: KFP has no dry run; the KFP API {kfp.url} (as a bearer token) "
        "accepted kfops' credentials and shows the run RUNNING; whether they may terminate it is known "
        "only when it runs)",
    )
    assert prepared.access == ()  # RBAC does not govern the KFP API
    assert prepared.plan.diff == (
        f"- {_ref(run_id)}: RUNNING",
        f"+ {_ref(run_id)}: CANCELING, then CANCELED (KFP stops its Workflow: activeDeadlineSeconds 0)",
    )
    assert [s.system for s in prepared.plan.steps] == ["kfp"]
    assert _posts(kfp) == []
    assert kfp.state(run_id) == "RUNNING"
    assert {r.headers.get("authorization") for r in kfp.calls("GET")} == {f"Bearer {TOKEN}"}


def test_an_approved_terminate_cancels_exactly_that_run(
    people: People, kfp: KfpStandIn, settings: Any
) -> None:
    run_id, other = _ids(kfp, "RUNNING")
    executed = run_low_risk(_gate(people, kfp), people.who("alice"), _action("kfp.terminate-run", run_id))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.outcome.summary == f"the KFP API accepted terminate of {_ref(run_id)}"
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary == f"{_ref(run_id)} is CANCELING"
    assert _posts(kfp) == [f"/apis/v2beta1/runs/{run_id}:terminate"]
    assert kfp.state(other) == "RUNNING"
    assert audit_events(settings) == ["requested", "approved", "executed"]


def test_an_approved_retry_runs_the_failed_run_again(people: People, kfp: KfpStandIn, settings: Any) -> None:
    [run_id] = _ids(kfp, "FAILED")
    executed = run_low_risk(_gate(people, kfp), people.who("alice"), _action("kfp.retry-run", run_id))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.summary == f"{_ref(run_id)} is RUNNING"
    assert executed.verification.ok
    assert _posts(kfp) == [f"/apis/v2beta1/runs/{run_id}:retry"]
    assert kfp.state(run_id) == "RUNNING"
    assert audit_events(settings) == ["requested", "approved", "executed"]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("action", "state", "expected"),
    [
        (
            "kfp.terminate-run",
            "SUCCEEDED",
            "{ref} is SUCCEEDED: only a PENDING, RUNNING or PAUSED run can be terminated",
        ),
        ("kfp.retry-run", "RUNNING", "{ref} is RUNNING: only a FAILED run can be retried"),
        ("kfp.retry-run", "SUCCEEDED", "{ref} is SUCCEEDED: only a FAILED run can be retried"),
    ],
)
def test_a_run_in_the_wrong_state_is_refused(
    people: People, kfp: KfpStandIn, action: str, state: str, expected: str
) -> None:
    run_id = _ids(kfp, state)[0]
    with pytest.raises(Refused) as refused:
        _gate(people, kfp).prepare(_action(action, run_id), people.who("alice"))
    assert str(refused.value) == f"cannot plan {action} on run/{run_id}: " + expected.format(ref=_ref(run_id))
    assert _posts(kfp) == []


def test_an_unknown_run_is_refused(people: People, kfp: KfpStandIn) -> None:
    run_id = str(uuid.uuid4())
    with pytest.raises(Refused) as refused:
        _gate(people, kfp).prepare(_action("kfp.terminate-run", run_id), people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan kfp.terminate-run on run/{run_id}: KFP has no run {run_id} "
        "(deleted, or another KFP installation?)"
    )


def test_without_a_kfp_url_nothing_is_planned(people: People, kfp: KfpStandIn) -> None:
    run_id = _ids(kfp, "RUNNING")[0]
    with pytest.raises(Refused) as refused:
        _gate(people, kfp, kfp_url="").prepare(_action("kfp.terminate-run", run_id), people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan kfp.terminate-run on run/{run_id}: the KFP API is not configured: set KFOPS_KFP_URL "
        "(e.g. http://ml-pipeline.kubeflow.svc:8888) for kfops to terminate or retry runs"
    )
    assert kfp.calls() == []


def test_a_proposal_without_a_run_id_is_refused_before_any_call(people: People, kfp: KfpStandIn) -> None:
    bad = proposal("kfp.retry-run", "run/../pipelines", runId="../pipelines", namespace=NAMESPACE)
    with pytest.raises(Refused) as refused:
        _gate(people, kfp).prepare(bad, people.who("alice"))
    assert str(refused.value) == (
        "cannot plan kfp.retry-run on run/../pipelines: kfp.retry-run needs a KFP run id (a UUID) "
        "in its parameters, not '../pipelines'"
    )
    assert kfp.calls() == []


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [("kfp.terminate-run", "RUNNING", "SUCCEEDED"), ("kfp.retry-run", "FAILED", "RUNNING")],
)
def test_a_run_that_changed_after_approval_is_not_touched(
    people: People, kfp: KfpStandIn, settings: Any, action: str, before: str, after: str
) -> None:
    run_id = _ids(kfp, before)[0]
    gate, alice = _gate(people, kfp), people.who("alice")
    prepared = gate.prepare(_action(action, run_id), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    kfp.runs[run_id]["state"] = after  # it finished, or someone retried it, meanwhile
    with pytest.raises(Refused) as refused:
        gate.execute(prepared.plan.id, alice)
    verb = "terminated" if action == "kfp.terminate-run" else "retried"
    allowed = "PENDING, RUNNING or PAUSED" if action == "kfp.terminate-run" else "FAILED"
    assert str(refused.value) == (
        f"the cluster changed since approval: {_ref(run_id)} is {after}: only a {allowed} run can be "
        f"{verb}; nothing was done"
    )
    assert _posts(kfp) == []
    assert "executed" not in audit_events(settings)


# --------------------------------------------------------------------------- verification


def test_an_action_that_did_not_take_fails_verification(
    people: People, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(playbooks, "SETTLE_S", 0.3)
    monkeypatch.setattr(playbooks, "POLL_S", 0.1)
    with IgnoredWrites(_runs("RUNNING"), token=TOKEN) as standin:
        [run_id] = _ids(standin, "RUNNING")
        executed = run_low_risk(
            _gate(people, standin), people.who("alice"), _action("kfp.terminate-run", run_id)
        )
    assert executed.outcome.ok
    assert not executed.verification.ok
    assert executed.verification.summary == (
        f"{_ref(run_id)} is still RUNNING after 0.3 s, not CANCELING, CANCELED or FAILED"
    )


# --------------------------------------------------------------------------- a failing KFP API


def _hung(mode: Mode) -> str:
    return {
        "hang": "no answer in time (GET {url}/apis/v2beta1/runs/{run}): {url} did not answer within 0.5 s",
        "5xx": "GET {url}/apis/v2beta1/runs/{run} failed: HTTP 503: Failed to connect to the database: "
        "dial tcp 10.0.0.7:3306: i/o timeout",
        "401": "the KFP API refused the credentials (GET {url}/apis/v2beta1/runs/{run}): Failed to authorize "
        "with API: Unauthenticated: Request header error: there is no user identity header. "
        "— check KFOPS_KFP_TOKEN / kfp_token_file / kfp_userid",
    }[mode]


@pytest.mark.parametrize("mode", ["hang", "5xx", "401"])
@pytest.mark.parametrize("action", ["kfp.terminate-run", "kfp.retry-run"])
def test_a_failing_api_during_the_plan_is_one_sentence(people: People, action: str, mode: Mode) -> None:
    with KfpStandIn(_runs("RUNNING", "FAILED"), token=TOKEN, mode=mode) as standin:
        run_id = _ids(standin, "RUNNING" if action == "kfp.terminate-run" else "FAILED")[0]
        started = time.monotonic()
        with pytest.raises(Refused) as refused:
            _gate(people, standin).prepare(_action(action, run_id), people.who("alice"))
        took = time.monotonic() - started
        url = standin.url
    assert str(refused.value) == f"cannot plan {action} on run/{run_id}: " + _hung(mode).format(
        url=url, run=run_id
    )
    assert took < 5 * TIMEOUT_S + 3  # bounded by the KFP timeout, never a hang
    assert _posts(standin) == []


def test_a_wrong_token_is_refused_before_anything_is_sent(people: People, kfp: KfpStandIn) -> None:
    run_id = _ids(kfp, "RUNNING")[0]
    with pytest.raises(Refused, match=r"the KFP API refused the credentials .* check KFOPS_KFP_TOKEN"):
        _gate(people, kfp, kfp_token="stale").prepare(
            _action("kfp.terminate-run", run_id), people.who("alice")
        )
    assert _posts(kfp) == []
    assert kfp.state(run_id) == "RUNNING"


@pytest.mark.parametrize(
    ("mode", "tail"),
    [
        (
            "hang",
            "no answer in time (POST {url}/apis/v2beta1/runs/{run}:{verb}): {url} did not answer within "
            "0.5 s; KFP may have acted before the answer was lost, so check the run's state before "
            "trying again",
        ),
        (
            "5xx",
            "POST {url}/apis/v2beta1/runs/{run}:{verb} failed: HTTP 503: Failed to connect to the database: "
            "dial tcp 10.0.0.7:3306: i/o timeout; KFP may have acted before the answer was lost, so check "
            "the run's state before trying again",
        ),
        (
            "401",
            "the KFP API refused the credentials (POST {url}/apis/v2beta1/runs/{run}:{verb}): Failed to "
            "authorize with API: Unauthenticated: Request header error: there is no user identity header. "
            "— check KFOPS_KFP_TOKEN / kfp_token_file / kfp_userid; nothing was changed",
        ),
    ],
)
@pytest.mark.parametrize(("action", "state"), [("kfp.terminate-run", "RUNNING"), ("kfp.retry-run", "FAILED")])
def test_a_failing_api_during_the_action_is_a_failed_outcome(
    people: People, settings: Any, action: str, state: str, mode: Mode, tail: str
) -> None:
    with FailingWrites(_runs(state), write_mode=mode) as standin:
        [run_id] = _ids(standin, state)
        executed = run_low_risk(_gate(people, standin), people.who("alice"), _action(action, run_id))
        url = standin.url
    verb = action.removeprefix("kfp.").removesuffix("-run")
    assert not executed.outcome.ok
    assert executed.outcome.summary == (
        f"stopped at POST /apis/v2beta1/runs/{run_id}:{verb} [KFP API]: "
        + tail.format(url=url, run=run_id, verb=verb)
    )
    assert not executed.verification.ok
    assert len(standin.calls("POST")) == 1  # never repeated
    assert audit_events(settings) == ["requested", "approved", "executed"]
