"""Rungs about what the controller reads and writes: the Profile and Istio CRDs, the Profiles
themselves, and the namespaces, RoleBindings and AuthorizationPolicies it should have made."""

from __future__ import annotations

from dataclasses import replace

from kfops.diagnostics.kube.timefmt import age
from kfops.diagnostics.profiles.profiles import Profile
from kfops.diagnostics.profiles.reconciled import AUTHORIZATIONPOLICY, MAX_PROFILES, ROLEBINDING
from kfops.diagnostics.profiles.versions import (
    GROUP,
    ISTIO_CRD,
    ISTIO_VERSION,
    PROFILE_CRD,
    newer,
    newest_release_for,
    parse_image,
    short_version,
    watched_version,
)
from kfops.diagnostics.wording import counted
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.profile_controller_crashloop.probes import (
    CONTROLLER,
    LOGS,
    PROFILES,
    RECONCILED,
    SETTINGS,
    controller_of,
    istio_crd_of,
    maybe_logs,
    profile_crd_of,
    profiles_of,
    reconciled_of,
    settings_of,
)
from kfops.runbooks.profile_controller_crashloop.probes import (
    ISTIO_CRD as ISTIO_CRD_PROBE,
)
from kfops.runbooks.profile_controller_crashloop.probes import (
    PROFILE_CRD as PROFILE_CRD_PROBE,
)

OPTIONAL_LOGS = replace(LOGS, optional=True)
RESTART_NOT_THE_FIX = "A restart (`kubectl rollout restart`) would crash again on the same"


# ---------------------------------------------------------------- the version the controller wants
def manager_tag(f: Facts) -> str:
    return controller_of(f).tag(settings_of(f).profile_controller_manager_container)


def wanted(f: Facts) -> str | None:
    """The Profile version the controller asks for: its log beats the version table."""
    logs = maybe_logs(f)
    if logs is not None and logs.asked_version:
        return short_version(logs.asked_version)
    return watched_version(manager_tag(f))


def wanted_said(f: Facts) -> str:
    """ "controller v1.10.0 watches kubeflow.org/v1" (and where that came from)."""
    tag = manager_tag(f) or "(no tag)"
    logs = maybe_logs(f)
    table = watched_version(manager_tag(f))
    if logs is not None and logs.asked_version:
        asked = short_version(logs.asked_version)
        note = "" if table else f"; its image tag '{tag}' could not be mapped to a release"
        return f"controller {tag} asks for {GROUP}/{asked} (its log says so){note}"
    if table:
        return f"controller {tag} watches {GROUP}/{table}"
    image = controller_of(f).image(settings_of(f).profile_controller_manager_container)
    return f"the manager image {image or '(unknown)'}: tag '{tag}' could not be mapped to a release"


def _served(f: Facts) -> str:
    served = profile_crd_of(f).served
    if not served:
        return "serves no version"
    return f"serves {', '.join(served)}" + (" only" if len(served) == 1 else "")


def crd_ahead(f: Facts) -> bool:
    version, crd = wanted(f), profile_crd_of(f)
    return version is not None and not crd.serves(version) and any(newer(v, version) for v in crd.served)


def controller_ahead(f: Facts) -> bool:
    version, crd = wanted(f), profile_crd_of(f)
    return version is not None and not crd.serves(version)


def release_target(f: Facts) -> tuple[str, str] | None:
    """(tag, version) of the newest release that watches the newest version the CRD serves."""
    for version in reversed(profile_crd_of(f).served):
        tag = newest_release_for(version)
        if tag:
            return tag, version
    return None


def _crd_ahead_say(f: Facts) -> str:
    crd = profile_crd_of(f)
    target = release_target(f)
    fix = (
        f"set the manager image to {target[0]}, the newest release that watches {GROUP}/{target[1]}, "
        "or roll the CRD back"
        if target
        else "roll the CRD back to one that serves the controller's version, or upgrade the controller"
    )
    return (
        f"CRD upgraded past the controller: {wanted_said(f)}; the CRD {crd.name} {_served(f)} "
        f"(storage {crd.storage or 'none'}, storedVersions [{', '.join(crd.stored_versions)}], conversion "
        f"{crd.conversion}). {RESTART_NOT_THE_FIX} missing version: {fix}"
    )


def _controller_ahead_say(f: Facts) -> str:
    crd = profile_crd_of(f)
    previous = controller_of(f).previous_image(settings_of(f).profile_controller_manager_container)
    back = (
        f"set the manager image back to {parse_image(previous[0]).tag or previous[0]} (ReplicaSet "
        f"{previous[1].name}, revision {previous[1].revision})"
        if previous
        else "set the manager image back to the previous release"
    )
    return (
        f"controller upgraded past the CRD: {wanted_said(f)}; the CRD {crd.name} {_served(f)} "
        f"(storage {crd.storage or 'none'}, storedVersions [{', '.join(crd.stored_versions)}], conversion "
        f"{crd.conversion}). {RESTART_NOT_THE_FIX} missing version: {back}, or upgrade the CRD to the "
        "controller's release"
    )


