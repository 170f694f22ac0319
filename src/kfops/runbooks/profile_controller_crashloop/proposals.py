"""What the profile-controller-crashloop ladder proposes for each cause.

Executable proposals (through the gate):

- ``profile.rollback`` (high): restore an offending Profile's spec from its
  ``kubectl.kubernetes.io/last-applied-configuration`` — only when that spec lacks the offending
  fields; otherwise the same step is written out by hand (``profile.restore-spec``).
- ``deployment.set-image`` (high): the manager container of profiles-deployment to the release
  that matches the CRD — the newest release watching the version the CRD serves (crd-ahead), or
  the image of the previous ReplicaSet (controller-ahead).
- ``deployment.set-resources`` (medium): an OOM-killed container's memory limit × 1.5, rounded up
  to 64Mi; request = min(current request, new limit).

Everything else is written out as exact manual steps. kfops never proposes
``deployment.restart`` here: the controller crashes on what it reads at start, and a restart reads
the same thing again.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

from kfops.diagnostics.kube.quantity import memory_for_humans, parse_quantity
from kfops.diagnostics.profiles.controller import Controller, ControllerLogs, oom_kills
from kfops.diagnostics.profiles.crds import Crd
from kfops.diagnostics.profiles.profiles import LAST_APPLIED, Profile, unknown_fields
from kfops.diagnostics.profiles.versions import (
    GROUP,
    ISTIO_CRD,
    PROFILE_CRD,
    newest_release_for,
    parse_image,
    watched_version,
)
from kfops.model import Facts, Mode, Proposal, ProposalInput, Risk
from kfops.runbooks.causes import Proposer, proposals_by_cause
from kfops.runbooks.profile_controller_crashloop.probes import (
    CONTROLLER,
    LOGS,
    profile_crd_of,
    settings_of,
)
from kfops.runbooks.profile_controller_crashloop.probes import ISTIO_CRD as ISTIO_CRD_PROBE
from kfops.runbooks.profile_controller_crashloop.schema_rungs import (
    manager_tag,
    offending,
    release_target,
    wanted,
)

#: the rungs whose findings justify each cause's proposals
RATIONALE = {
    "profile-crd-missing": ("profile-crd", "controller-logs", "controller-pods"),
    "crd-ahead-of-controller": ("profile-crd", "controller-logs", "controller-pods"),
    "controller-ahead-of-crd": ("profile-crd", "controller-logs", "controller-pods"),
    "unknown-profile-field": ("recent-profiles", "controller-logs", "controller-pods"),
    "istio-crd-missing": ("istio-crd", "controller-logs", "controller-pods"),
    "rbac-forbidden": ("controller-logs", "controller-pods"),
    "inotify-exhausted": ("controller-logs", "controller-pods"),
    "oom-killed": ("controller-memory", "controller-pods"),
    "liveness-failing": ("controller-probes", "controller-pods"),
    "labels-file-invalid": ("controller-logs", "controller-pods"),
    "crashloop-unexplained": ("controller-pods", "controller-logs"),
}
OOM_FACTOR = Decimal("1.5")
MEMORY_STEP = Decimal(64 * 2**20)  # 64Mi
MANIFESTS = "https://github.com/kubeflow/manifests"


def round_up(value: Decimal) -> Decimal:
    """Up to the next multiple of 64Mi."""
    return Decimal(math.ceil(value / MEMORY_STEP)) * MEMORY_STEP


def _controller(f: Facts) -> Controller:
    value = f.get(CONTROLLER)
    if not isinstance(value, Controller) or not value.found or not value.uid:
        raise KeyError("profile-controller")
    return value


def _logs(f: Facts) -> ControllerLogs | None:
    value = f.get(LOGS)
    return value if isinstance(value, ControllerLogs) else None


def _deployment_target(c: Controller) -> str:
    return f"deployment/{c.namespace}/{c.name}"


def _manual(action: str, target: str, title: str, why: tuple[str, ...], *steps: str) -> Proposal:
    return Proposal(
        action=action, target=target, title=title, risk=Risk.LOW, mode=Mode.MANUAL, rationale=why, steps=steps
    )


def _manager(f: Facts) -> str:
    return settings_of(f).profile_controller_manager_container


def _crd_url(tag: str) -> tuple[str, str]:
    """The kustomize target and the raw file of the Profile CRD of one kubeflow/manifests release."""
    kustomize = f"{MANIFESTS}//applications/profiles/upstream/crd?ref={tag}"
    raw = (
        f"https://raw.githubusercontent.com/kubeflow/manifests/{tag}/applications/profiles/upstream/crd/"
        "bases/kubeflow.org_profiles.yaml"
    )
    return kustomize, raw


def _watch_rollout(c: Controller) -> str:
    return (
        f"kubectl -n {c.namespace} rollout status deploy/{c.name} --timeout=5m  # the crash-looping pod "
        "starts cleanly at its next back-off restart"
    )


# ---------------------------------------------------------------- set-image
def _set_image(f: Facts, why: tuple[str, ...], to_image: str, reason: str, title: str) -> Proposal:
    c = _controller(f)
    container = _manager(f)
    from_image = c.image(container)
    from_tag, to_tag = parse_image(from_image).tag, parse_image(to_image).tag
    return Proposal(
        action="deployment.set-image",
        target=_deployment_target(c),
        title=title,
        risk=Risk.HIGH,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            f"Deployment {c.ref} still has uid {c.uid}",
            f"container {container} still runs {from_image}",
        ),
        rollback=f"set container {container} of {c.ref} back to {from_image}",
        params={
            "namespace": c.namespace,
            "deployment": c.name,
            "uid": c.uid,
            "container": container,
            "from_image": from_image,
            "to_image": to_image,
            "from_version": from_tag or from_image,
            "to_version": to_tag or to_image,
            "reason": reason,
        },
    )


def _crd_ahead(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    crd = profile_crd_of(f)
    asked = wanted(f) or "?"
    tag = manager_tag(f) or "(unknown)"
    proposals = []
    target = release_target(f)
    if target is not None:
        release, version = target
        image = parse_image(c.image(_manager(f)))
        to_image = f"{image.repository}:{release}"
        if to_image != c.image(_manager(f)):
            proposals.append(
                _set_image(
                    f,
                    why,
                    to_image,
                    f"the CRD {PROFILE_CRD} serves {', '.join(crd.served)}; controller {tag} watches "
                    f"{GROUP}/{asked}, release {release} watches {GROUP}/{version}",
                    f"Upgrade the Profile controller {tag} → {release}: it watches {GROUP}/{version}, the "
                    f"version the CRD serves ({tag} watches {GROUP}/{asked}, which the CRD no longer serves)",
                )
            )
    kustomize, raw = _crd_url(tag)
    proposals.append(
        _manual(
            "profile.rollback-crd",
            f"crd/{PROFILE_CRD}",
            f"Or roll the Profile CRD back to the one of controller {tag} (serving {GROUP}/{asked}) "
            f"— by hand",
            why,
            f"The CRD serves {', '.join(crd.served)} (storage {crd.storage}, storedVersions "
            f"[{', '.join(crd.stored_versions)}]); controller {tag} watches {GROUP}/{asked}.",
            f'kubectl apply --server-side --force-conflicts -k "{kustomize}"  # or -f {raw}',
            'If the apply fails with "status.storedVersions[…]: Invalid value … must appear in '
            'spec.versions", keep the newer version listed (served: false) in the CRD you apply.',
            _watch_rollout(c),
        )
    )
    return tuple(proposals)


def _controller_ahead(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    crd = profile_crd_of(f)
    asked = wanted(f) or "?"
    tag = manager_tag(f) or "(unknown)"
    proposals = []
    previous = c.previous_image(_manager(f))
    if previous is not None:
        to_image, rs = previous
        to_tag = parse_image(to_image).tag or to_image
        back_version = watched_version(parse_image(to_image).tag)
        served = ", ".join(crd.served) or "nothing"
        proposals.append(
            _set_image(
                f,
                why,
                to_image,
                f"controller {tag} watches {GROUP}/{asked}, which the CRD {PROFILE_CRD} does not serve "
                f"(it serves {served}); ReplicaSet {rs.name} (revision {rs.revision}) ran {to_image}",
                f"Roll the Profile controller back {tag} → {to_tag} (ReplicaSet {rs.name}, revision "
                f"{rs.revision})"
                + (f": it watches {GROUP}/{back_version}, which the CRD serves" if back_version else ""),
            )
        )
    kustomize, raw = _crd_url(tag)
    proposals.append(
        _manual(
            "profile.upgrade-crd",
            f"crd/{PROFILE_CRD}",
            f"Or upgrade the Profile CRD to controller {tag}'s release (serving {GROUP}/{asked}) — by hand",
            why,
            f"The CRD serves {', '.join(crd.served) or 'nothing'}; controller {tag} watches {GROUP}/{asked}.",
            f'kubectl apply --server-side --force-conflicts -k "{kustomize}"  # or -f {raw}',
            "Keep every version still listed in status.storedVersions "
            f"([{', '.join(crd.stored_versions)}]) in spec.versions, or the apply fails with "
            '"must appear in spec.versions".',
            _watch_rollout(c),
        )
    )
    return tuple(proposals)


# ---------------------------------------------------------------- profile.rollback
def _profile_rollback(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    found = offending(f)
    proposals: list[Proposal] = []
    if found:
        profile = found[0]
        fields = [u.split("=")[0] for u in profile.unknown]
        if profile.restorable:
            proposals.append(_rollback(profile, fields, why))
        else:
            proposals.append(_restore_by_hand(profile, fields, why))
    else:
        logs = _logs(f)
        field = logs.unknown_field if logs else ""
        proposals.append(
            _manual(
                "profile.restore-spec",
                "profile/<unknown>",
                f"Find the Profile carrying field {field or '(see the log)'} and restore its previous spec "
                "— by hand",
                why,
                "kubectl get profiles -o json | jq -r '.items[] | select(.spec | tostring | "
                f'contains("{field.split(".")[-1]}")) | .metadata.name\'',
                "kubectl apply -f <your previous profile.yaml>",
            )
        )
    tag = manager_tag(f) or "(unknown)"
    proposals.append(
        _manual(
            "profile.upgrade-controller",
            _deployment_target(_controller(f)),
            f"Or upgrade the Profile controller ({tag}) to a release that knows the new field — by hand",
            why,
            "Check the release notes of kubeflow/kubeflow (components/profile-controller/api/v1/"
            "profile_types.go) for the release that added the field, then apply that release's "
            f"applications/profiles manifests from {MANIFESTS} (controller, kfam and CRD together).",
        )
    )
    return tuple(proposals)


def _rollback(profile: Profile, fields: list[str], why: tuple[str, ...]) -> Proposal:
    restore = profile.last_applied_spec or {}
    return Proposal(
        action="profile.rollback",
        target=f"profile/{profile.name}",
        title=f"Restore Profile {profile.name}'s last applied spec (without {', '.join(fields)})",
        risk=Risk.HIGH,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            f"Profile {profile.name} still has uid {profile.uid}",
            f"its resourceVersion is still {profile.resource_version} (unchanged since the diagnosis)",
            "the restored spec has none of the offending fields",
        ),
        rollback=f"re-apply the removed fields ({', '.join(fields)}) once the controller knows them",
        params={
            "profile": profile.name,
            "uid": profile.uid,
            "resource_version": profile.resource_version,
            "fields": fields,
            "restore_spec": restore,
            "source": LAST_APPLIED,
        },
    )


def _restore_by_hand(profile: Profile, fields: list[str], why: tuple[str, ...]) -> Proposal:
    reason = (
        f"its {LAST_APPLIED} annotation still has {', '.join(unknown_fields(profile.last_applied_spec))}"
        if profile.last_applied_spec is not None
        else f"it has no {LAST_APPLIED} annotation to restore from"
    )
    remove = {"spec": {f.removeprefix("spec.").split(".")[0].split("[")[0]: None for f in fields}}
    return _manual(
        "profile.restore-spec",
        f"profile/{profile.name}",
        f"Restore Profile {profile.name}'s previous spec (without {', '.join(fields)}) — by hand: {reason}",
        why,
        "kubectl apply -f <your previous profile.yaml>  # from your GitOps repository",
        "or remove the fields: kubectl patch profile "
        f"{profile.name} --type merge -p '{json.dumps(remove, separators=(',', ':'))}'",
    )


# ---------------------------------------------------------------- set-resources
def _oom(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    watched = (
        settings_of(f).profile_controller_manager_container,
        settings_of(f).profile_controller_kfam_container,
    )
    kills = [k for k in oom_kills(c) if k.container.name in watched]
    if not kills:
        return ()
    kill = kills[0]
    container = kill.container.name
    request_s, limit_s = c.memory.get(container, (kill.container.memory_request, kill.container.memory_limit))
    limit = parse_quantity(limit_s) if limit_s else None
    request = parse_quantity(request_s) if request_s else None
    base, what = (limit, "limit") if limit else (request, "request") if request else (None, "")
    if base is None:
        return ()
    new_limit = round_up(base * OOM_FACTOR)
    new_request = min(request, new_limit) if request is not None else new_limit
    h = memory_for_humans
    arithmetic = (
        f"OOMKilled at the {h(base)} {what}: {h(base)} × 1.5 = {h(base * OOM_FACTOR)}, rounded up to 64Mi = "
        f"{h(new_limit)}; request = min(current {h(request) if request is not None else 'unset'}, "
        f"{h(new_limit)}) = {h(new_request)}"
    )
    return (
        Proposal(
            action="deployment.set-resources",
            target=_deployment_target(c),
            title=f"Give {container} of {c.ref} a {h(new_limit)} memory limit (now {limit_s or 'unset'}): "
            f"{kill.container.restarts} restarts, last {kill.container.last_reason or 'exit 137'}",
            risk=Risk.MEDIUM,
            mode=Mode.APPROVE,
            rationale=why,
            preconditions=(
                f"Deployment {c.ref} still has uid {c.uid}",
                f"container {container}'s memory request is still {request_s or 'unset'} and its limit "
                f"{limit_s or 'unset'}",
            ),
            rollback=f"set {container}'s memory back to request {request_s or 'unset'}, limit "
            f"{limit_s or 'unset'}",
            params={
                "namespace": c.namespace,
                "deployment": c.name,
                "uid": c.uid,
                "container": container,
                "memory_limit": h(new_limit),
                "memory_request": h(new_request),
                "current_limit": limit_s,
                "current_request": request_s,
                "arithmetic": arithmetic,
            },
        ),
    )


# ---------------------------------------------------------------- manual
def _install_crd(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    tag = manager_tag(f)
    release = tag if tag and watched_version(tag) else newest_release_for("v1") or "v1.10.0"
    kustomize, raw = _crd_url(release)
    note = "" if release == tag else f" (the manager tag '{tag}' is no release: the newest known is assumed)"
    return (
        _manual(
            "profile.install-crd",
            f"crd/{PROFILE_CRD}",
            f"Install the Profile CRD of release {release}{note} — by hand",
            why,
            f'kubectl apply --server-side -k "{kustomize}"  # or -f {raw}',
            f"kubectl get crd {PROFILE_CRD} -o jsonpath='{{.spec.versions[*].name}}'  # expect v1 "
            f"and v1beta1",
            _watch_rollout(c),
        ),
    )


def _istio(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    value = f.get(ISTIO_CRD_PROBE)
    crd = value if isinstance(value, Crd) else None
    has = (
        f"it serves {', '.join(crd.served) or 'nothing'}"
        if crd is not None and crd.found
        else "it is missing"
    )
    return (
        _manual(
            "istio.install-crds",
            f"crd/{ISTIO_CRD}",
            f"Install Istio's CRDs of the mesh's version so {ISTIO_CRD} serves v1beta1 ({has}) — by hand",
            why,
            "istioctl version  # the control plane's version: install the CRDs of exactly that version",
            "istioctl install --set profile=minimal --skip-confirmation  # re-applies the base CRDs, or: "
            "helm upgrade --install istio-base istio/base -n istio-system --version <mesh version>",
            f"kubectl get crd {ISTIO_CRD} -o jsonpath='{{.spec.versions[*].name}}'  # must list v1beta1",
            _watch_rollout(c),
        ),
    )


def _rbac(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    logs = _logs(f)
    log = logs.first_match() if logs else None
    denial = log.match.denial if log and log.match else None
    if denial is None:
        return ()
    sa = denial.service_account or (c.namespace, "profiles-controller-service-account")
    base = denial.resource.split("/")[0]
    name = f"kfops-profiles-{base}-{denial.verb}".replace(".", "-")[:63]
    rule = (
        f'rules:\n- apiGroups: ["{denial.group}"]\n  resources: ["{denial.resource}"]\n  verbs: '
        f'["{denial.verb}"]'
    )
    if denial.namespace:
        role = (
            f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  "
            f"namespace: {denial.namespace}\n{rule}"
        )
        binding = (
            f"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  "
            f"namespace: {denial.namespace}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  "
            f"kind: Role\n  "
            f"name: {name}\nsubjects:\n- kind: ServiceAccount\n  name: {sa[1]}\n  namespace: {sa[0]}"
        )
    else:
        role = (
            f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\n{rule}"
        )
        binding = (
            f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\n"
            f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {name}\n"
            f"subjects:\n- kind: ServiceAccount\n  name: {sa[1]}\n  namespace: {sa[0]}"
        )
    return (
        _manual(
            "rbac.grant",
            f"serviceaccount/{sa[0]}/{sa[1]}",
            f"Grant {sa[0]}/{sa[1]} '{denial.verb}' on \"{denial.resource}\" "
            f"({denial.group or 'core'} group) — by hand",
            why,
            f"The API server said: {log.match.quote if log and log.match else denial.describe()}",
            "Usually the upgrade changed the controller but not its ClusterRole: apply the RBAC of the "
            f"controller's release ({MANIFESTS}, applications/profiles), or grant just this rule:",
            f"kubectl apply -f - <<'EOF'\n{role}\n---\n{binding}\nEOF",
            f"kubectl auth can-i {denial.verb} {denial.resource}{'.' + denial.group if denial.group else ''} "
            f"--as system:serviceaccount:{sa[0]}:{sa[1]}"
            + (f" -n {denial.namespace}" if denial.namespace else ""),
            _watch_rollout(c),
        ),
    )


def _inotify(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    logs = _logs(f)
    log = logs.first_match() if logs else None
    pod = next((p for p in c.pods if log and p.name == log.pod), c.pods[0] if c.pods else None)
    node = pod.node if pod and pod.node else "<the controller pod's node>"
    return (
        _manual(
            "node.raise-inotify-limits",
            f"node/{node}",
            f"Raise the inotify limits on node {node}, where the controller's file watcher cannot "
            f"start — by hand",
            why,
            f"The controller said: {log.match.quote if log and log.match else 'too many open files'}",
            f"On node {node} (ssh, or kubectl debug node/{node} -it --image=busybox -- chroot /host sh): "
            "sysctl fs.inotify.max_user_instances fs.inotify.max_user_watches  # today's limits",
            "sysctl -w fs.inotify.max_user_instances=1024 fs.inotify.max_user_watches=524288",
            "printf 'fs.inotify.max_user_instances=1024\\nfs.inotify.max_user_watches=524288\\n' > "
            "/etc/sysctl.d/99-inotify.conf  # survives a reboot",
            _watch_rollout(c),
        ),
    )


def _liveness(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    probes = inp.findings.get("controller-probes")
    killed = next((k.container for k in c.probe_kills()), "") or _manager(f)
    container = next(iter(c.containers(killed)), None)
    timing = container.probe_timing if container else ""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": killed, "livenessProbe": {"initialDelaySeconds": 30, "failureThreshold": 6}}
                    ]
                }
            }
        }
    }
    return (
        _manual(
            f"probe.tune-{killed}",
            _deployment_target(c),
            f"Find why {killed} of {c.ref} fails its liveness probe, then fix it or its probe "
            f"timing — by hand",
            why,
            probes.summary if probes else "see the controller-probes rung",
            f"kubectl -n {c.namespace} logs deploy/{c.name} -c {killed} --previous --tail=100  # what it was "
            "doing when the kubelet killed it (a slow cache sync at start: many Profiles, a slow API server)",
            f"Today: {timing or 'no liveness probe timing found'}. If it only starts slowly: kubectl -n "
            f"{c.namespace} patch deploy {c.name} --type strategic -p "
            f"'{json.dumps(patch, separators=(',', ':'))}'",
        ),
    )


def _labels(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    logs = _logs(f)
    log = logs.first_match() if logs else None
    return (
        _manual(
            "profile.fix-namespace-labels",
            f"configmap/{c.namespace}/namespace-labels-data",
            "Fix the namespace labels file (ConfigMap namespace-labels-data, key "
            "namespace-labels.yaml) — by hand",
            why,
            f"The controller said: "
            f"{log.match.quote if log and log.match else 'namespace labels file invalid'}",
            f"kubectl -n {c.namespace} get configmap namespace-labels-data -o yaml  # the key must be "
            "namespace-labels.yaml, a YAML map of label: value",
            "Restore it from the release's manifests (applications/profiles/upstream/base/"
            "namespace-labels.yaml): katib.kubeflow.org/metrics-collector-injection: enabled, "
            'serving.kubeflow.org/inferenceservice: enabled, pipelines.kubeflow.org/enabled: "true", '
            "app.kubernetes.io/part-of: kubeflow-profile",
            _watch_rollout(c),
        ),
    )


def _unexplained(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    f = inp.facts
    c = _controller(f)
    logs = _logs(f)
    readable = logs.readable if logs else ()
    lines = readable[0].last_errors() if readable else ()
    crashed = readable[0].container if readable else _manager(f)
    return (
        _manual(
            "profile.investigate-crash",
            _deployment_target(c),
            f"Read why {crashed} of {c.ref} crashes — by hand",
            why,
            f"kubectl -n {c.namespace} logs deploy/{c.name} -c {crashed} --previous --tail=100",
            *(("Its previous run ended with:\n" + "\n".join(lines),) if lines else ()),
            f"kubectl -n {c.namespace} describe pod -l {c.selector}  # exit codes, events",
            "A plain restart rarely helps a crash loop: the controller reads the same CRDs, Profiles and "
            "configuration again at start.",
        ),
    )


PROPOSERS: dict[str, Proposer] = {
    "profile-crd-missing": _install_crd,
    "crd-ahead-of-controller": _crd_ahead,
    "controller-ahead-of-crd": _controller_ahead,
    "unknown-profile-field": _profile_rollback,
    "istio-crd-missing": _istio,
    "rbac-forbidden": _rbac,
    "inotify-exhausted": _inotify,
    "oom-killed": _oom,
    "liveness-failing": _liveness,
    "labels-file-invalid": _labels,
    "crashloop-unexplained": _unexplained,
}

propose = proposals_by_cause(PROPOSERS, RATIONALE)
