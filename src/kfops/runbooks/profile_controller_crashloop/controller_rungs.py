"""Rungs about the controller itself: its pods, its last log lines, its memory and its probes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.profiles.controller import Container, ContainerLog, image_pulls, oom_kills
from kfops.diagnostics.profiles.logs import CLASSES
from kfops.diagnostics.wording import counted
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.profile_controller_crashloop.probes import (
    CONTROLLER,
    DEPLOYMENT,
    LOGS,
    SETTINGS,
    TARGET,
    controller_of,
    logs_of,
    settings_of,
)


def watched(f: Facts) -> tuple[str, str]:
    s = settings_of(f)
    return s.profile_controller_manager_container, s.profile_controller_kfam_container


def _containers(f: Facts) -> tuple[Container, ...]:
    return tuple(c for c in controller_of(f).containers() if c.name in watched(f))


def _say_exit(c: Container, f: Facts) -> str:
    when = f" {age(c.last_finished, f.now)} ago" if c.last_finished else ""
    code = c.last_exit_code if c.last_exit_code is not None else "?"
    return f"last exit {c.last_reason or '?'} code {code}{when}"


def names(items: list[str]) -> str:
    """ "manager", "manager and kfam", "a, b and c"."""
    unique = list(dict.fromkeys(items))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " and " + unique[-1]


# ---------------------------------------------------------------- sweep
TARGET_RUNG = Rung(
    id="controller-target",
    question="Which Profile controller does kfops examine?",
    probes=(TARGET,),
    branches=(),
    default=Branch(
        "configured",
        Status.OK,
        "the Deployment named by settings.profile_controller_namespace and profile_controller_deployment",
        lambda f: True,
        lambda f: f"the Profile controller {f[TARGET]} (from settings)",
    ),
)


def select_targets(f: Facts) -> tuple[str, ...]:
    target = f.get(TARGET)
    return (str(target),) if target else ()


# ---------------------------------------------------------------- controller-pods
def crashlooping(f: Facts) -> tuple[Container, ...]:
    return tuple(c for c in _containers(f) if c.crashlooping)


def _crash_say(f: Facts) -> str:
    found = crashlooping(f)
    which = names([c.name for c in found])
    both = " (both containers)" if len({c.name for c in found}) > 1 else ""
    details = "; ".join(
        f"{c.name} in pod {c.pod}: {c.restarts} restarts, {_say_exit(c, f)}" for c in found[:4]
    )
    others = [c.describe() for c in _containers(f) if c not in found]
    rest = f"; {', '.join(others)}" if others else ""
    return f"{which}{both} crash-looping in {controller_of(f).ref}: {details}{rest}"


def _not_running(f: Facts) -> bool:
    c = controller_of(f)
    return not c.running() or any(x.name in watched(f) for x in image_pulls(c))


def _not_running_say(f: Facts) -> str:
    c = controller_of(f)
    if not c.pods:
        return f"{c.ref} has no pods (selector {c.selector or 'none'}): check its ReplicaSet's events"
    pulls = [x for x in image_pulls(c) if x.name in watched(f)]
    if pulls:
        x = pulls[0]
        return f"pod {x.pod} container {x.name} cannot pull image {x.image}: {x.reason}: "
        f"{x.message or 'no message'}"
    parts = []
    for pod in c.pods[:3]:
        why = pod.scheduled[2] or pod.scheduled[1]
        parts.append(
            f"pod {pod.name} {pod.phase} for {age(pod.created, f.now)}" + (f": {why}" if why else "")
        )
    return "no pod of " + c.ref + " is Running: " + "; ".join(parts)


def _window(f: Facts) -> timedelta:
    return timedelta(hours=settings_of(f).events_window_h)


def restarted(f: Facts) -> tuple[Container, ...]:
    return tuple(
        c
        for c in _containers(f)
        if c.restarts > 0 and c.last_finished is not None and f.now - c.last_finished <= _window(f)
    )


def _restart_say(f: Facts) -> str:
    found = restarted(f)
    return f"running now, but restarted in the last {settings_of(f).events_window_h:g}h: " + "; ".join(
        f"{c.name} in pod {c.pod} ({c.restarts} restarts, {_say_exit(c, f)})" for c in found
    )


def _healthy_say(f: Facts) -> str:
    c = controller_of(f)
    parts = [f"{x.name} {x.image} running, ready={str(x.ready).lower()}" for x in _containers(f)]
    return f"{c.ref}: {counted(len(c.running()), 'pod')} Running; " + "; ".join(parts)


CONTROLLER_PODS = Rung(
    id="controller-pods",
    question="Is the Profile controller's Deployment there, and are its manager and kfam containers running?",
    probes=(DEPLOYMENT, CONTROLLER, SETTINGS),
    branches=(
        Branch(
            "missing",
            Status.FAIL,
            "the Deployment does not exist",
            lambda f: not controller_of(f).found,
            lambda f: (
                f"Deployment {controller_of(f).ref} does not exist: nothing serves Profiles or kfam "
                "(check settings.profile_controller_namespace / profile_controller_deployment; the "
                "standalone overlay uses profiles-system)"
            ),
        ),
        Branch(
            "crashloop",
            Status.FAIL,
            "manager, kfam or both are in CrashLoopBackOff (which one, exit code and reason)",
            lambda f: bool(crashlooping(f)),
            _crash_say,
        ),
        Branch(
            "not-running",
            Status.FAIL,
            "no pod is Running: Pending (the scheduler's message) or the image cannot be pulled",
            _not_running,
            _not_running_say,
        ),
        Branch(
            "restarting",
            Status.WARN,
            "running now, but a container restarted within events_window_h",
            lambda f: bool(restarted(f)),
            _restart_say,
        ),
    ),
    default=Branch(
        "healthy", Status.OK, "every pod Running, no recent restart", lambda f: True, _healthy_say
    ),
)


# ---------------------------------------------------------------- controller-logs
def _first(f: Facts) -> ContainerLog | None:
    return logs_of(f).first_match()


def _class_is(cls: str) -> Callable[[Facts], bool]:
    def when(f: Facts) -> bool:
        log = _first(f)
        return log is not None and log.match is not None and log.match.cls == cls

    return when


MEANS = {
    "crd-missing": "the API has no Profile kind in the version the controller asks for",
    "istio-crd-missing": "the API has no Istio AuthorizationPolicy (security.istio.io/v1beta1)",
    "unknown-field": "a Profile carries a field the controller cannot decode (strict decoding)",
    "conversion": "a CRD conversion (webhook) between Profile versions fails",
    "rbac-forbidden": "RBAC refuses the controller's ServiceAccount a verb on a resource",
    "inotify": "the file watcher cannot start: the node's inotify limits are exhausted",
    "labels-file": "the namespace-labels file (ConfigMap namespace-labels-data) is missing or invalid",
}
HINT = {
    "crd-missing": "the Profile CRD is missing or does not serve that version",
    "istio-crd-missing": "Istio's AuthorizationPolicy CRD is missing or does not serve v1beta1",
    "unknown-field": "a Profile's spec holds a field this controller does not know",
    "conversion": "converting between Profile versions fails",
    "rbac-forbidden": "RBAC refuses it",
    "inotify": "the node's inotify instances or watches are exhausted",
    "labels-file": "the namespace labels file is missing or unparseable",
}


def _class_say(f: Facts) -> str:
    log = _first(f)
    assert log is not None and log.match is not None
    match = log.match
    extra = ""
    if match.denial is not None:
        d = match.denial
        extra = f" ({d.describe()})"
    elif match.field:
        extra = f" (field {match.field})"
    elif match.api_version:
        extra = f" ({match.kind} in {match.api_version})"
    return f"{log.which} ended with: '{match.quote}' — {HINT[match.cls]}{extra}"


def _crashed(f: Facts) -> bool:
    return bool(logs_of(f).crashed)


def _no_log_say(f: Facts) -> str:
    logs = logs_of(f).logs
    parts = [f"{log.which}: {log.error or 'empty'}" for log in logs]
    return "no readable log of a crashed container: " + "; ".join(parts)


def _unclassified_say(f: Facts) -> str:
    readable = logs_of(f).readable
    log = readable[0]
    return f"{log.which} crashed and its log matches no known cause; its last error lines: " + " | ".join(
        f"'{line}'" for line in log.last_errors()
    )


CONTROLLER_LOGS = Rung(
    id="controller-logs",
    question="What did the crashed container say last (previous log, 100 lines), and which known "
    "failure is it?",
    probes=(LOGS, CONTROLLER, SETTINGS),
    branches=(
        Branch(
            "clean",
            Status.OK,
            "no container crashed: there is no last word to read",
            lambda f: not _crashed(f),
            lambda f: "no container of the controller crashed recently: no previous log to read",
        ),
        *(Branch(cls, Status.FAIL, MEANS[cls], _class_is(cls), _class_say) for cls in CLASSES),
        Branch(
            "no-log",
            Status.NO_DATA,
            "the crashed container's log is unreadable or empty (which one is said)",
            lambda f: not logs_of(f).readable,
            _no_log_say,
        ),
    ),
    default=Branch(
        "unclassified",
        Status.WARN,
        "the container crashed and its log matches no known cause: its last 3 error lines are quoted",
        lambda f: True,
        _unclassified_say,
    ),
)


# ---------------------------------------------------------------- controller-memory
def ooms(f: Facts) -> tuple[str, ...]:
    return tuple(k.describe(f.now) for k in oom_kills(controller_of(f)) if k.container.name in watched(f))


CONTROLLER_MEMORY = Rung(
    id="controller-memory",
    question="Was manager or kfam killed for memory (OOMKilled, exit 137 without a probe kill)?",
    probes=(CONTROLLER, SETTINGS),
    branches=(
        Branch(
            "oom",
            Status.FAIL,
            "a container last terminated OOMKilled (or exit 137 with no liveness kill)",
            lambda f: bool(ooms(f)),
            lambda f: "OOM-killed: " + "; ".join(ooms(f)),
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "no OOM kill",
        lambda f: True,
        lambda f: (
            "no OOM kill: "
            + ", ".join(
                f"{n} limit {controller_of(f).memory.get(n, (None, None))[1] or 'unset'}" for n in watched(f)
            )
        ),
    ),
)


# ---------------------------------------------------------------- controller-probes
def _liveness_kills(f: Facts) -> tuple[str, ...]:
    c = controller_of(f)
    found = []
    for name in watched(f):
        kills = c.probe_kills(name)
        if not kills:
            continue
        failures = [e for e in c.unhealthy("Liveness") if e.container in ("", name)]
        count = sum(e.event.count for e in failures)
        container = next(iter(c.containers(name)), None)
        where = container.probe_where if container else ""
        timing = container.probe_timing if container else ""
        found.append(
            f"{name} killed {sum(e.event.count for e in kills)}× for failing its liveness probe"
            + (f" ({where})" if where else "")
            + (f", {count} failures" if count else "")
            + (f": '{failures[0].event.message}'" if failures else "")
            + (f"; {timing}" if timing else "")
        )
    return tuple(found)


def _readiness(f: Facts) -> str:
    events = controller_of(f).unhealthy("Readiness")
    if not events:
        return ""
    e = events[0]
    return (
        f"readiness probe failed {sum(x.event.count for x in events)}× on pod {e.pod}"
        f"{' container ' + e.container if e.container else ''}: '{e.event.message}'"
    )


CONTROLLER_PROBES = Rung(
    id="controller-probes",
    question="Do liveness or readiness probe failures kill or hide the controller (Unhealthy / "
    "Killing events)?",
    probes=(CONTROLLER, SETTINGS),
    branches=(
        Branch(
            "liveness-failing",
            Status.FAIL,
            "the kubelet kills a container for failing its liveness probe (which, where, how often)",
            lambda f: bool(_liveness_kills(f)),
            lambda f: "; ".join(_liveness_kills(f)),
        ),
        Branch(
            "readiness-failing",
            Status.WARN,
            "the readiness probe fails: the Service sends it no traffic",
            lambda f: bool(_readiness(f)),
            _readiness,
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "no probe failure events",
        lambda f: True,
        lambda f: (
            "no Unhealthy or Killing events about the controller's "
            f"{counted(len(controller_of(f).pods), 'pod')}"
        ),
    ),
)
