"""KServe playbooks: one merge patch on one InferenceService's predictor, as the kserve-flapping
ladder proposes it.

    kserve.set-min-replicas  (medium)  spec.predictor.minReplicas — keep a replica warm
    kserve.set-resources     (medium)  the predictor container's memory request and limit
    kserve.set-scale-target  (medium)  spec.predictor.scaleTarget (+ scaleMetric concurrency, and
                                       the autoscaling.knative.dev/target annotation where the
                                       InferenceService sets it: it would win otherwise)
    kserve.rollback-canary   (high)    spec.predictor.canaryTrafficPercent 0 — KServe routes all
                                       traffic back to the previously rolled-out revision

Every plan is made from a fresh read and refuses when the InferenceService is gone, is another
object under the same name (uid), or the field no longer holds the value the diagnosis saw
(``current``): the diagnosis argued from that value, so a change since then voids the argument.
The plan is bound to the patch, not to the object's changing status, so a status update by the
KServe controller never voids an approval.

The patch is a JSON merge patch (what ``kubectl patch --type merge`` sends): the API server checks
it against the CRD's schema in the dry run. It carries ``metadata.uid`` (immutable: a re-created
InferenceService refuses it), and when executed also the ``metadata.resourceVersion`` of the read
the execution re-checked, so nothing that changed between that read and the write is overwritten
(the merge patch of spec.predictor.containers replaces the whole list).

Any change to spec.predictor makes KServe roll out a new predictor revision (Knative) or update
the predictor Deployment (Standard); verification reads the field back, it does not wait for the
rollout (the kserve-flapping ladder shows how it goes).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import INFERENCESERVICES
from kfops.diagnostics.kube.quantity import parse_quantity
from kfops.model import Proposal, Risk
from kfops.playbooks.base import (
    Context,
    Outcome,
    Playbook,
    Verification,
    memory_request_and_limit,
    read_diagnosed_object,
    send_if_still_planned,
)
from kfops.playbooks.plan import Plan, PlanRefused, Step

#: the Knative autoscaling target annotation; on the InferenceService it reaches the revision and
#: wins over spec.predictor.scaleTarget
TARGET_ANNOTATION = "autoscaling.knative.dev/target"
#: the container KServe runs the model server in (spec.predictor.model becomes this container)
MODEL_CONTAINER = "kserve-container"
UNSET = "(unset)"


@dataclass(frozen=True)
class Isvc:
    namespace: str
    name: str
    uid: str

    @property
    def ref(self) -> str:
        return f"InferenceService {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Built:
    """What one proposal becomes against one read of the InferenceService."""

    body: dict[str, Any]  # the merge patch, without metadata.uid (added by the step)
    diff: tuple[str, ...]
    notes: tuple[str, ...]
    description: str
    undo: dict[str, Any]  # the merge patch that puts the fields back as read


def _shown(value: object) -> str:
    return UNSET if value is None else json.dumps(value) if not isinstance(value, str) else value


def _require(proposal: Proposal, keys: tuple[str, ...], nullable: tuple[str, ...] = ()) -> None:
    """Refuse naming every parameter that is missing (`nullable` ones must be present, may be null)."""
    params = proposal.params
    missing = [k for k in keys if params.get(k) in (None, "")]
    missing += [k for k in nullable if k not in params]
    if missing:
        raise PlanRefused(f"{proposal.action} needs {', '.join(missing)} in its parameters")


def _isvc(proposal: Proposal) -> Isvc:
    _require(proposal, ("namespace", "name", "uid"))  # again for execute/verify: a stored plan
    component = proposal.params.get("component")
    if component not in (None, "", "predictor"):
        raise PlanRefused(f"{proposal.action} changes an InferenceService's predictor, not its {component}")
    params = proposal.params
    return Isvc(str(params["namespace"]), str(params["name"]), str(params["uid"]))


def _int(proposal: Proposal, key: str, *, minimum: int, nullable: bool = False) -> int | None:
    value = proposal.params.get(key)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PlanRefused(
            f"{proposal.action} needs {key} as a whole number of at least {minimum}"
            + (" (or null)" if nullable else "")
            + f", not {value!r}"
        )
    return value


def _read(ctx: Context, isvc: Isvc) -> dict[str, Any]:
    """The InferenceService now, if it is still the one diagnosed."""
    return read_diagnosed_object(ctx, INFERENCESERVICES, isvc.name, isvc.namespace, isvc.uid, isvc.ref)


def _predictor(isvc: Isvc, raw: dict[str, Any]) -> dict[str, Any]:
    predictor = (raw.get("spec") or {}).get("predictor")
    if not isinstance(predictor, dict):
        raise PlanRefused(f"{isvc.ref} has no spec.predictor")
    return predictor


def _changed(isvc: Isvc, field: str, diagnosed: object, now: object) -> PlanRefused:
    return PlanRefused(
        f"{isvc.ref} changed since the diagnosis: {field} went from {_shown(diagnosed)} to {_shown(now)}; "
        "diagnose again"
    )


def _patch_body(uid: str, body: dict[str, Any]) -> dict[str, Any]:
    patch = copy.deepcopy(body)
    patch.setdefault("metadata", {})["uid"] = uid
    return patch


def _ready(raw: dict[str, Any]) -> str:
    conditions = (raw.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        return "when planned: no Ready condition (not reconciled yet)"
    why = f" ({ready['reason']})" if ready.get("reason") else ""
    return f"when planned: Ready {ready.get('status')}{why}"


def _rollout_note(predictor: dict[str, Any]) -> str:
    canary = predictor.get("canaryTrafficPercent")
    if canary:
        return (
            f"spec.predictor.canaryTrafficPercent is {canary}: KServe rolls this change out as a canary "
            f"revision that gets {canary} % of the traffic until it is promoted"
        )
    return "KServe rolls the change out as a new predictor revision (Knative) or Deployment update (Standard)"


class _IsvcPatch(Playbook):
    """One merge patch on one InferenceService; what differs is the field and its checks."""

    risk = Risk.MEDIUM
    writes = (("patch", INFERENCESERVICES, ""),)
    #: parameters that must be set / present (null allowed), besides namespace, name and uid
    required: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()

    def build(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> Built:
        """The patch for this read, or PlanRefused saying what no longer holds."""
        raise NotImplementedError

    def done(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> tuple[bool, str]:
        """(took effect, what the read shows) for a read after the execution."""
        raise NotImplementedError

    def _step(self, isvc: Isvc, built: Built) -> Step:
        return Step(
            verb="patch",
            ref=INFERENCESERVICES,
            name=isvc.name,
            namespace=isvc.namespace,
            body=_patch_body(isvc.uid, built.body),
            description=built.description,
        )

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        _require(proposal, ("namespace", "name", "uid", *self.required), self.nullable)
        isvc = _isvc(proposal)
        self.validate(proposal)
        raw = _read(ctx, isvc)
        built = self.build(isvc, proposal, raw)
        undo = json.dumps(built.undo, sort_keys=True)
        notes = (
            _ready(raw),
            *built.notes,
            "the patch carries the uid, so a re-created InferenceService is refused",
            f"to undo: kubectl patch inferenceservice {isvc.name} -n {isvc.namespace} "
            f"--type merge -p '{undo}'",
        )
        return Plan(proposal, (self._step(isvc, built),), built.diff, notes)

    def validate(self, proposal: Proposal) -> None:
        """Refuse malformed parameters (before reading anything)."""

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        """Re-read, re-build, and send only if the patch is still the planned one, conditioned on
        the resourceVersion of that read (the API server refuses it if anything changed since)."""
        proposal = plan.proposal

        def rebuild() -> tuple[Step, str, object]:
            isvc = _isvc(proposal)
            raw = _read(ctx, isvc)
            fresh = self._step(isvc, self.build(isvc, proposal, raw))
            return fresh, isvc.ref, (raw.get("metadata") or {}).get("resourceVersion")

        return send_if_still_planned(writer, plan.steps[0], rebuild)

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        isvc = _isvc(plan.proposal)
        try:
            raw = ctx.reader.get(INFERENCESERVICES, isvc.name, isvc.namespace).value
        except NotFound:
            return Verification(False, f"{isvc.ref} no longer exists")
        except ReaderError as exc:
            return Verification(False, f"cannot verify {isvc.ref}: {exc.headline}")
        if (raw.get("metadata") or {}).get("uid") != isvc.uid:
            return Verification(False, f"{isvc.ref} was re-created: it is not the object patched")
        ok, seen = self.done(isvc, plan.proposal, raw)
        return Verification(ok, f"{isvc.ref}: {seen}")


class SetMinReplicas(_IsvcPatch):
    """spec.predictor.minReplicas = N: keep N replicas warm (no scale to zero, no cold starts)."""

    action = "kserve.set-min-replicas"
    risk = Risk.MEDIUM
    required, nullable = ("min_replicas",), ("current",)

    def validate(self, proposal: Proposal) -> None:
        _int(proposal, "min_replicas", minimum=1)
        _int(proposal, "current", minimum=0, nullable=True)

    def build(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> Built:
        wanted = _int(proposal, "min_replicas", minimum=1)
        diagnosed = _int(proposal, "current", minimum=0, nullable=True)
        predictor = _predictor(isvc, raw)
        now = predictor.get("minReplicas")
        field = "spec.predictor.minReplicas"
        if now != diagnosed:
            raise _changed(isvc, field, diagnosed, now)
        if now == wanted:
            raise PlanRefused(f"{isvc.ref} already has {field} {wanted}: nothing to change")
        most = predictor.get("maxReplicas")
        if isinstance(most, int) and 0 < most < (wanted or 0):
            raise PlanRefused(
                f"{isvc.ref} has spec.predictor.maxReplicas {most}: minReplicas {wanted} would exceed it"
            )
        return Built(
            body={"spec": {"predictor": {"minReplicas": wanted}}},
            diff=(f"- {field}: {_shown(now)}", f"+ {field}: {wanted}"),
            notes=(
                f"at least {wanted} predictor replica(s) stay up: no scale to zero, no cold starts, "
                "and the replicas' resources stay reserved",
                _rollout_note(predictor),
            ),
            description=f"set {field} of {isvc.namespace}/{isvc.name} to {wanted}",
            undo={"spec": {"predictor": {"minReplicas": now}}},
        )

    def done(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> tuple[bool, str]:
        now = ((raw.get("spec") or {}).get("predictor") or {}).get("minReplicas")
        wanted = proposal.params["min_replicas"]
        return now == wanted, f"spec.predictor.minReplicas is {_shown(now)}" + (
            "" if now == wanted else f", not {wanted}"
        )


def _same_quantity(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    left, right = parse_quantity(a), parse_quantity(b)
    return left == right if left is not None and right is not None else str(a) == str(b)


class SetResources(_IsvcPatch):
    """The predictor container's memory request and limit (OOMKilled, evicted under memory pressure)."""

    action = "kserve.set-resources"
    risk = Risk.MEDIUM
    required, nullable = ("memory_request", "memory_limit"), ("current_request", "current_limit")

    def validate(self, proposal: Proposal) -> None:
        memory_request_and_limit(proposal)

    @staticmethod
    def _where(isvc: Isvc, proposal: Proposal, predictor: dict[str, Any]) -> tuple[str, int | None]:
        """(the field holding the resources, the container's index in spec.predictor.containers)."""
        container = str(proposal.params.get("container") or "")
        containers = predictor.get("containers")
        names = [c.get("name") for c in containers] if isinstance(containers, list) else []
        if container in names and (
            not isinstance(predictor.get("model"), dict) or container != MODEL_CONTAINER
        ):
            return f"spec.predictor.containers[{container}].resources", names.index(container)
        if isinstance(predictor.get("model"), dict):
            return "spec.predictor.model.resources", None
        if not names:
            other = sorted(set(predictor) - {"minReplicas", "maxReplicas", "scaleTarget", "scaleMetric"})
            raise PlanRefused(
                f"{isvc.ref} sets neither spec.predictor.model nor spec.predictor.containers (its predictor "
                f"has {', '.join(other) or 'nothing else'}): kfops patches only those; "
                "set the resources by hand"
            )
        if not container:
            raise PlanRefused(
                f"{proposal.action} needs container in its parameters: {isvc.ref} runs its model in "
                f"spec.predictor.containers ({', '.join(map(str, names))})"
            )
        raise PlanRefused(
            f"{isvc.ref} has no container {container} in spec.predictor.containers "
            f"(it has {', '.join(map(str, names))})"
        )

    def build(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> Built:
        params = proposal.params
        request, limit = str(params["memory_request"]), str(params["memory_limit"])
        predictor = _predictor(isvc, raw)
        field, index = self._where(isvc, proposal, predictor)
        holder = predictor["model"] if index is None else predictor["containers"][index]
        resources = holder.get("resources") or {}
        now_request = (resources.get("requests") or {}).get("memory")
        now_limit = (resources.get("limits") or {}).get("memory")
        if not _same_quantity(now_request, params.get("current_request")):
            raise _changed(isvc, f"{field}.requests.memory", params.get("current_request"), now_request)
        if not _same_quantity(now_limit, params.get("current_limit")):
            raise _changed(isvc, f"{field}.limits.memory", params.get("current_limit"), now_limit)
        if _same_quantity(now_request, request) and _same_quantity(now_limit, limit):
            raise PlanRefused(
                f"{isvc.ref} already requests {request} and limits {limit} of memory: nothing to change"
            )
        new = {
            **resources,
            "requests": {**(resources.get("requests") or {}), "memory": request},
            "limits": {**(resources.get("limits") or {}), "memory": limit},
        }
        undo_resources = {
            "requests": {"memory": now_request},
            "limits": {"memory": now_limit},
        }
        if index is None:
            body = {"spec": {"predictor": {"model": {"resources": new}}}}
            undo = {"spec": {"predictor": {"model": {"resources": undo_resources}}}}
            whole = []
        else:
            # a merge patch replaces a list whole: send the list as read, with only these resources
            containers = copy.deepcopy(predictor["containers"])
            containers[index]["resources"] = new
            body = {"spec": {"predictor": {"containers": containers}}}
            restored = copy.deepcopy(predictor["containers"])
            undo = {"spec": {"predictor": {"containers": restored}}}
            whole = [
                "a merge patch replaces spec.predictor.containers whole: the patch is the list as read "
                "with only these resources changed, and the execution refuses if the list changed since"
            ]
        notes = []
        if params.get("arithmetic"):
            notes.append(f"arithmetic: {params['arithmetic']}")
        notes += [*whole, _rollout_note(predictor)]
        return Built(
            body=body,
            diff=(
                f"- {field}.requests.memory: {_shown(now_request)}",
                f"+ {field}.requests.memory: {request}",
                f"- {field}.limits.memory: {_shown(now_limit)}",
                f"+ {field}.limits.memory: {limit}",
            ),
            notes=tuple(notes),
            description=(
                f"set the memory request/limit of {isvc.namespace}/{isvc.name}'s predictor "
                f"to {request}/{limit}"
            ),
            undo=undo,
        )

    def done(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> tuple[bool, str]:
        predictor = (raw.get("spec") or {}).get("predictor") or {}
        try:
            field, index = self._where(isvc, proposal, predictor)
        except PlanRefused as exc:
            return False, str(exc)
        holder = predictor["model"] if index is None else predictor["containers"][index]
        resources = holder.get("resources") or {}
        now_request = (resources.get("requests") or {}).get("memory")
        now_limit = (resources.get("limits") or {}).get("memory")
        request, limit = proposal.params["memory_request"], proposal.params["memory_limit"]
        ok = _same_quantity(now_request, request) and _same_quantity(now_limit, limit)
        seen = f"{field} requests {_shown(now_request)} and limits {_shown(now_limit)} of memory"
        return ok, seen + ("" if ok else f", not {request}/{limit}")


class SetScaleTarget(_IsvcPatch):
    """spec.predictor.scaleTarget = R on the concurrency metric (the per-replica in-flight target)."""

    action = "kserve.set-scale-target"
    risk = Risk.MEDIUM
    required, nullable = ("scale_target", "scale_metric"), ("current",)

    def validate(self, proposal: Proposal) -> None:
        _int(proposal, "scale_target", minimum=1)
        _int(proposal, "current", minimum=0, nullable=True)

    @staticmethod
    def _annotations(raw: dict[str, Any], predictor: dict[str, Any]) -> dict[str, str]:
        """Where the InferenceService sets the target annotation: field → value."""
        found = {}
        for field, values in (
            ("metadata.annotations", (raw.get("metadata") or {}).get("annotations")),
            ("spec.predictor.annotations", predictor.get("annotations")),
        ):
            if isinstance(values, dict) and TARGET_ANNOTATION in values:
                found[field] = str(values[TARGET_ANNOTATION])
        return found

    @staticmethod
    def _configured(predictor: dict[str, Any], annotations: dict[str, str]) -> int | str | None:
        """The target the InferenceService itself sets (None: the cluster's default applies)."""
        for value in (annotations.get("spec.predictor.annotations"), annotations.get("metadata.annotations")):
            if value is not None:
                return int(value) if value.isdigit() else value
        metric = predictor.get("scaleMetric")
        target = predictor.get("scaleTarget")
        if target is not None and metric in (None, "concurrency"):
            return int(target) if isinstance(target, int) else str(target)
        concurrency = predictor.get("containerConcurrency")
        if isinstance(concurrency, int) and concurrency > 0:
            return concurrency
        return None

    def build(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> Built:
        params = proposal.params
        wanted, metric, diagnosed = params["scale_target"], str(params["scale_metric"]), params.get("current")
        predictor = _predictor(isvc, raw)
        annotations = self._annotations(raw, predictor)
        now_metric = predictor.get("scaleMetric")
        if now_metric not in (None, metric):
            raise _changed(isvc, "spec.predictor.scaleMetric", f"{metric} (or unset)", now_metric)
        configured = self._configured(predictor, annotations)
        if configured is not None and configured != diagnosed:
            raise _changed(isvc, "the autoscaling target", diagnosed, configured)
        if configured == wanted and all(v == str(wanted) for v in annotations.values()):
            raise PlanRefused(
                f"{isvc.ref} already targets {wanted} in-flight requests per replica: nothing to change"
            )
        now_target = predictor.get("scaleTarget")
        body: dict[str, Any] = {"spec": {"predictor": {"scaleTarget": wanted, "scaleMetric": metric}}}
        undo: dict[str, Any] = {"spec": {"predictor": {"scaleTarget": now_target, "scaleMetric": now_metric}}}
        diff = [
            f"- spec.predictor.scaleTarget: {_shown(now_target)}",
            f"+ spec.predictor.scaleTarget: {wanted}",
        ]
        if now_metric != metric:
            diff += [
                f"- spec.predictor.scaleMetric: {_shown(now_metric)}",
                f"+ spec.predictor.scaleMetric: {metric}",
            ]
        for field, value in annotations.items():
            where = body if field == "metadata.annotations" else body["spec"]["predictor"]
            back = undo if field == "metadata.annotations" else undo["spec"]["predictor"]
            if field == "metadata.annotations":
                where.setdefault("metadata", {})["annotations"] = {TARGET_ANNOTATION: str(wanted)}
                back.setdefault("metadata", {})["annotations"] = {TARGET_ANNOTATION: value}
            else:
                where["annotations"] = {TARGET_ANNOTATION: str(wanted)}
                back["annotations"] = {TARGET_ANNOTATION: value}
            diff += [f"- {field}[{TARGET_ANNOTATION}]: {value}", f"+ {field}[{TARGET_ANNOTATION}]: {wanted}"]
        notes = []
        if params.get("arithmetic"):
            notes.append(f"arithmetic: {params['arithmetic']}")
        if annotations:
            notes.append(
                f"the InferenceService sets {TARGET_ANNOTATION} in {' and '.join(annotations)}: it would win "
                "over scaleTarget, so the patch sets it too"
            )
        notes.append(_rollout_note(predictor))
        return Built(
            body=body,
            diff=tuple(diff),
            notes=tuple(notes),
            description=(
                f"set the autoscaling target of {isvc.namespace}/{isvc.name}'s predictor "
                f"to {wanted} ({metric})"
            ),
            undo=undo,
        )

    def done(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> tuple[bool, str]:
        predictor = (raw.get("spec") or {}).get("predictor") or {}
        wanted, metric = proposal.params["scale_target"], proposal.params["scale_metric"]
        target, now_metric = predictor.get("scaleTarget"), predictor.get("scaleMetric")
        annotations = self._annotations(raw, predictor)
        stale = {f: v for f, v in annotations.items() if v != str(wanted)}
        seen = f"spec.predictor.scaleTarget is {_shown(target)} ({_shown(now_metric)})"
        if stale:
            seen += "; " + ", ".join(f"{f}[{TARGET_ANNOTATION}] is {v}" for f, v in stale.items())
        ok = target == wanted and now_metric == metric and not stale
        return ok, seen + ("" if ok else f", not {wanted} ({metric})")


class RollbackCanary(_IsvcPatch):
    """spec.predictor.canaryTrafficPercent = 0: all traffic back to the last rolled-out revision."""

    action = "kserve.rollback-canary"
    risk = Risk.HIGH
    required = ("canary_percent", "failing_revision", "serving_revision")

    def validate(self, proposal: Proposal) -> None:
        _int(proposal, "canary_percent", minimum=1)

    def build(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> Built:
        params = proposal.params
        diagnosed, failing, serving = (
            params["canary_percent"],
            str(params["failing_revision"]),
            str(params["serving_revision"]),
        )
        predictor = _predictor(isvc, raw)
        now = predictor.get("canaryTrafficPercent")
        field = "spec.predictor.canaryTrafficPercent"
        if not now:
            raise PlanRefused(
                f"{isvc.ref} has no canary ({field} is {_shown(now)}): there is nothing to roll back"
            )
        if now != diagnosed:
            raise _changed(isvc, field, diagnosed, now)
        component = ((raw.get("status") or {}).get("components") or {}).get("predictor") or {}
        latest = component.get("latestCreatedRevision")
        if latest and latest != failing:
            raise PlanRefused(
                f"{isvc.ref} changed since the diagnosis: its latest revision is now {latest}, "
                f"not the failing {failing}; diagnose again"
            )
        previous = component.get("previousRolledoutRevision")
        notes = [
            f"KServe routes all traffic to the previously rolled-out revision"
            f" ({previous or serving}); {failing} keeps its spec but gets no traffic",
            "the failing spec stays in the InferenceService: fix it (or restore the previous spec) before "
            "setting a canary percentage again",
        ]
        if previous and previous != serving:
            notes.append(
                f"note: the diagnosis saw {serving} serving; KServe's previous rollout is {previous}"
            )
        return Built(
            body={"spec": {"predictor": {"canaryTrafficPercent": 0}}},
            diff=(
                f"- {field}: {now} ({now} % to {failing}, {100 - int(now)} % to {serving})",
                f"+ {field}: 0 (100 % to {previous or serving})",
            ),
            notes=tuple(notes),
            description=f"roll back the canary of {isvc.namespace}/{isvc.name} (canaryTrafficPercent 0)",
            undo={"spec": {"predictor": {"canaryTrafficPercent": now}}},
        )

    def done(self, isvc: Isvc, proposal: Proposal, raw: dict[str, Any]) -> tuple[bool, str]:
        now = ((raw.get("spec") or {}).get("predictor") or {}).get("canaryTrafficPercent")
        ok = now == 0
        return ok, f"spec.predictor.canaryTrafficPercent is {_shown(now)}" + (
            "; KServe routes all traffic to the previously rolled-out revision" if ok else ", not 0"
        )
