"""The profile-controller-crashloop ladder assembled: rungs in order, causes in order, proposals.

It walks what a senior SRE checks when profiles-deployment crash-loops: which container
(manager or kfam) dies and how, what its previous run said last, whether the Profile CRD still
serves the version the controller watches (and the Istio AuthorizationPolicy CRD its client
needs), whether a Profile was just changed with a field the controller cannot decode, memory,
probes — and the damage users see: Profiles without their namespace.

Causes are ordered so that the schema and CRD mismatches — where a restart is no fix, because
the controller reads the same thing again at start — are named before RBAC, the node's inotify
limits, memory and probes; a crash loop nothing explains comes last.
"""

from __future__ import annotations

from collections.abc import Callable

from kfops.diagnostics.context import ProbeContext, TargetNotFound
from kfops.model import Cause, Findings, Ladder
from kfops.runbooks.causes import answered, answered_either, summary_of
from kfops.runbooks.profile_controller_crashloop.controller_rungs import (
    CONTROLLER_LOGS,
    CONTROLLER_MEMORY,
    CONTROLLER_PODS,
    CONTROLLER_PROBES,
    TARGET_RUNG,
    select_targets,
)
from kfops.runbooks.profile_controller_crashloop.proposals import propose
from kfops.runbooks.profile_controller_crashloop.schema_rungs import (
    ISTIO_CRD_RUNG,
    PROFILE_CRD_RUNG,
    RECENT_PROFILES,
    RECONCILED_OBJECTS,
    RESTART_NOT_THE_FIX,
)

ALERTS = ("KfopsProfileControllerCrashLooping",)
#: the profile-crd answers that explain a "no matches for kind Profile" line better than "missing"
_CRD_EXPLAINED = ("crd-ahead", "controller-ahead", "matches", "stored-versions-stale")


def _first_of(prefix: str, restart: str, *answers: tuple[str, tuple[str, ...]]) -> Callable[[Findings], str]:
    """The prefix and the first answering rung's summary, ending with why a restart is no fix."""

    def say(found: Findings) -> str:
        for rung, branches in answers:
            finding = found.get(rung)
            if finding is not None and finding.branch in branches:
                said = finding.summary
                text = f"{prefix}: {said}" if prefix else said[:1].upper() + said[1:]
                return text if RESTART_NOT_THE_FIX in text else f"{text}. {RESTART_NOT_THE_FIX} {restart}"
        return f"{prefix}. {RESTART_NOT_THE_FIX} {restart}"

    return say


def _crd_missing(found: Findings) -> bool:
    return found.branch("profile-crd") == "crd-missing" or (
        found.branch("controller-logs") == "crd-missing" and found.branch("profile-crd") not in _CRD_EXPLAINED
    )


CAUSES = (
    Cause(
        "profile-crd-missing",
        "the Profile CRD (profiles.kubeflow.org) is missing: the controller finds no Profile kind to watch",
        _crd_missing,
        _first_of(
            "The Profile CRD is missing",
            "missing CRD.",
            ("profile-crd", ("crd-missing",)),
            ("controller-logs", ("crd-missing",)),
        ),
    ),
    Cause(
        "crd-ahead-of-controller",
        "the CRD was upgraded past the controller: it no longer serves the version the controller watches",
        answered("profile-crd", "crd-ahead"),
        _first_of(
            "",
            "missing version.",
            ("profile-crd", ("crd-ahead",)),
        ),
    ),
    Cause(
        "controller-ahead-of-crd",
        "the controller was upgraded past the CRD: it watches a version the CRD does not serve yet",
        answered("profile-crd", "controller-ahead"),
        _first_of(
            "",
            "missing version.",
            ("profile-crd", ("controller-ahead",)),
        ),
    ),
    Cause(
        "unknown-profile-field",
        "a Profile carries a spec field the controller cannot decode (roll the Profile back or upgrade the "
        "controller)",
        answered_either(("recent-profiles", ("unknown-fields",)), ("controller-logs", ("unknown-field",))),
        _first_of(
            "A Profile has a field the controller does not know",
            "Profile: roll the Profile's spec back, or upgrade the controller to a release that "
            "knows the field.",
            ("recent-profiles", ("unknown-fields",)),
            ("controller-logs", ("unknown-field",)),
        ),
    ),
    Cause(
        "istio-crd-missing",
        "Istio's AuthorizationPolicy CRD is missing or does not serve security.istio.io/v1beta1",
        answered_either(
            ("istio-crd", ("missing", "version-missing")), ("controller-logs", ("istio-crd-missing",))
        ),
        _first_of(
            "Istio's AuthorizationPolicy CRD is missing",
            "missing CRD.",
            ("istio-crd", ("missing", "version-missing")),
            ("controller-logs", ("istio-crd-missing",)),
        ),
    ),
    Cause(
        "rbac-forbidden",
        "RBAC refuses the controller's ServiceAccount a verb it needs (often after an upgrade)",
        answered("controller-logs", "rbac-forbidden"),
        summary_of("controller-logs", "RBAC refuses the Profile controller"),
    ),
    Cause(
        "inotify-exhausted",
        "the node's inotify limits are exhausted: the controller's file watcher cannot start",
        answered("controller-logs", "inotify"),
        summary_of("controller-logs", "The node ran out of inotify instances"),
    ),
    Cause(
        "oom-killed",
        "manager or kfam is OOM-killed",
        answered("controller-memory", "oom"),
        summary_of("controller-memory", "The Profile controller runs out of memory"),
    ),
    Cause(
        "liveness-failing",
        "the liveness probe kills the controller",
        answered("controller-probes", "liveness-failing"),
        summary_of("controller-probes", "The liveness probe kills the Profile controller"),
        confidence="medium",
    ),
    Cause(
        "labels-file-invalid",
        "the namespace labels file (ConfigMap namespace-labels-data) is missing or invalid",
        answered("controller-logs", "labels-file"),
        summary_of("controller-logs", "The namespace labels file is missing or invalid"),
    ),
    Cause(
        "crashloop-unexplained",
        "the controller crash-loops and no rung found why (its last log lines are quoted)",
        answered("controller-pods", "crashloop"),
        lambda found: (
            summary_of("controller-pods", "The Profile controller crash-loops and no rung found why")(found)
            + (
                f"; {logs.summary}"
                if (logs := found.get("controller-logs")) is not None and logs.branch == "unclassified"
                else ""
            )
        ),
        confidence="low",
    ),
)


