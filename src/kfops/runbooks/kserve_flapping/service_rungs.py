"""Rungs about the InferenceService as a whole: the sweep, its conditions, its deployment mode,
its Knative Revisions and its autoscaler."""

from __future__ import annotations

from datetime import timedelta

from kfops.diagnostics.kserve.isvc import deployment_mode
from kfops.diagnostics.kserve.knative import Revision, Revisions
from kfops.diagnostics.kserve.metrics import ColdStarts, PromAbsent, ReadyFlaps
from kfops.diagnostics.kserve.sweep import MAX_EXAMINED, Candidate, ColdStartStorms, Flapping, candidates
from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.prometheus.kserve_queries import READY_METRIC
from kfops.diagnostics.wording import counted
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.kserve_flapping.probes import (
    AUTOSCALER,
    COLD_START_STORMS,
    COLD_STARTS,
    FLAPPING,
    INVENTORY,
    ISVC,
    READY_FLAPS,
    REVISIONS,
    SETTINGS,
    autoscaler_of,
    cold_starts_of,
    flapping_of,
    flaps_of,
    inventory_of,
    isvc_of,
    revisions_of,
    settings_of,
    storms_of,
)

PROMETHEUS_HOWTO = "no Prometheus is configured (set KFOPS_PROMETHEUS_URL or --prometheus-url)"


# ---------------------------------------------------------------- flapping-services (the sweep)
def _flapping(f: Facts) -> Flapping | None:
    value = flapping_of(f)
    return value if isinstance(value, Flapping) else None


def _storms(f: Facts) -> ColdStartStorms | None:
    value = storms_of(f)
    return value if isinstance(value, ColdStartStorms) else None


def _found(f: Facts) -> tuple[Candidate, ...]:
    return candidates(inventory_of(f), _flapping(f), _storms(f))


def _candidates(f: Facts) -> tuple[str, ...]:
    return tuple(c.ref for c in _found(f))


def _unchecked(value: object) -> str | None:
    """Why an optional history was not checked, or None when it was."""
    if isinstance(value, Flapping | ColdStartStorms):
        return None
    if isinstance(value, PromAbsent):
        return PROMETHEUS_HOWTO
    return "the Prometheus query failed (see the evidence)"


def _history_notes(f: Facts, *, found: bool) -> list[str]:
    """What the histories said (none found) or why they were not checked."""
    s = settings_of(f)
    flap_why, storm_why = _unchecked(flapping_of(f)), _unchecked(storms_of(f))
    if flap_why and flap_why == storm_why:
        return [f"flap and cold-start history not checked: {flap_why}"]
    notes = []
    if flap_why:
        notes.append(f"flap history not checked: {flap_why}")
    elif not found:
        notes.append(
            f"none changed Ready more than {s.kserve_flap_changes} times in {s.kserve_flap_window_min:g} min"
        )
    if storm_why:
        notes.append(f"cold-start history not checked: {storm_why}")
    elif not found:
        notes.append(f"none scaled up from zero {s.kserve_slo_cold_starts_per_h:g}+ times in the last hour")
    return notes


def _sweep_say(f: Facts) -> str:
    found = _found(f)
    shown = "; ".join(f"{c.ref} ({c.why})" for c in found[:MAX_EXAMINED])
    more = f" (and {len(found) - MAX_EXAMINED} more, not examined)" if len(found) > MAX_EXAMINED else ""
    down = sum(c.down for c in found)
    flapping = sum(not c.down and c.flaps is not None for c in found)
    storms = len(found) - down - flapping
    parts = ((down, "not Ready"), (flapping, "flapping"), (storms, "cold-starting too often"))
    counts = ", ".join(f"{n} {what}" for n, what in parts if n)
    notes = "".join(f"; {n}" for n in _history_notes(f, found=True))
    return f"{counts}: {shown}{more}{notes}"