def _crd_missing_say(f: Facts) -> str:
    tag = manager_tag(f)
    return (
        f"CRD {PROFILE_CRD} does not exist; {wanted_said(f)}. {RESTART_NOT_THE_FIX} missing CRD: apply "
        f"the Profile CRD of the controller's release ({tag or 'its release'})"
    )


def _stale_say(f: Facts) -> str:
    crd = profile_crd_of(f)
    return (
        f"{crd.describe()}: storedVersions lists {', '.join(crd.stale_stored)}, which spec.versions "
        f"no longer "
        'has; the next CRD apply fails with "must appear in spec.versions" until those objects are '
        "migrated and status.storedVersions is trimmed"
    )


PROFILE_CRD_RUNG = Rung(
    id="profile-crd",
    question="Does the Profile CRD serve the API version the controller watches?",
    probes=(PROFILE_CRD_PROBE, CONTROLLER, OPTIONAL_LOGS, SETTINGS),
    branches=(
        Branch(
            "crd-missing",
            Status.FAIL,
            "CRD profiles.kubeflow.org does not exist",
            lambda f: not profile_crd_of(f).found,
            _crd_missing_say,
        ),
        Branch(
            "unknown-version",
            Status.NO_DATA,
            "the controller's image tag maps to no release and its log names no version",
            lambda f: wanted(f) is None,
            lambda f: (
                f"{wanted_said(f)} and its log names no version; the CRD: {profile_crd_of(f).describe()}"
            ),
        ),
        Branch(
            "crd-ahead",
            Status.FAIL,
            "the CRD no longer serves the controller's version and serves a newer one: CRD upgraded past "
            "the controller",
            crd_ahead,
            _crd_ahead_say,
        ),
        Branch(
            "controller-ahead",
            Status.FAIL,
            "the controller wants a version newer than any the CRD serves: controller upgraded past the CRD",
            controller_ahead,
            _controller_ahead_say,
        ),
        Branch(
            "stored-versions-stale",
            Status.WARN,
            "status.storedVersions lists a version missing from spec.versions: the next CRD apply fails",
            lambda f: bool(profile_crd_of(f).stale_stored),
            _stale_say,
        ),
    ),
    default=Branch(
        "matches",
        Status.OK,
        "the CRD serves the version the controller watches",
        lambda f: True,
        lambda f: f"{wanted_said(f)}; {profile_crd_of(f).describe()}",
    ),
)


# ---------------------------------------------------------------- istio-crd
ISTIO_CRD_RUNG = Rung(
    id="istio-crd",
    question="Does the API serve Istio's AuthorizationPolicy in security.istio.io/v1beta1 (what the "
    "controller's client uses)?",
    probes=(ISTIO_CRD_PROBE,),
    branches=(
        Branch(
            "missing",
            Status.FAIL,
            "CRD authorizationpolicies.security.istio.io does not exist",
            lambda f: not istio_crd_of(f).found,
            lambda f: (
                f"CRD {ISTIO_CRD} does not exist: the controller cannot watch AuthorizationPolicies and "
                f"exits. {RESTART_NOT_THE_FIX} missing CRD: install Istio's CRDs of the mesh's version"
            ),
        ),
        Branch(
            "version-missing",
            Status.FAIL,
            "the CRD exists but does not serve v1beta1",
            lambda f: not istio_crd_of(f).serves(ISTIO_VERSION),
            lambda f: (
                f"CRD {ISTIO_CRD} does not serve {ISTIO_VERSION} (it serves "
                f"{', '.join(istio_crd_of(f).served) or 'nothing'}): the controller's client asks for "
                f"security.istio.io/{ISTIO_VERSION}. {RESTART_NOT_THE_FIX} missing version"
            ),
        ),
    ),
    default=Branch(
        "present",
        Status.OK,
        "the CRD serves v1beta1",
        lambda f: True,
        lambda f: istio_crd_of(f).describe(),
    ),
)


# ---------------------------------------------------------------- recent-profiles
def _logged_field(f: Facts) -> str:
    logs = maybe_logs(f)
    return logs.unknown_field if logs is not None else ""


def offending(f: Facts) -> tuple[Profile, ...]:
    return profiles_of(f).offending(_logged_field(f))


def _changed_say(p: Profile, path: str, f: Facts) -> str:
    change = p.changed_by(path)
    if change is None:
        return f"created {age(p.created, f.now)} ago" if p.created else "no change recorded"
    when = f" {age(change.time, f.now)} ago ({change.time:%Y-%m-%dT%H:%M:%SZ})" if change.time else ""
    return f"changed by {change.manager or 'an unnamed manager'} ({change.operation or 'Update'}){when}"


