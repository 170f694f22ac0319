"""Rungs about the predictor's pods: their state, memory, probes, evictions and nodes."""

from __future__ import annotations

from kfops.diagnostics.kserve.isvc import MODEL_CONTAINER
from kfops.diagnostics.kserve.knative import Revisions
from kfops.diagnostics.kserve.metrics import PromAbsent
from kfops.diagnostics.kserve.predictor import (
    PROBE_DEFAULTS,
    PredictorPod,
    ProbeSpec,
    crashloops,
    evictions,
    image_pulls,
    model_probe,
    oom_kills,
    oom_said,
    probe_killed,
    probe_trouble,
    starting,
    unschedulable,
    wedged,
)
from kfops.diagnostics.kube.quantity import memory_for_humans, parse_quantity
from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.wording import counted
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.kserve_flapping.probes import (
    ISVC,
    NODES,
    OPTIONAL_REVISIONS,
    PREDICTOR,
    SETTINGS,
    WORKING_SET,
    isvc_of,
    maybe_revisions,
    nodes_of,
    predictor_of,
    settings_of,
    working_set_of,
)
from kfops.runbooks.kserve_flapping.service_rungs import PROMETHEUS_HOWTO

NEAR_LIMIT = 0.9  # a working set at 90 % of the limit is one traffic spike from an OOM kill


# ---------------------------------------------------------------- predictor-pods
def _more(found: tuple[object, ...], shown: int = 1) -> str:
    return f" (and {len(found) - shown} more)" if len(found) > shown else ""


def _image_say(f: Facts) -> str:
    found = image_pulls(predictor_of(f))
    pod, container = found[0]
    image = pod.images.get(container.name, "")
    return (
        f"pod {pod.name} container {container.name} cannot pull image {image}: {container.reason}: "
        f"{container.message or 'no message'}{_more(found)}"
    )


def _pending_say(f: Facts) -> str:
    found = unschedulable(predictor_of(f))
    pod = found[0]
    why = pod.scheduled[2] or pod.scheduled[1]
    return f"pod {pod.name} Pending for {age(pod.created, f.now)}: {why}{_more(found)}"


def _crash_say(f: Facts) -> str:
    predictor = predictor_of(f)
    found = crashloops(predictor)
    pod, container = found[0]
    where = "init container" if container.init else "container"
    text = (
        f"pod {pod.name} {where} {container.name} is crash-looping ({container.restarts} restarts, last exit "
        f"{container.last_reason or '?'} code {container.last_exit_code})"
    )
    log = predictor.log
    if log is not None and log.pod == pod.name and log.container == container.name:
        lines = log.last_lines(3)
        text += ": its previous run ended with " + (" | ".join(lines) if lines else "an empty log")
    return text + _more(found)


def _wedged_say(f: Facts) -> str:
    predictor = predictor_of(f)
    found = wedged(predictor, f.now, settings_of(f).kserve_wedged_after_min)
    pod = found[0]
    minutes = pod.not_ready_min(f.now) or 0.0
    return (
        f"pod {pod.name} has been Running but not Ready for {minutes:.0f} min "
        f"(threshold {settings_of(f).kserve_wedged_after_min:g} min) while "
        f"{counted(len(predictor.ready), 'other replica is', 'other replicas are')} Ready: "
        f"a wedged replica{_more(found)}"
    )


def _zero_pods(f: Facts) -> bool:
    return not predictor_of(f).live


def _not_ready(f: Facts) -> bool:
    return bool(starting(predictor_of(f))) or (_zero_pods(f) and isvc_of(f).min_scale > 0)


def _not_ready_say(f: Facts) -> str:
    predictor = predictor_of(f)
    found = starting(predictor)
    if not found:
        return (
            f"no predictor pod exists although min scale is {isvc_of(f).min_scale}: the autoscaler "
            "and revision "
            "rungs say why"
        )
    shown = "; ".join(
        f"{p.name} {p.pod.phase}, not Ready for {age(p.ready_changed or p.started or p.created, f.now)}"
        f"{_why_not_ready(p)}"
        for p in found[:3]
    )
    if len(predictor.live) == 1:
        return f"the only predictor pod is not Ready yet: {shown}"
    return f"{len(found)} of {len(predictor.live)} predictor pods not Ready yet: {shown}"