def _none_say(f: Facts) -> str:
    notes = "; ".join(_history_notes(f, found=False))
    n = len(inventory_of(f).services)
    said = (
        "the only InferenceService is Ready or stopped"
        if n == 1
        else f"{n} InferenceServices, every one Ready or stopped"
    )
    return f"{said}; {notes}"


SWEEP_RUNG = Rung(
    id="flapping-services",
    question="Which InferenceServices are not Ready now, have flapped, or cold-start too often?",
    probes=(INVENTORY, FLAPPING, COLD_START_STORMS, SETTINGS),
    branches=(
        Branch(
            "found",
            Status.FAIL,
            "an InferenceService is not Ready, its Ready condition flipped more than kserve_flap_changes "
            "times in the window, or it scaled up from zero at least kserve_slo_cold_starts_per_h times in "
            "the last hour (the worst few are examined)",
            lambda f: bool(_candidates(f)),
            _sweep_say,
        ),
    ),
    default=Branch(
        "none",
        Status.OK,
        "every InferenceService is Ready (or stopped on purpose), none flapped, none cold-starts too often",
        lambda f: True,
        _none_say,
    ),
)


def select_targets(f: Facts) -> tuple[str, ...]:
    return _candidates(f)[:MAX_EXAMINED]


# ---------------------------------------------------------------- isvc-conditions
def _count(f: Facts) -> float | None:
    value = flaps_of(f)
    return value.changes if isinstance(value, ReadyFlaps) else None


def _unknown_why(f: Facts) -> str:
    value = flaps_of(f)
    if isinstance(value, PromAbsent):
        return PROMETHEUS_HOWTO
    if value is None:
        return "the Prometheus query failed (see the evidence)"
    return f"{READY_METRIC} is absent — add deploy/prometheus/ksm-inferenceservice.yaml to kube-state-metrics"


def _flap_note(f: Facts) -> str:
    count, window = _count(f), settings_of(f).kserve_flap_window_min
    if count is None:
        return f"flap count unknown: {_unknown_why(f)}"
    if count == 0:
        return f"Ready has not changed in the last {window:g} min"
    times = "once" if count == 1 else f"{count:.0f} times"
    return f"Ready changed {times} in the last {window:g} min"


def _flapping_now(f: Facts) -> bool:
    count = _count(f)
    return count is not None and count > settings_of(f).kserve_flap_changes


def _recovered(f: Facts) -> bool:
    isvc = isvc_of(f)
    if not isvc.ready_now:
        return False
    count = _count(f)
    if count is not None:
        return count >= 1
    ready = isvc.ready
    window = timedelta(minutes=settings_of(f).kserve_flap_window_min)
    start = f.now - window
    return (
        ready is not None
        and ready.since is not None
        and ready.since >= start
        and (isvc.created is None or isvc.created < start)
    )


def _down_say(f: Facts) -> str:
    isvc = isvc_of(f)
    failing = "; ".join(c.describe(f.now) for c in isvc.failing_conditions[:4])
    return f"InferenceService {isvc.ref} is not Ready: {failing}; {_flap_note(f)}"


def _flapping_say(f: Facts) -> str:
    isvc = isvc_of(f)
    s = settings_of(f)
    ready = isvc.ready
    now = (
        f"Ready={ready.status}" + (f" ({ready.reason})" if ready and ready.reason else "")
        if ready
        else "no Ready"
    )
    return (
        f"InferenceService {isvc.ref} is flapping: Ready changed {_count(f):.0f} times in the last "
        f"{s.kserve_flap_window_min:g} min (more than {s.kserve_flap_changes}); now {now} for "
        f"{age(ready.since if ready else None, f.now)}"
    )


def _ready_say(f: Facts) -> str:
    isvc = isvc_of(f)
    ready = isvc.ready
    since = age(ready.since if ready else None, f.now)
    return f"InferenceService {isvc.ref} Ready=True for {since}; {_flap_note(f)}"


