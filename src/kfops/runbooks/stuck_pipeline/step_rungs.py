"""Rungs about the step pods: the scheduler, volumes, the namespace quota, containers that cannot
start, and OOM kills."""

from __future__ import annotations

from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.pipelines.quotas import near_limit, refusals
from kfops.diagnostics.pipelines.steps import missing_object, oom_kills, stuck_containers, unschedulable
from kfops.diagnostics.pipelines.volumes import unbound_claims
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.stuck_pipeline.probes import QUOTAS, STEPS, STORAGE, quotas_of, steps_of, storage_of


# ---------------------------------------------------------------- step-scheduling
def _refused(f: Facts, *kinds: str) -> bool:
    return any(u.kind in kinds for u in unschedulable(steps_of(f)))


def _scheduling_say(f: Facts) -> str:
    found = unschedulable(steps_of(f))
    first = found[0]
    since = f" for {age(first.since, f.now)}" if first.since else ""
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return f"{first.step} cannot be scheduled{since}: {first.message}{more}"


STEP_SCHEDULING = Rung(
    id="step-scheduling",
    question="Is a step pod waiting for the scheduler, and why (GPUs, CPU/memory, taints, affinity)?",
    probes=(STEPS,),
    branches=(
        Branch(
            "gpu-shortage",
            Status.FAIL,
            "no node has the GPUs a step asks for",
            lambda f: _refused(f, "gpu-shortage"),
            _scheduling_say,
        ),
        Branch(
            "insufficient-resources",
            Status.FAIL,
            "no node has the CPU or memory a step asks for",
            lambda f: _refused(f, "insufficient-resources"),
            _scheduling_say,
        ),
        Branch(
            "taint-affinity",
            Status.FAIL,
            "the nodes that could run the step are tainted, cordoned or excluded by affinity/selector",
            lambda f: _refused(f, "taint-affinity"),
            _scheduling_say,
        ),
        Branch(
            "unschedulable",
            Status.FAIL,
            "the scheduler refuses the step for another reason (its message says which)",
            lambda f: _refused(f, "unschedulable"),
            _scheduling_say,
        ),
        Branch(
            "waiting-volume",
            Status.WARN,
            "a step waits for its volume to bind (the step-volumes rung says why)",
            lambda f: _refused(f, "waiting-volume"),
            _scheduling_say,
        ),
    ),
    default=Branch(
        "scheduled",
        Status.OK,
        "no step pod is waiting for the scheduler",
        lambda f: True,
        lambda f: f"no step pod waits for the scheduler ({len(steps_of(f).pods)} step pods)",
    ),
)


# ---------------------------------------------------------------- step-volumes
def _unbound_say(f: Facts) -> str:
    return "; ".join(
        f"PersistentVolumeClaim {u.claim.ref} is {u.claim.phase or 'not bound'}: {u.why}"
        for u in unbound_claims(steps_of(f), storage_of(f))[:3]
    )


def _claims_in_use(f: Facts) -> set[str]:
    return {c for p in steps_of(f).pods for c in p.claims}


STEP_VOLUMES = Rung(
    id="step-volumes",
    question="Are the volumes the steps mount bound, and if not, what does the provisioner say?",
    probes=(STEPS, STORAGE),
    branches=(
        Branch(
            "unbound",
            Status.FAIL,
            "a step's PersistentVolumeClaim is not bound: its StorageClass or provisioner is the cause",
            lambda f: bool(unbound_claims(steps_of(f), storage_of(f))),
            _unbound_say,
        ),
        Branch(
            "none",
            Status.OK,
            "the steps mount no PersistentVolumeClaim",
            lambda f: not _claims_in_use(f),
            lambda f: "no step mounts a PersistentVolumeClaim",
        ),
    ),
    default=Branch(
        "bound",
        Status.OK,
        "every claim the steps mount is bound",
        lambda f: True,
        lambda f: f"the claims the steps mount are bound ({', '.join(sorted(_claims_in_use(f)))})",
    ),
)


# ---------------------------------------------------------------- namespace-quota
def _refusal_say(f: Facts) -> str:
    refusal = refusals(steps_of(f))[0]
    return (
        f"ResourceQuota {refusal.quota} refused a step pod ({refusal.where}): requested {refusal.requested}, "
        f"used {refusal.used}, limited {refusal.limited}"
    )