def _why_not_ready(pod: PredictorPod) -> str:
    """The containers that are not ready; or, when all still report ready, that only the pod's Ready
    condition says otherwise (the node controller sets it when the node stops reporting)."""
    waiting = [c.describe() for c in pod.pod.containers if not c.ready]
    if waiting:
        return f" ({', '.join(waiting)})"
    if pod.pod.containers:
        return (
            f" (its containers last reported ready: the pod's Ready condition turned False, as when node "
            f"{pod.pod.node or '?'} stops reporting — see predictor-nodes)"
        )
    return ""


def _healthy_say(f: Facts) -> str:
    predictor = predictor_of(f)
    if not predictor.live:
        return f"scaled to zero: no predictor pod runs and min scale is {isvc_of(f).min_scale} (OK)"
    restarts = sum(c.restarts for p in predictor.live for c in p.pod.containers if c.name == MODEL_CONTAINER)
    ready, live = len(predictor.ready), len(predictor.live)
    said = (
        "the only predictor pod is Ready" if live == ready == 1 else f"{ready} of {live} predictor pods Ready"
    )
    return said + (f" ({counted(restarts, 'model-server restart')})" if restarts else "")


PREDICTOR_PODS = Rung(
    id="predictor-pods",
    question="Are the predictor pods running and Ready, and if not, what holds them?",
    probes=(PREDICTOR, ISVC, SETTINGS),
    branches=(
        Branch(
            "image-pull",
            Status.FAIL,
            "a predictor container's image cannot be pulled",
            lambda f: bool(image_pulls(predictor_of(f))),
            _image_say,
        ),
        Branch(
            "pending",
            Status.FAIL,
            "a predictor pod cannot be scheduled (the scheduler's message says why, e.g. "
            "Insufficient nvidia.com/gpu)",
            lambda f: bool(unschedulable(predictor_of(f))),
            _pending_say,
        ),
        Branch(
            "crashloop",
            Status.FAIL,
            "kserve-container or storage-initializer is crash-looping, not from OOM (the last log "
            "lines are quoted)",
            lambda f: bool(crashloops(predictor_of(f))),
            _crash_say,
        ),
        Branch(
            "wedged",
            Status.FAIL,
            "a replica runs but has not been Ready for kserve_wedged_after_min while another "
            "replica is Ready",
            lambda f: bool(wedged(predictor_of(f), f.now, settings_of(f).kserve_wedged_after_min)),
            _wedged_say,
        ),
        Branch(
            "not-ready",
            Status.WARN,
            "a replica is still starting (or none exists although min scale is 1 or more)",
            _not_ready,
            _not_ready_say,
        ),
    ),
    default=Branch(
        "healthy",
        Status.OK,
        "every predictor pod is Ready (or it is scaled to zero with min scale 0)",
        lambda f: True,
        _healthy_say,
    ),
)


# ---------------------------------------------------------------- predictor-memory
def _revision_oom(f: Facts) -> list[str]:
    """Revisions whose condition says the model server was OOM-killed (the pod may be gone)."""
    revisions: Revisions | None = maybe_revisions(f)
    if revisions is None:
        return []
    killed = probe_killed(predictor_of(f).events)  # a revision's ExitCode137 after a probe kill is not OOM
    found = []
    for revision in revisions.revisions:
        problem = revision.problem
        if problem is None:
            continue
        if "OOMKilled" in problem.message or (problem.reason == "ExitCode137" and not killed):
            found.append(f"Revision {revision.name}: {problem.reason}: {problem.message}".rstrip(": "))
    return found


def _limit(f: Facts) -> str | None:
    for pod in predictor_of(f).pods:
        limit = pod.memory.get(MODEL_CONTAINER, (None, None))[1]
        if limit:
            return limit
    return isvc_of(f).resources.memory_limit


def _peak_note(f: Facts) -> str:
    working = working_set_of(f)
    limit = parse_quantity(_limit(f)) if _limit(f) else None
    if working is None or working.peak is None:
        why = (
            PROMETHEUS_HOWTO
            if isinstance(f.get(WORKING_SET), PromAbsent)
            else "no container_memory_working_set_bytes series"
            if working is not None
            else "the Prometheus query failed"
        )
        return f"peak working set unknown: {why}"
    from decimal import Decimal

    peak = Decimal(str(working.peak))
    share = f" = {float(peak / limit):.0%} of the limit" if limit else ""
    return f"peak working set {memory_for_humans(peak)} over {working.window_min:g} min{share}"


