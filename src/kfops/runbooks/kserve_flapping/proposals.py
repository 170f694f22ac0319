"""What the kserve-flapping ladder proposes for each cause.

Executable proposals change one field of the InferenceService through the gate — minReplicas,
the model server's memory, the concurrency target, the canary percentage — or delete one wedged
replica; every one carries the InferenceService's uid and the value it had at diagnosis time, so
the plan refuses a changed object. Everything else (a node, an image, a probe, the scheduler) is
written out as exact manual steps with the real names.

Memory arithmetic (contract): an OOM kill raises the limit × 1.5, rounded up to 256Mi, and sets
the request to the new limit (a request below the limit ranks the pod first for eviction); an
eviction raises the request to max(peak working set × 1.2, current request), rounded up to
256Mi, and the limit to at least the request.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

from kfops.diagnostics.kserve.isvc import MODEL_CONTAINER, InferenceService
from kfops.diagnostics.kserve.predictor import (
    PredictorPod,
    ProbeSpec,
    crashloops,
    evictions,
    image_pulls,
    model_probe,
    oom_kills,
    oom_said,
    probe_trouble,
    unschedulable,
    wedged,
)
from kfops.diagnostics.kube.quantity import memory_for_humans, parse_quantity
from kfops.model import Facts, Mode, Proposal, ProposalInput, Risk
from kfops.runbooks.causes import Proposer, proposals_by_cause
from kfops.runbooks.kserve_flapping.probes import (
    ISVC,
    autoscaler_of,
    nodes_of,
    predictor_of,
    revisions_of,
    settings_of,
    working_set_of,
)
from kfops.runbooks.kserve_flapping.traffic_rungs import calibration, configured_target

#: the rungs whose findings justify each cause's proposals
RATIONALE = {
    "node-not-ready": ("predictor-nodes", "predictor-pods"),
    "node-pressure-evictions": ("predictor-evictions", "predictor-nodes", "predictor-memory"),
    "canary-failing": ("revisions", "isvc-conditions"),
    "image-pull": ("predictor-pods",),
    "oom-killed": ("predictor-memory", "predictor-pods"),
    "probe-too-short": ("predictor-probes", "predictor-pods"),
    "rollout-stuck": ("revisions", "isvc-conditions"),
    "unschedulable": ("predictor-pods", "autoscaler"),
    "cold-start-storm": ("autoscaler", "slo"),
    "concurrency-target-off": ("concurrency", "slo"),
    "wedged-replica": ("predictor-pods",),
    "predictor-crashloop": ("predictor-pods",),
    "cannot-scale": ("autoscaler", "predictor-pods"),
    "slo-breached": ("slo", "concurrency"),
    "flapping-unexplained": ("isvc-conditions", "flapping-services"),
}
OOM_FACTOR = Decimal("1.5")
EVICTION_FACTOR = Decimal("1.2")
MEMORY_STEP = Decimal(256 * 2**20)  # 256Mi
#: a startup probe lengthened for a slow model gives it at least this long to load
MIN_LOAD_ALLOWANCE_S = 600


def round_up(value: Decimal) -> Decimal:
    """Up to the next multiple of 256Mi: memory the scheduler and a human both read easily."""
    return Decimal(math.ceil(value / MEMORY_STEP)) * MEMORY_STEP


def _isvc(f: Facts) -> InferenceService:
    value = f.get(ISVC)
    if not isinstance(value, InferenceService):
        raise KeyError("isvc")
    return value


def _target(isvc: InferenceService) -> str:
    return f"inferenceservice/{isvc.namespace}/{isvc.name}"


def _params(isvc: InferenceService, **extra: object) -> dict[str, object]:
    return {
        "namespace": isvc.namespace,
        "name": isvc.name,
        "uid": isvc.uid,
        "component": "predictor",
        **extra,
    }


def _manual(action: str, target: str, title: str, why: tuple[str, ...], *steps: str) -> Proposal:
    return Proposal(
        action=action, target=target, title=title, risk=Risk.LOW, mode=Mode.MANUAL, rationale=why, steps=steps
    )


def _patch(isvc: InferenceService, body: object, kind: str = "merge") -> str:
    return (
        f"kubectl -n {isvc.namespace} patch inferenceservice {isvc.name} --type {kind} "
        f"-p '{json.dumps(body, separators=(',', ':'))}'"
    )


# ---------------------------------------------------------------- memory
def _effective_memory(f: Facts) -> tuple[Decimal | None, Decimal | None]:
    """The model server's (request, limit) as running: the pod's, else the InferenceService's."""
    isvc = _isvc(f)
    request, limit = isvc.resources.memory_request, isvc.resources.memory_limit
    for pod in predictor_of(f).pods:
        pod_request, pod_limit = pod.memory.get(MODEL_CONTAINER, (None, None))
        request, limit = pod_request or request, pod_limit or limit
        if pod_request or pod_limit:
            break
    return (parse_quantity(request) if request else None, parse_quantity(limit) if limit else None)


