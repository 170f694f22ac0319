"""The probes of the profile-controller-crashloop ladder: each read named once, shared by the rungs."""

from __future__ import annotations

from kfops.diagnostics.context import ProbeContext
from kfops.diagnostics.profiles.controller import (
    Controller,
    ControllerLogs,
    read_controller,
    read_controller_logs,
    read_deployment,
    split_target,
)
from kfops.diagnostics.profiles.crds import Crd, read_istio_crd, read_profile_crd
from kfops.diagnostics.profiles.profiles import Profiles, read_profiles
from kfops.diagnostics.profiles.reconciled import ReconciledObjects, read_reconciled
from kfops.model import Facts, Observed, Probe
from kfops.settings import Settings

DEPLOYMENT = Probe(
    "profile-controller-deployment",
    "GET /apis/apps/v1/namespaces/{ns}/deployments/profiles-deployment",
    read_deployment,
)
CONTROLLER = Probe(
    "profile-controller",
    "GET /apis/apps/v1/namespaces/{ns}/deployments/profiles-deployment; its ReplicaSets and pods "
    "(?labelSelector= the Deployment's matchLabels); /api/v1/namespaces/{ns}/events?fieldSelector="
    "involvedObject.kind=Pod,involvedObject.name={pod} per pod",
    read_controller,
)


def _logs(ctx: ProbeContext) -> Observed:
    controller = read_controller(ctx).value  # the reader memoises: no second request
    return read_controller_logs(ctx, controller)


LOGS = Probe(
    "profile-controller-logs",
    "GET /api/v1/namespaces/{ns}/pods/{pod}/log?container={manager|kfam}&previous=true&tailLines=100 "
    "for each crashed container (the current log when it never restarted)",
    _logs,
)
PROFILE_CRD = Probe(
    "profile-crd",
    "GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/profiles.kubeflow.org",
    read_profile_crd,
)
ISTIO_CRD = Probe(
    "istio-crd",
    "GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/authorizationpolicies.security.istio.io",
    read_istio_crd,
)
PROFILES = Probe(
    "profiles", "GET /apis/kubeflow.org/{the version the CRD serves, v1 by default}/profiles", read_profiles
)
RECONCILED = Probe(
    "reconciled-objects",
    "GET /apis/kubeflow.org/{served version}/profiles, then per Profile (newest 50): "
    "/api/v1/namespaces/{profile}, "
    "rolebindings/namespaceAdmin and authorizationpolicies/ns-owner-access-istio in it",
    read_reconciled,
)
SETTINGS = Probe(
    "profile-settings",
    "settings.profile_controller_* and profile_change_window_h",
    lambda ctx: Observed(ctx.settings),
)


def _target(ctx: ProbeContext) -> Observed:
    namespace, name = split_target(ctx)
    return Observed(f"{namespace}/{name}")


TARGET = Probe(
    "profile-controller-target",
    "settings.profile_controller_namespace / profile_controller_deployment",
    _target,
)


def settings_of(f: Facts) -> Settings:
    value: Settings = f[SETTINGS]
    return value


def controller_of(f: Facts) -> Controller:
    value: Controller = f[CONTROLLER]
    return value


def logs_of(f: Facts) -> ControllerLogs:
    value: ControllerLogs = f[LOGS]
    return value


def maybe_logs(f: Facts) -> ControllerLogs | None:
    value = f.get(LOGS)
    return value if isinstance(value, ControllerLogs) else None


def profile_crd_of(f: Facts) -> Crd:
    value: Crd = f[PROFILE_CRD]
    return value


def istio_crd_of(f: Facts) -> Crd:
    value: Crd = f[ISTIO_CRD]
    return value


def profiles_of(f: Facts) -> Profiles:
    value: Profiles = f[PROFILES]
    return value


def reconciled_of(f: Facts) -> ReconciledObjects:
    value: ReconciledObjects = f[RECONCILED]
    return value