def _unknown_say(f: Facts) -> str:
    found = offending(f)
    first = found[0]
    fields = ", ".join(first.unknown)
    text = (
        f"Profile {first.name} has spec fields no known controller decodes: {fields} — "
        f"{_changed_say(first, first.unknown[0], f)}"
    )
    if len(found) > 1:
        text += f"; also {', '.join(p.name for p in found[1:4])}" + (" …" if len(found) > 4 else "")
    logged = _logged_field(f)
    if logged:
        text += f' (the controller\'s log names unknown field "{logged}")'
    return text


def _recent(f: Facts) -> tuple[Profile, ...]:
    return profiles_of(f).recent(f.now, settings_of(f).profile_change_window_h)


RECENT_PROFILES = Rung(
    id="recent-profiles",
    question="Was a Profile created or changed recently with spec fields the controller does not know?",
    probes=(PROFILES, OPTIONAL_LOGS, SETTINGS),
    branches=(
        Branch(
            "unknown-fields",
            Status.FAIL,
            "a Profile's spec has fields outside owner/resourceQuotaSpec/plugins (or an unknown "
            "plugin kind): "
            "which Profile, which field, who changed it and when",
            lambda f: bool(offending(f)),
            _unknown_say,
        ),
        Branch(
            "ok",
            Status.OK,
            "Profiles changed within profile_change_window_h, all with fields the controller knows",
            lambda f: bool(_recent(f)),
            lambda f: (
                f"{counted(len(_recent(f)), 'Profile')} changed in the last "
                f"{settings_of(f).profile_change_window_h:g}h "
                f"({', '.join(p.name for p in _recent(f)[:5])}), every field known to the controller"
            ),
        ),
    ),
    default=Branch(
        "none-recent",
        Status.OK,
        "no Profile changed within profile_change_window_h",
        lambda f: True,
        lambda f: (
            f"no Profile created or changed in the last {settings_of(f).profile_change_window_h:g}h "
            f"({len(profiles_of(f).items)} Profiles, every field known to the controller)"
        ),
    ),
)


# ---------------------------------------------------------------- reconciled-objects
def _capped(f: Facts) -> str:
    r = reconciled_of(f)
    return (
        f" (checked the newest {r.checked} of {r.total} Profiles: at most {MAX_PROFILES})" if r.capped else ""
    )


def _listed(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (", …" if len(items) > n else "")


def _damage_say(f: Facts) -> str:
    r = reconciled_of(f)
    parts = []
    no_ns = [x.profile for x in r.no_namespace()]
    if no_ns:
        parts.append(f"{counted(len(no_ns), 'Profile')} without a namespace: {_listed(no_ns)}")
    partial = [x for x in r.incomplete() if x.namespace]
    for what in (f"RoleBinding {ROLEBINDING}", f"AuthorizationPolicy {AUTHORIZATIONPOLICY}"):
        lacking = [x.profile for x in partial if what in x.missing]
        if lacking:
            parts.append(f"{counted(len(lacking), 'namespace')} without {what}: {_listed(lacking)}")
    return (
        "; ".join(parts)
        + "; their users see 'Unable to contact Profile Controller' or no namespace in the dashboard"
        + _capped(f)
    )


def _not_owned_say(f: Facts) -> str:
    found = reconciled_of(f).not_owned()
    x = found[0]
    return (
        f"namespace {x.profile} exists with owner '{x.namespace_owner or '(none)'}', not the Profile's "
        f'{x.owner}: reconcile stops with "namespace already exist, but not owned by profile creator"'
        + (f"; also {_listed([y.profile for y in found[1:]])}" if len(found) > 1 else "")
        + _capped(f)
    )


RECONCILED_OBJECTS = Rung(
    id="reconciled-objects",
    question="Does every Profile have its namespace, RoleBinding namespaceAdmin and AuthorizationPolicy "
    "ns-owner-access-istio (what users see)?",
    probes=(RECONCILED,),
    branches=(
        Branch(
            "damage",
            Status.WARN,
            "Profiles without their namespace, RoleBinding or AuthorizationPolicy (the user-visible damage)",
            lambda f: bool(reconciled_of(f).incomplete()),
            _damage_say,
        ),
        Branch(
            "not-owned",
            Status.WARN,
            "a namespace exists with another owner annotation: the controller will not adopt it",
            lambda f: bool(reconciled_of(f).not_owned()),
            _not_owned_say,
        ),
    ),
    default=Branch(
        "complete",
        Status.OK,
        "every Profile has its namespace, RoleBinding and AuthorizationPolicy",
        lambda f: True,
        lambda f: (
            f"{counted(reconciled_of(f).checked, 'Profile')}: each has its namespace, "
            f"RoleBinding {ROLEBINDING} and "
            f"AuthorizationPolicy {AUTHORIZATIONPOLICY}{_capped(f)}"
        ),
    ),
)