def _recovered_say(f: Facts) -> str:
    isvc = isvc_of(f)
    ready = isvc.ready
    since = age(ready.since if ready else None, f.now)
    if _count(f) is not None:
        return f"InferenceService {isvc.ref} is Ready again for {since}, but {_flap_note(f)}"
    return (
        f"InferenceService {isvc.ref} became Ready only {since} ago, inside the "
        f"{settings_of(f).kserve_flap_window_min:g}-min window; {_flap_note(f)}"
    )


ISVC_CONDITIONS = Rung(
    id="isvc-conditions",
    question="Is the InferenceService Ready now, and how often did Ready change in the window?",
    probes=(ISVC, READY_FLAPS, SETTINGS),
    branches=(
        Branch(
            "unreconciled",
            Status.FAIL,
            "it has no conditions: the KServe controller has not reconciled it",
            lambda f: not isvc_of(f).conditions,
            lambda f: (
                f"InferenceService {isvc_of(f).ref} has no status conditions "
                f"{age(isvc_of(f).created, f.now)} after "
                "creation: the KServe controller (kserve-controller-manager) has not reconciled it"
            ),
        ),
        Branch(
            "stopped",
            Status.WARN,
            "it is stopped on purpose (condition Stopped, annotation serving.kserve.io/stop)",
            lambda f: isvc_of(f).stopped,
            lambda f: (
                f"InferenceService {isvc_of(f).ref} is stopped on purpose (serving.kserve.io/stop): "
                "it serves "
                "nothing until the annotation is removed"
            ),
        ),
        Branch(
            "flapping",
            Status.FAIL,
            "Ready changed more than kserve_flap_changes times in kserve_flap_window_min "
            "(Prometheus history)",
            _flapping_now,
            _flapping_say,
        ),
        Branch(
            "down",
            Status.FAIL,
            "Ready is False or Unknown: each failing condition is named with its reason and since when",
            lambda f: not isvc_of(f).ready_now,
            _down_say,
        ),
        Branch(
            "recovered",
            Status.WARN,
            "Ready now, but it changed within the window",
            _recovered,
            _recovered_say,
        ),
    ),
    default=Branch("ready", Status.OK, "Ready, and steady through the window", lambda f: True, _ready_say),
)


# ---------------------------------------------------------------- deployment-mode
def _mode_say(f: Facts) -> str:
    isvc = isvc_of(f)
    mode = deployment_mode(isvc, settings_of(f).kserve_default_deployment_mode)
    scaler = f", autoscaler class {isvc.autoscaler_class}" if isvc.autoscaler_class else ""
    return f"{isvc.ref} runs in {mode.mode} mode (from {mode.source}){scaler}"


def _mode(f: Facts) -> str:
    return deployment_mode(isvc_of(f), settings_of(f).kserve_default_deployment_mode).mode


DEPLOYMENT_MODE = Rung(
    id="deployment-mode",
    question="Which deployment mode serves it: Knative (Serverless), Standard (RawDeployment) or ModelMesh?",
    probes=(ISVC, SETTINGS),
    branches=(
        Branch(
            "modelmesh",
            Status.WARN,
            "ModelMesh: its pods and autoscaling are not covered by this ladder",
            lambda f: _mode(f) == "ModelMesh",
            lambda f: (
                _mode_say(f) + ": ModelMesh is not covered by this ladder; check the modelmesh-serving pods"
            ),
        ),
        Branch(
            "standard",
            Status.OK,
            "Standard (RawDeployment): a Deployment and an HPA, no Knative Revisions",
            lambda f: _mode(f) == "Standard",
            _mode_say,
        ),
    ),
    default=Branch(
        "knative", Status.OK, "Knative (Serverless): Revisions, a PodAutoscaler", lambda f: True, _mode_say
    ),
)


# ---------------------------------------------------------------- revisions
def _revs(f: Facts) -> Revisions:
    return revisions_of(f)


def _created(f: Facts) -> Revision | None:
    return _revs(f).latest_created


def _has_ready(f: Facts) -> bool:
    revs = _revs(f)
    return bool(revs.isvc.latest_ready) or any(r.ready for r in revs.revisions)