def _near_say(f: Facts) -> str:
    return "; ".join(
        f"ResourceQuota {q.namespace}/{q.name}: {resource} at {ratio:.0%} "
        f"({q.used.get(resource)} of {q.hard[resource]})"
        for q, resource, ratio in near_limit(quotas_of(f))[:3]
    )


NAMESPACE_QUOTA = Rung(
    id="namespace-quota",
    question="Did a ResourceQuota in the run's namespace refuse a step pod?",
    probes=(STEPS, QUOTAS),
    branches=(
        Branch(
            "exceeded",
            Status.FAIL,
            "a step pod was refused by the namespace's ResourceQuota: it never gets created",
            lambda f: bool(refusals(steps_of(f))),
            _refusal_say,
        ),
        Branch(
            "near-limit",
            Status.WARN,
            "a quota is at 90 % or more of its limit",
            lambda f: bool(near_limit(quotas_of(f))),
            _near_say,
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "no quota refused a step",
        lambda f: True,
        lambda f: (
            f"no quota refusal; {len(quotas_of(f))} ResourceQuotas in the namespace, none near its limit"
        ),
    ),
)


# ---------------------------------------------------------------- step-containers
def _stuck(f: Facts, kind: str) -> bool:
    return any(s.kind == kind for s in stuck_containers(steps_of(f)))


def _stuck_say(f: Facts) -> str:
    found = stuck_containers(steps_of(f))
    first = found[0]
    text = first.describe()
    if first.kind == "config-error":
        missing = missing_object(first.container.message)
        if missing:
            text += f" — {missing[0]} {first.pod.pod.namespace}/{missing[1]} is missing"
    if first.kind == "crashloop" and first.container.last_exit_code is not None:
        text += f" (last exit {first.container.last_reason or '?'} {first.container.last_exit_code})"
    return text + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")


STEP_CONTAINERS = Rung(
    id="step-containers",
    question="Is a step container stuck starting (image pull, missing Secret/ConfigMap, crash loop)?",
    probes=(STEPS,),
    branches=(
        Branch(
            "image-pull",
            Status.FAIL,
            "a step's image cannot be pulled (the registry's error is quoted)",
            lambda f: _stuck(f, "image-pull"),
            _stuck_say,
        ),
        Branch(
            "config-error",
            Status.FAIL,
            "a step container cannot be created: a Secret or ConfigMap (or a key) it needs is missing",
            lambda f: _stuck(f, "config-error"),
            _stuck_say,
        ),
        Branch(
            "crashloop",
            Status.FAIL,
            "a step container crashes on start, again and again",
            lambda f: _stuck(f, "crashloop"),
            _stuck_say,
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "no step container is stuck waiting",
        lambda f: True,
        lambda f: "no step container is stuck waiting",
    ),
)


# ---------------------------------------------------------------- step-oom
def _oom_say(f: Facts) -> str:
    kills = oom_kills(steps_of(f))
    steps = sorted({k.step for k in kills})
    limits = sorted({k.limit for k in kills if k.limit})
    limit = f" against a memory limit of {', '.join(limits)}" if limits else " (memory limit unknown)"
    return f"step {', '.join(steps)} OOMKilled (exit code 137) {len(kills)} time(s){limit}: " + "; ".join(
        k.where for k in kills[:3]
    )


def _no_oom_say(f: Facts) -> str:
    workflow = steps_of(f).workflow
    if workflow is not None and not workflow.nodes_known:
        return "no OOMKilled step in the pods (the Workflow's node status is not in the API object)"
    return "no OOMKilled step in the pods and node statuses"


STEP_OOM = Rung(
    id="step-oom",
    question="Were step containers OOMKilled (exit code 137), and against which memory limit?",
    probes=(STEPS,),
    branches=(
        Branch(
            "oom",
            Status.FAIL,
            "a step ran out of memory: the kernel killed it at its limit",
            lambda f: bool(oom_kills(steps_of(f))),
            _oom_say,
        ),
    ),
    default=Branch(
        "ok",
        Status.OK,
        "no step was OOMKilled",
        lambda f: True,
        _no_oom_say,
    ),
)