def _check_target(ctx: ProbeContext, target: str) -> None:
    """A named target must be NAMESPACE/DEPLOYMENT; the ladder reads it as it reads the default."""
    if target.count("/") != 1 or not all(target.split("/")):
        raise TargetNotFound(
            f"profile-controller-crashloop examines the Profile controller NAMESPACE/DEPLOYMENT "
            f"(settings: {ctx.settings.profile_controller_namespace}/"
            f"{ctx.settings.profile_controller_deployment}), not '{target}': Profile controller not found"
        )


LADDER = Ladder(
    id="profile-controller-crashloop",
    title="Kubeflow Profile controller crash-looping",
    meaning="The Kubeflow Profile controller (Deployment profiles-deployment in kubeflow, containers manager "
    "and kfam) is in CrashLoopBackOff or not running: it exits at start — most often because the Profile "
    "CRD and the controller disagree on the API version or on the fields of a Profile, after one of them was "
    "upgraded or a Profile was changed.",
    impact="No Profile is reconciled: new users get no namespace, changed Profiles are not applied, and the "
    "central dashboard says 'Unable to contact Profile Controller' while kfam is down. Running notebooks and "
    "pipelines keep working; onboarding and contributor changes stop.",
    target_input="controller",
    subject="the Profile controller",
    rungs=(
        CONTROLLER_PODS,
        CONTROLLER_LOGS,
        PROFILE_CRD_RUNG,
        ISTIO_CRD_RUNG,
        RECENT_PROFILES,
        CONTROLLER_MEMORY,
        CONTROLLER_PROBES,
        RECONCILED_OBJECTS,
    ),
    causes=CAUSES,
    propose=propose,
    check_target=_check_target,
    sweep=TARGET_RUNG,
    select_targets=select_targets,
    aliases=("profiles", "profile-controller", "kfam"),
    alerts=ALERTS,
    usage="Run `kfops diagnose profile-controller-crashloop` — no target: it examines the "
    "Deployment named by "
    "`profile_controller_namespace` / `profile_controller_deployment` (kubeflow/profiles-deployment, the "
    "upstream manifests' names; the standalone overlay uses profiles-system). It reads the Deployment, its "
    "ReplicaSets and pods, the previous logs of manager and kfam (100 lines), the two CRDs by name, the "
    "Profiles, and per Profile (the newest 50) its Namespace, RoleBinding namespaceAdmin and "
    "AuthorizationPolicy ns-owner-access-istio. Add `--verbose` for the evidence and exact queries.",
    mitigation=(
        "Do not just restart it: the controller crashes on what it reads at start (the CRD, the "
        "Profiles), and "
        "a restart reads the same thing again.",
        "If the Profile CRD is missing, apply the CRD of the controller's release (the exact "
        "`kubectl apply -k` "
        "is proposed).",
        "If the CRD was upgraded past the controller, upgrade the controller to the release that watches the "
        "version the CRD serves (deployment.set-image), or roll the CRD back.",
        "If the controller was upgraded past the CRD, roll its image back to the previous ReplicaSet's "
        "(deployment.set-image), or upgrade the CRD — keeping every version in status.storedVersions.",
        "If a Profile has a field the controller does not know, restore its last applied spec "
        "(profile.rollback) or upgrade the controller.",
        "If Istio's AuthorizationPolicy CRD is missing, install the CRDs of the mesh's version; if RBAC "
        "refuses the controller, grant the exact rule shown (rbac.grant); if the node's inotify limits are "
        "exhausted, raise them on that node.",
        "If manager or kfam is OOM-killed, raise its memory limit (deployment.set-resources: × 1.5, rounded "
        "up to 64Mi).",
    ),
)