def _given_up(f: Facts, revision: Revision) -> bool:
    """Knative marked it failed, or it has been unready past its progress deadline."""
    if revision.failed:
        return True
    return (
        revision.created is not None
        and (f.now - revision.created).total_seconds() >= revision.progress_deadline_s
    )


def _pending(f: Facts) -> Revision | None:
    """The newest Revision when it is not the Ready one that serves."""
    created = _created(f)
    if created is None or created.ready:
        return None
    return created


def _stuck(f: Facts) -> bool:
    pending = _pending(f)
    return pending is not None and _has_ready(f) and _given_up(f, pending)


def _traffic(f: Facts) -> str:
    rows = [
        f"{t.revision or '(latest)'} {t.percent if t.percent is not None else '?'} %"
        + (f" (tag {t.tag})" if t.tag else "")
        for t in isvc_of(f).traffic
    ]
    return ", ".join(rows) or "no traffic table"


def _serving_name(f: Facts) -> str:
    serving = _revs(f).serving
    return serving.name if serving else isvc_of(f).latest_ready or "no Revision"


def _pods(n: int | None) -> str:
    return counted(n, "pod") if n is not None else "? pods"


def _pending_say(f: Facts, what: str) -> str:
    pending = _pending(f)
    assert pending is not None
    return (
        f"{what} Revision {pending.name}, created {age(pending.created, f.now)} ago (progress deadline "
        f"{pending.progress_deadline_s:g} s), is not Ready — {pending.describe()}; {_serving_name(f)} still "
        f"serves (traffic: {_traffic(f)})"
    )


def _canary_say(f: Facts) -> str:
    isvc = isvc_of(f)
    share = (
        f"canaryTrafficPercent {isvc.canary_percent} %"
        if isvc.canary_percent is not None
        else "split traffic"
    )
    return _pending_say(f, f"The canary ({share})")


def _no_ready_say(f: Facts) -> str:
    created = _created(f)
    isvc = isvc_of(f)
    if created is None:
        return f"no Revision of {isvc.predictor} exists: Knative has created none (check the Knative Service)"
    return (
        f"no Revision of {isvc.predictor} has ever been Ready: {created.describe()} "
        f"(created {age(created.created, f.now)} ago)"
    )


REVISIONS_RUNG = Rung(
    id="revisions",
    question="Is the newest Knative Revision Ready, and which Revision takes the traffic?",
    probes=(REVISIONS, ISVC),
    branches=(
        Branch(
            "not-knative",
            Status.SKIPPED,
            "not Knative mode: there are no Revisions",
            lambda f: not _revs(f).applicable,
            lambda f: (
                f"not applicable: {isvc_of(f).ref} runs in {_revs(f).mode.mode} mode (no Knative Revisions)"
            ),
        ),
        Branch(
            "not-reconciled",
            Status.SKIPPED,
            "the InferenceService has no status yet: KServe created nothing to examine",
            lambda f: not isvc_of(f).has_status and not _revs(f).revisions,
            lambda f: f"not examined: {isvc_of(f).ref} has no status, so KServe has created no Revision yet",
        ),
        Branch(
            "no-ready-revision",
            Status.FAIL,
            "no Revision has ever been Ready (nothing serves)",
            lambda f: not _has_ready(f) and (_created(f) is None or _given_up(f, _created(f))),  # type: ignore[arg-type]
            _no_ready_say,
        ),
        Branch(
            "canary-failing",
            Status.FAIL,
            "the newest Revision failed while traffic is split (a canary); the old Revision serves",
            lambda f: _stuck(f) and isvc_of(f).split,
            _canary_say,
        ),
        Branch(
            "rollout-stuck",
            Status.FAIL,
            "the newest Revision failed or passed its progress deadline (ProgressDeadlineExceeded, "
            "ExitCode137); "
            "the old Revision serves",
            _stuck,
            lambda f: _pending_say(f, "The new"),
        ),
        Branch(
            "rolling-out",
            Status.WARN,
            "the newest Revision is not Ready yet, within its progress deadline (600 s or "
            "serving.knative.dev/progress-deadline)",
            lambda f: _pending(f) is not None,
            lambda f: _pending_say(f, "The new"),
        ),
    ),
    default=Branch(
        "ready",
        Status.OK,
        "the newest Revision is Ready and serves",
        lambda f: True,
        lambda f: f"the newest Revision {_serving_name(f)} is Ready; traffic: {_traffic(f)}",
    ),
)


