"""What the controller is supposed to have made for each Profile: the user-visible damage.

Per Profile (domain.md §4.3): a Namespace of the same name annotated ``owner=<spec.owner.name>``,
the RoleBinding ``namespaceAdmin`` (owner → ClusterRole kubeflow-admin) and the Istio
AuthorizationPolicy ``ns-owner-access-istio``. Read by name, at most MAX_PROFILES Profiles
(newest first), so the request count is bounded: 1 + 3 × MAX_PROFILES at most.
"""

from __future__ import annotations

from dataclasses import dataclass

from kfops.clients.errors import NotFound
from kfops.clients.resources import (
    AUTHORIZATIONPOLICIES,
    NAMESPACES,
    ROLEBINDINGS,
    ResourceRef,
)
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.profiles.crds import served_profiles
from kfops.diagnostics.profiles.profiles import Profile, profile_facts
from kfops.model import Evidence, Observed, Source

MAX_PROFILES = 50
ROLEBINDING = "namespaceAdmin"
AUTHORIZATIONPOLICY = "ns-owner-access-istio"
OWNER_ANNOTATION = "owner"


@dataclass(frozen=True)
class Reconciled:
    profile: str
    owner: str
    namespace: bool
    namespace_owner: str  # the namespace's owner annotation ("" when absent)
    rolebinding: bool
    authorizationpolicy: bool

    @property
    def not_owned(self) -> bool:
        return self.namespace and bool(self.owner) and self.namespace_owner != self.owner

    @property
    def missing(self) -> tuple[str, ...]:
        if not self.namespace:
            return ("namespace",)
        return tuple(
            what
            for what, present in (
                (f"RoleBinding {ROLEBINDING}", self.rolebinding),
                (f"AuthorizationPolicy {AUTHORIZATIONPOLICY}", self.authorizationpolicy),
            )
            if not present
        )


@dataclass(frozen=True)
class ReconciledObjects:
    items: tuple[Reconciled, ...]
    total: int  # Profiles in the cluster
    checked: int  # Profiles examined (at most MAX_PROFILES)

    @property
    def capped(self) -> bool:
        return self.checked < self.total

    def no_namespace(self) -> tuple[Reconciled, ...]:
        return tuple(r for r in self.items if not r.namespace)

    def incomplete(self) -> tuple[Reconciled, ...]:
        return tuple(r for r in self.items if r.missing and not r.not_owned)

    def not_owned(self) -> tuple[Reconciled, ...]:
        return tuple(r for r in self.items if r.not_owned)


def read_reconciled(ctx: ProbeContext) -> Observed:
    fetched = ctx.kube.list(served_profiles(ctx))
    profiles: list[Profile] = [profile_facts(p) for p in fetched.value]
    profiles.sort(key=lambda p: p.created.isoformat() if p.created else "", reverse=True)
    chosen = profiles[:MAX_PROFILES]
    items: list[Reconciled] = []
    found = 0
    for profile in chosen:
        try:
            ns = ctx.kube.get(NAMESPACES, profile.name)
        except NotFound:
            items.append(Reconciled(profile.name, profile.owner, False, "", False, False))
            continue
        found += 1
        annotations = (ns.value.get("metadata") or {}).get("annotations") or {}
        rolebinding = _get(ctx, ROLEBINDINGS, ROLEBINDING, profile.name)
        policy = _get(ctx, AUTHORIZATIONPOLICIES, AUTHORIZATIONPOLICY, profile.name)
        items.append(
            Reconciled(
                profile.name,
                profile.owner,
                True,
                str(annotations.get(OWNER_ANNOTATION, "")),
                rolebinding,
                policy,
            )
        )
    result = ReconciledObjects(tuple(items), len(profiles), len(chosen))
    capped = f" (the newest {len(chosen)} of {len(profiles)})" if result.capped else ""
    damaged = [r.profile for r in items if r.missing or r.not_owned]
    said = f"{len(chosen)} Profiles checked{capped}: {found} namespaces found; {len(damaged)} incomplete" + (
        f" ({', '.join(damaged[:10])})" if damaged else ""
    )
    query = (
        f"GET /api/v1/namespaces/{{profile}}, /apis/rbac.authorization.k8s.io/v1/namespaces/{{profile}}/"
        f"rolebindings/{ROLEBINDING}, /apis/security.istio.io/v1beta1/namespaces/{{profile}}/"
        f"authorizationpolicies/{AUTHORIZATIONPOLICY} for each Profile"
    )
    evidence = (
        kube_evidence(fetched, f"{len(profiles)} Profiles"),
        Evidence(
            source=Source.KUBE,
            query=query,
            summary=said,
            observed_at=ctx.now,
            data=[
                {"profile": r.profile, "missing": list(r.missing), "namespaceOwner": r.namespace_owner}
                for r in items
                if r.missing or r.not_owned
            ][:50],
            truncated=result.capped,
        ),
    )
    return Observed(result, evidence)


def _get(ctx: ProbeContext, ref: ResourceRef, name: str, namespace: str) -> bool:
    try:
        ctx.kube.get(ref, name, namespace)
    except NotFound:
        return False
    return True