def _peak(f: Facts) -> tuple[Decimal | None, str]:
    """The highest working set seen: Prometheus, else what the kubelet's eviction message says."""
    working = working_set_of(f)
    if working is not None and working.peak is not None:
        return Decimal(str(working.peak)), "peak working set"
    for eviction in evictions(predictor_of(f)):
        using = eviction.usage.get(MODEL_CONTAINER)
        if using and (value := parse_quantity(using[0])) is not None:
            return value, "usage at eviction"
    return None, ""


def _h(value: Decimal | None) -> str:
    return memory_for_humans(value) if value is not None else "unset"


def _set_resources(
    f: Facts, why: tuple[str, ...], request: Decimal, limit: Decimal, arithmetic: str, reason: str
) -> Proposal:
    isvc = _isvc(f)
    current_request, current_limit = isvc.resources.memory_request, isvc.resources.memory_limit
    new_request, new_limit = memory_for_humans(request), memory_for_humans(limit)
    return Proposal(
        action="kserve.set-resources",
        target=_target(isvc),
        title=f"Give {isvc.ref}'s model server {new_request} of memory (request) and {new_limit} "
        f"(limit): {reason}",
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            f"InferenceService {isvc.ref} still has uid {isvc.uid}",
            f"its memory request is still {current_request or 'unset'} and its limit "
            f"{current_limit or 'unset'}",
        ),
        rollback=f"set the memory back to request {current_request or 'unset'}, "
        f"limit {current_limit or 'unset'} "
        "(a new Revision rolls out either way)",
        params=_params(
            isvc,
            container=isvc.resources.container if isvc.resources.where == "containers" else MODEL_CONTAINER,
            memory_request=new_request,
            memory_limit=new_limit,
            current_request=current_request,
            current_limit=current_limit,
            arithmetic=arithmetic,
        ),
    )