def _human(quantity: str) -> str:
    """A quantity from an eviction message (7340032Ki) as people read it (7Gi)."""
    value = parse_quantity(quantity)
    return memory_for_humans(value) if value is not None else quantity


def _near_limit(f: Facts) -> bool:
    working = working_set_of(f)
    limit = parse_quantity(_limit(f)) if _limit(f) else None
    return (
        working is not None
        and working.peak is not None
        and bool(limit)
        and working.peak >= NEAR_LIMIT * float(limit or 0)
    )


def _oom_say(f: Facts) -> str:
    kills = oom_kills(predictor_of(f))
    limit = _limit(f) or "no"
    parts = []
    if kills:
        newest = kills[0]
        when = f" {age(newest.finished, f.now)} ago" if newest.finished else ""
        last = f"the last kill{when} (exit {newest.exit_code})"
        if len({k.pod for k in kills}) > 1:
            last += f" in {newest.pod}"
        parts.append(f"{oom_said(predictor_of(f), kills)} at the {limit} memory limit; {last}")
    revisions = _revision_oom(f)
    if revisions:
        parts.append("; ".join(revisions[:2]))
    return "; ".join(parts) + f"; {_peak_note(f)}"


PREDICTOR_MEMORY = Rung(
    id="predictor-memory",
    question="Is the model server running out of memory (OOMKilled, exit code 137), or close to its limit?",
    probes=(PREDICTOR, ISVC, OPTIONAL_REVISIONS, WORKING_SET),
    branches=(
        Branch(
            "oom",
            Status.FAIL,
            "kserve-container was OOM-killed (reason OOMKilled, or exit code 137 without a probe kill), or a "
            "Revision says so",
            lambda f: bool(oom_kills(predictor_of(f))) or bool(_revision_oom(f)),
            _oom_say,
        ),
        Branch(
            "near-limit",
            Status.WARN,
            "its peak working set reached 90 % of the memory limit",
            _near_limit,
            lambda f: (
                f"kserve-container's {_peak_note(f)} (limit {_limit(f)}): the next spike is an OOM kill"
            ),
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "no OOM kill, and memory below 90 % of the limit (or unknown)",
        lambda f: True,
        lambda f: f"no OOM kill of kserve-container (memory limit {_limit(f) or 'none'}); {_peak_note(f)}",
    ),
)


# ---------------------------------------------------------------- predictor-probes
def _killing_probe(f: Facts) -> tuple[str, ProbeSpec]:
    trouble = probe_trouble(predictor_of(f))
    kind = trouble.killing_kind or "liveness"
    spec = model_probe(predictor_of(f), kind)
    if spec is None:
        delay, period, threshold = PROBE_DEFAULTS
        spec = ProbeSpec(kind, delay, period, threshold, {})
        return kind, spec
    return kind, spec


def _too_short(f: Facts) -> bool:
    trouble = probe_trouble(predictor_of(f))
    killers = [
        e
        for e in trouble.failures
        if e.event.message.startswith(("Startup probe failed", "Liveness probe failed"))
    ]
    return bool(trouble.kills) and bool(killers)


def _too_short_say(f: Facts) -> str:
    trouble = probe_trouble(predictor_of(f))
    kind, spec = _killing_probe(f)
    kills = sum(e.event.count for e in trouble.kills)
    failure = next(e for e in trouble.failures if not e.event.message.startswith("Readiness"))
    return (
        f"the kubelet killed the model server {counted(kills, 'time')} for failing its {kind} probe "
        f"({trouble.kills[0].event.describe(f.now)}); last failure: {failure.event.message}; the "
        f"{spec.arithmetic()}"
        f"{'' if spec.handler else ' (Kubernetes defaults)'} — less than the model takes to load"
    )


def _failing_say(f: Facts) -> str:
    trouble = probe_trouble(predictor_of(f))
    first = trouble.failures[0]
    total = sum(e.event.count for e in trouble.failures)
    pods = len({e.name for e in trouble.failures})
    return (
        f"{counted(total, 'probe failure')} on {counted(pods, 'pod')}, no kill: {first.name}: "
        f"{first.event.describe(f.now)}"
    )


PREDICTOR_PROBES = Rung(
    id="predictor-probes",
    question="Do the model server's probes fail, and does the kubelet kill it before the model has loaded?",
    probes=(PREDICTOR,),
    branches=(
        Branch(
            "probe-too-short",
            Status.FAIL,
            'startup/liveness probe failures and kills ("failed startup probe, will be restarted"): '
            "the model "
            "loads slower than the probe allows (initialDelaySeconds + periodSeconds × failureThreshold)",
            _too_short,
            _too_short_say,
        ),
        Branch(
            "probe-failing",
            Status.WARN,
            "probe failures (Unhealthy), no kills",
            lambda f: bool(probe_trouble(predictor_of(f)).failures),
            _failing_say,
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "no probe failure in the events window",
        lambda f: True,
        lambda f: (
            f"no probe failure on the {counted(len(predictor_of(f).pods), 'predictor pod')} "
            "in the events window"
        ),
    ),
)


# ---------------------------------------------------------------- predictor-evictions
def _evicted_say(f: Facts) -> str:
    found = evictions(predictor_of(f))
    first = found[0]
    usage = "".join(f"; {c} was using {_human(u)}, request {_human(r)}" for c, (u, r) in first.usage.items())
    when = f" {age(first.when, f.now)} ago" if first.when else ""
    return (
        f"pod {first.pod} was evicted from node {first.node or '?'}{when}: the node was low on "
        f"{first.resource or 'a resource'}{usage}{_more(found)}"
    )


PREDICTOR_EVICTIONS = Rung(
    id="predictor-evictions",
    question="Did the kubelet evict predictor pods (node low on memory or disk)?",
    probes=(PREDICTOR,),
    branches=(
        Branch(
            "evicted",
            Status.FAIL,
            "a predictor pod was evicted (status Evicted, or an Evicted event): the node and "
            "resource are named",
            lambda f: bool(evictions(predictor_of(f))),
            _evicted_say,
        ),
    ),
    default=Branch(
        "none",
        Status.OK,
        "no predictor pod was evicted",
        lambda f: True,
        lambda f: "no predictor pod was evicted in the events window",
    ),
)


# ---------------------------------------------------------------- predictor-nodes
def _node_down_say(f: Facts) -> str:
    nodes = nodes_of(f)
    parts = [f"node {name}, which runs predictor pods, no longer exists" for name in nodes.missing]
    for node in nodes.not_ready():
        ready = node.ready
        text = f"node {node.name}, which runs predictor pods, is Ready={node.ready_status}"
        if ready is not None:
            text += f" ({ready.reason}) for {age(ready.since, f.now)}"
        if node.is_gpu_node:
            text += f" — a GPU node: run `kfops diagnose gpu-node-down --node {node.name}`"
        parts.append(text)
    return "; ".join(parts)


def _pressure_say(f: Facts) -> str:
    return (
        "; ".join(
            f"node {n.name} has had {kind} for {age(c.since, f.now)}"
            for n, kind in nodes_of(f).pressure()
            if (c := n.condition(kind)) is not None
        )
        + ": the kubelet evicts pods above their memory request first"
    )


PREDICTOR_NODES = Rung(
    id="predictor-nodes",
    question="Are the nodes running the predictor pods Ready and free of pressure?",
    probes=(NODES,),
    branches=(
        Branch(
            "no-pods",
            Status.SKIPPED,
            "no predictor pod is bound to a node",
            lambda f: not nodes_of(f).nodes and not nodes_of(f).missing,
            lambda f: "not applicable: no predictor pod is bound to a node",
        ),
        Branch(
            "node-not-ready",
            Status.FAIL,
            "a node of a predictor pod is not Ready (or gone); a GPU node points to the gpu-node-down ladder",
            lambda f: bool(nodes_of(f).not_ready() or nodes_of(f).missing),
            _node_down_say,
        ),
        Branch(
            "node-pressure",
            Status.FAIL,
            "a node of a predictor pod has MemoryPressure, DiskPressure or PIDPressure",
            lambda f: bool(nodes_of(f).pressure()),
            _pressure_say,
        ),
    ),
    default=Branch(
        "healthy",
        Status.OK,
        "every node of a predictor pod is Ready, without pressure",
        lambda f: True,
        lambda f: (
            f"{counted(len(nodes_of(f).nodes), 'node')} of the predictor pods Ready, no pressure: "
            + ", ".join(n.name for n in nodes_of(f).nodes)
        ),
    ),
)