# ---------------------------------------------------------------- autoscaler
def _cold(f: Facts) -> float | None:
    value = cold_starts_of(f)
    return value.count if isinstance(value, ColdStarts) else None


def _cold_note(f: Facts) -> str:
    value = cold_starts_of(f)
    if isinstance(value, ColdStarts) and value.count is not None:
        return f"{value.count:.0f} cold starts in the last {value.window_min:g} min"
    if isinstance(value, PromAbsent):
        return f"cold starts unknown: {PROMETHEUS_HOWTO}"
    if value is None:
        return "cold starts unknown: the Prometheus query failed (see the evidence)"
    return "cold starts unknown: no kube_deployment_spec_replicas series for its revision Deployments"


def _storm(f: Facts) -> bool:
    cold = _cold(f)
    return (
        autoscaler_of(f).scale_to_zero
        and cold is not None
        and cold >= settings_of(f).kserve_slo_cold_starts_per_h
    )


def _short(f: Facts) -> bool:
    scaler = autoscaler_of(f).scaler
    return (
        scaler is not None
        and scaler.desired is not None
        and scaler.actual is not None
        and scaler.desired > 0
        and scaler.actual >= 0
        and scaler.desired > scaler.actual
    )


def _scaler_say(f: Facts) -> str:
    auto = autoscaler_of(f)
    scaler = auto.scaler
    assert scaler is not None
    return f"{scaler.describe()}; min scale {auto.min_scale}"


AUTOSCALER_RUNG = Rung(
    id="autoscaler",
    question="What does the autoscaler want, what does it have, and does scale-to-zero cold-start too often?",
    probes=(AUTOSCALER, COLD_STARTS, SETTINGS),
    branches=(
        Branch(
            "no-autoscaler",
            Status.WARN,
            "the PodAutoscaler (Knative) or HPA (Standard) is missing",
            lambda f: autoscaler_of(f).scaler is None,
            lambda f: f"no autoscaler: {autoscaler_of(f).looked_for} not found",
        ),
        Branch(
            "cold-start-storm",
            Status.FAIL,
            "it scales to zero (min scale 0) and cold-starts at least kserve_slo_cold_starts_per_h "
            "times an hour",
            _storm,
            lambda f: (
                f"{_cold(f):.0f} cold starts in the last hour (SLO: fewer than "
                f"{settings_of(f).kserve_slo_cold_starts_per_h:g}): min scale 0 lets it scale to "
                "zero between "
                f"requests, and each request after that waits for a pod and a model load; {_scaler_say(f)}"
            ),
        ),
        Branch(
            "cannot-scale",
            Status.FAIL,
            "the autoscaler wants more pods than it has",
            _short,
            lambda f: (
                f"the autoscaler wants {_pods(autoscaler_of(f).scaler.desired)} and has "  # type: ignore[union-attr]
                f"{autoscaler_of(f).scaler.actual}: {_scaler_say(f)}"  # type: ignore[union-attr]
            ),
        ),
        Branch(
            "scale-to-zero",
            Status.OK,
            "it scales to zero, with cold starts below the SLO (or not countable)",
            lambda f: autoscaler_of(f).scale_to_zero,
            lambda f: f"{_scaler_say(f)}: scales to zero; {_cold_note(f)}",
        ),
    ),
    default=Branch(
        "steady",
        Status.OK,
        "the autoscaler has what it wants",
        lambda f: True,
        _scaler_say,
    ),
)