def _oom(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    request, limit = _effective_memory(f)
    peak, _ = _peak(f)
    base, what = (
        (limit, "limit") if limit else (request, "request") if request else (peak, "peak working set")
    )
    if base is None:
        return ()
    new_limit = round_up(base * OOM_FACTOR)
    kills = oom_said(predictor_of(f), oom_kills(predictor_of(f)))
    arithmetic = (
        f"OOMKilled at the {_h(base)} {what}: {_h(base)} × 1.5 = {_h(base * OOM_FACTOR)}, rounded "
        "up to 256Mi "
        f"= {_h(new_limit)}; request = limit = {_h(new_limit)}"
    )
    return (_set_resources(f, why, new_limit, new_limit, arithmetic, kills),)


def _evictions(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    request, limit = _effective_memory(f)
    peak, what = _peak(f)
    if peak is None:
        return ()
    wanted = peak * EVICTION_FACTOR
    new_request = round_up(max(wanted, request or Decimal(0)))
    new_limit = max(limit, new_request) if limit is not None else new_request
    arithmetic = (
        f"{what} {_h(peak)} × 1.2 = {_h(wanted)}; request = max({_h(wanted)}, current "
        f"{_h(request)}) rounded up "
        f"to 256Mi = {_h(new_request)}; limit = max(current {_h(limit)}, request) = {_h(new_limit)}"
    )
    return (
        _set_resources(
            f,
            why,
            new_request,
            new_limit,
            arithmetic,
            "a request at its real use keeps the kubelet from evicting it first",
        ),
    )


# ---------------------------------------------------------------- autoscaling
def _min_replicas(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    isvc = _isvc(inp.facts)
    cold = inp.findings.get("autoscaler")
    return (
        Proposal(
            action="kserve.set-min-replicas",
            target=_target(isvc),
            title=f"Keep one replica of {isvc.ref} warm: spec.predictor.minReplicas "
            f"{isvc.min_replicas if isvc.min_replicas is not None else 'unset'} → 1 (no more cold starts)",
            risk=Risk.MEDIUM,
            mode=Mode.APPROVE,
            rationale=why,
            preconditions=(
                f"InferenceService {isvc.ref} still has uid {isvc.uid}",
                "spec.predictor.minReplicas is still "
                f"{isvc.min_replicas if isvc.min_replicas is not None else 'unset'}",
            ),
            rollback="set spec.predictor.minReplicas back to 0 to scale to zero again "
            "(one replica's cost saved)",
            params=_params(isvc, min_replicas=1, current=isvc.min_replicas),
            steps=((cold.summary,) if cold else ()),
        ),
    )


def _scale_target(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    isvc = _isvc(f)
    c = calibration(f)
    _, _, current = configured_target(isvc, None, None, None)
    return (
        Proposal(
            action="kserve.set-scale-target",
            target=_target(isvc),
            title=f"Set {isvc.ref}'s concurrency target to {c.recommended} per pod "
            f"(now {c.target:g}): Little's law",
            risk=Risk.MEDIUM,
            mode=Mode.APPROVE,
            rationale=why,
            preconditions=(
                f"InferenceService {isvc.ref} still has uid {isvc.uid}",
                f"its own target is still {current if current is not None else 'unset'}",
            ),
            rollback=f"set spec.predictor.scaleTarget back to {current if current is not None else 'unset'}",
            params=_params(
                isvc,
                scale_target=c.recommended,
                scale_metric="concurrency",
                current=current,
                arithmetic=c.arithmetic(),
            ),
        ),
    )


def _canary(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    isvc = _isvc(f)
    revisions = revisions_of(f)
    failing = revisions.latest_created
    serving = revisions.serving
    failing_name = failing.name if failing else isvc.latest_created
    serving_name = serving.name if serving else isvc.latest_ready
    percent = isvc.canary_percent
    if percent is None:
        percent = next((t.percent or 0 for t in isvc.traffic if t.revision == failing_name), 0)
    return (
        Proposal(
            action="kserve.rollback-canary",
            target=_target(isvc),
            title=f"Send all of {isvc.ref}'s traffic back to {serving_name}: "
            f"canary {failing_name} ({percent} %) "
            "is failing",
            risk=Risk.HIGH,
            mode=Mode.APPROVE,
            rationale=why,
            preconditions=(
                f"InferenceService {isvc.ref} still has uid {isvc.uid}",
                f"spec.predictor.canaryTrafficPercent is still {percent}",
            ),
            rollback=f"set spec.predictor.canaryTrafficPercent back to {percent} once {failing_name} "
            "is fixed",
            params=_params(
                isvc, canary_percent=percent, failing_revision=failing_name, serving_revision=serving_name
            ),
        ),
    )


def _delete_wedged(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    isvc = _isvc(f)
    found = wedged(predictor_of(f), f.now, settings_of(f).kserve_wedged_after_min)
    return tuple(_delete_pod(isvc, pod, why) for pod in found[:1])


def _delete_pod(isvc: InferenceService, pod: PredictorPod, why: tuple[str, ...]) -> Proposal:
    return Proposal(
        action="pod.delete",
        target=f"pod/{pod.pod.namespace}/{pod.name}",
        title=f"Delete wedged predictor pod {pod.name} so its ReplicaSet starts a fresh one",
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            "the pod still has the same uid",
            f"the pod still carries serving.kserve.io/inferenceservice={isvc.name}",
            "another replica is still Ready (the service keeps serving)",
        ),
        rollback="none: the Deployment replaces the pod; the other replicas serve meanwhile",
        params={
            "namespace": pod.pod.namespace,
            "pod": pod.name,
            "uid": pod.uid,
            "inferenceservice": isvc.name,
        },
    )


# ---------------------------------------------------------------- manual
def _node(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    nodes = nodes_of(inp.facts)
    proposals = []
    for node in nodes.not_ready():
        step = (
            f"kfops diagnose gpu-node-down --node {node.name}"
            if node.is_gpu_node
            else f"kubectl describe node {node.name}  # conditions, kubelet heartbeat, taints"
        )
        proposals.append(
            _manual(
                "kserve.check-node",
                f"node/{node.name}",
                f"Diagnose node {node.name}, which runs a predictor replica and is not Ready — by hand",
                why,
                step,
                "The predictor's pods on it are replaced once the node is marked unreachable (about 5 min); "
                "the other replicas serve meanwhile.",
            )
        )
    for name in nodes.missing:
        proposals.append(
            _manual(
                "kserve.check-node",
                f"node/{name}",
                f"Node {name} is gone but predictor pods are still bound to it — by hand",
                why,
                f"kubectl get pods -A --field-selector spec.nodeName={name}  # force-delete them if "
                "stuck Terminating",
            )
        )
    return tuple(proposals)


def _image(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    isvc = _isvc(inp.facts)
    pod, container = image_pulls(predictor_of(inp.facts))[0]
    image = pod.images.get(container.name, "")
    return (
        _manual(
            "kserve.fix-image",
            _target(isvc),
            f"Fix image {image} of {isvc.ref} (or the registry credentials) — by hand",
            why,
            f"The kubelet said: {container.reason}: {container.message or 'no message'}",
            f"kubectl -n {isvc.namespace} describe pod {pod.name}  # the full pull error",
            "A wrong tag or runtime image: fix spec.predictor (model.runtime / containers[].image) or the "
            "ServingRuntime's image.",
            "A private registry: create a docker-registry Secret in "
            f"{isvc.namespace} and name it in the ServiceAccount set as spec.predictor.serviceAccountName "
            "(imagePullSecrets).",
        ),
    )


def _probe_patch(isvc: InferenceService, today: ProbeSpec, handler: dict[str, object]) -> tuple[str, str]:
    """The startupProbe that gives the model time to load, and the exact command setting it."""
    wanted = max(2 * today.allowance_s, MIN_LOAD_ALLOWANCE_S)
    period = today.period_s or 10
    threshold = math.ceil(wanted / period)
    probe = {
        **(handler or {"tcpSocket": {"port": 8080}}),
        "periodSeconds": period,
        "failureThreshold": threshold,
    }
    arithmetic = (
        f"a startupProbe allowing 0 s + {period} s × {threshold} = {period * threshold} s "
        f"(at least twice today's {today.allowance_s} s, and no less than {MIN_LOAD_ALLOWANCE_S} s)"
    )
    if isvc.resources.where == "containers":
        path = f"/spec/predictor/containers/{isvc.resources.index}/startupProbe"
        return arithmetic, _patch(isvc, [{"op": "add", "path": path, "value": probe}], "json")
    return arithmetic, _patch(isvc, {"spec": {"predictor": {"model": {"startupProbe": probe}}}})


def _probes(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    isvc = _isvc(f)
    predictor = predictor_of(f)
    kind = probe_trouble(predictor).killing_kind or "liveness"
    today = model_probe(predictor, kind) or ProbeSpec(kind, 0, 10, 3, {})
    source = model_probe(predictor, "startup") or model_probe(predictor, "liveness") or today
    arithmetic, command = _probe_patch(isvc, today, source.handler)
    return (
        _manual(
            "kserve.lengthen-probe",
            _target(isvc),
            f"Give {isvc.ref}'s model time to load before the {kind} probe kills it — by hand",
            why,
            f"Today: the {today.arithmetic()}, and the kubelet kills kserve-container when it runs out.",
            f"Set {arithmetic}: {command}",
            "The liveness probe starts only after the startup probe succeeds, so a slow load no "
            "longer restarts "
            "the model server; a new Revision rolls out with it.",
        ),
    )


def _rollout(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    isvc = _isvc(f)
    revisions = revisions_of(f)
    pending = revisions.latest_created
    name = pending.name if pending else isvc.latest_created or f"{isvc.predictor}-<NNNNN>"
    said = pending.describe() if pending else "no Revision was created"
    deadline = {"spec": {"predictor": {"annotations": {"serving.knative.dev/progress-deadline": "1800s"}}}}
    return (
        _manual(
            "kserve.fix-rollout",
            _target(isvc),
            f"Find why Revision {name} of {isvc.ref} never becomes Ready, then fix or revert the "
            "change — by hand",
            why,
            f"Knative says: {said}",
            f"kubectl -n {isvc.namespace} describe revision {name}; kubectl -n {isvc.namespace} get pods "
            f"-l serving.knative.dev/revision={name}",
            f"If the model only loads slower than the 600 s progress deadline: {_patch(isvc, deadline)}",
            "Otherwise revert the InferenceService spec to the last one that rolled out (your "
            "GitOps repository, "
            f"or kubectl -n {isvc.namespace} apply -f <previous manifest>); the old Revision serves "
            "meanwhile.",
        ),
    )


def _scheduling(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    isvc = _isvc(inp.facts)
    pod = unschedulable(predictor_of(inp.facts))[0]
    message = pod.scheduled[2]
    gpu = "nvidia.com/gpu" in message
    return (
        _manual(
            "kserve.fix-scheduling",
            _target(isvc),
            f"Make room for {isvc.ref}'s predictor pod {pod.name} — by hand",
            why,
            f"The scheduler said: {message or pod.scheduled[1]}",
            "GPUs: see which GPU nodes are down or full — `kfops diagnose gpu-node-down`; add GPU "
            "nodes or free "
            "GPUs held by idle notebooks and finished jobs."
            if gpu
            else f"kubectl -n {isvc.namespace} describe pod {pod.name}; lower the predictor's requests "
            "(spec.predictor.model.resources) or add capacity / tolerations that match your nodes.",
        ),
    )


def _crashloop(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    isvc = _isvc(f)
    predictor = predictor_of(f)
    pod, container = crashloops(predictor)[0]
    lines = predictor.log.last_lines(5) if predictor.log and predictor.log.pod == pod.name else []
    hint = (
        "storage-initializer cannot fetch the model: check spec.predictor.model.storageUri and the storage "
        "credentials (the ServiceAccount's Secret)."
        if container.name != MODEL_CONTAINER
        else "The model server exits on start: a model format the runtime does not support, a missing file, "
        "or a bad argument — fix the spec or the ServingRuntime; a new Revision rolls out with it."
    )
    return (
        _manual(
            "kserve.fix-model-server",
            _target(isvc),
            f"Read why {container.name} of {isvc.ref} crashes, then fix the spec or the model — by hand",
            why,
            f"kubectl -n {isvc.namespace} logs {pod.name} -c {container.name} --previous --tail=100",
            *(("Its previous run ended with:\n" + "\n".join(lines),) if lines else ()),
            hint,
        ),
    )


def _cannot_scale(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    isvc = _isvc(inp.facts)
    auto = autoscaler_of(inp.facts)
    scaler = auto.scaler
    wants = f"wants {scaler.desired} pods, has {scaler.actual}" if scaler else "cannot scale"
    return (
        _manual(
            "kserve.fix-scaling",
            _target(isvc),
            f"Find what stops {isvc.ref} from scaling ({wants}) — by hand",
            why,
            f"kubectl -n {isvc.namespace} get pods -l "
            f"serving.kserve.io/inferenceservice={isvc.name},component=predictor "
            "-o wide; kubectl -n {ns} describe pod <a Pending one>".replace("{ns}", isvc.namespace),
            f"Check the namespace's ResourceQuota (kubectl -n {isvc.namespace} describe "
            "resourcequota) and the "
            f"max scale ({scaler.max_scale if scaler and scaler.max_scale else 'unlimited'}).",
        ),
    )


def _slo(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    isvc = _isvc(inp.facts)
    slo = inp.findings.get("slo")
    return (
        _manual(
            "kserve.investigate-slo",
            _target(isvc),
            f"Find why {isvc.ref} breaks its SLO — by hand",
            why,
            slo.summary if slo else "see the slo rung",
            "Latency with few pods: check the concurrency rung (Little's law) and the model's own latency "
            "(request_predict_seconds of the KServe model server).",
            f"5xx: kubectl -n {isvc.namespace} logs -l serving.kserve.io/inferenceservice={isvc.name} "
            "-c kserve-container --tail=100",
        ),
    )


def _flapping(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    isvc = _isvc(inp.facts)
    return (
        _manual(
            "kserve.investigate-flapping",
            _target(isvc),
            f"Read {isvc.ref}'s conditions and the KServe controller's log — by hand",
            why,
            f"kubectl -n {isvc.namespace} describe inferenceservice {isvc.name}  # conditions, events",
            "kubectl -n kubeflow logs deploy/kserve-controller-manager --tail=200 | grep " + isvc.name,
            f"kubectl -n {isvc.namespace} get ksvc,revision,podautoscaler -l "
            f"serving.kserve.io/inferenceservice={isvc.name}",
        ),
    )


PROPOSERS: dict[str, Proposer] = {
    "node-not-ready": _node,
    "node-pressure-evictions": _evictions,
    "canary-failing": _canary,
    "image-pull": _image,
    "oom-killed": _oom,
    "probe-too-short": _probes,
    "rollout-stuck": _rollout,
    "unschedulable": _scheduling,
    "cold-start-storm": _min_replicas,
    "concurrency-target-off": _scale_target,
    "wedged-replica": _delete_wedged,
    "predictor-crashloop": _crashloop,
    "cannot-scale": _cannot_scale,
    "slo-breached": _slo,
    "flapping-unexplained": _flapping,
}


propose = proposals_by_cause(PROPOSERS, RATIONALE)
