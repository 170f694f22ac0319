"""What each Profile controller release expects: the Profile API version it watches, the fields
it decodes, and how to read a release from an image.

Sources (domain.md §4.2–4.4):

- kubeflow/kubeflow #4663 made ``kubeflow.org/v1`` the storage version of Profile and switched
  the controller to watch it: controller releases before v1.0.0 watch ``kubeflow.org/v1beta1``,
  v1.0.0 and later watch ``kubeflow.org/v1`` (``main.go``: ``For(&profilev1.Profile{})``).
- ``components/profile-controller/api/v1/profile_types.go`` (v1.10.0): ProfileSpec has
  ``owner`` (an rbacv1.Subject), ``resourceQuotaSpec`` (a core ResourceQuotaSpec) and
  ``plugins`` (``kind`` + free-form ``spec``; kinds WorkloadIdentity and
  AwsIamForServiceAccount). [verify] That earlier releases decode the same three fields was
  not checked release by release.
- The manifests (kubeflow/manifests ``applications/profiles``) pin the controller image
  ``ghcr.io/kubeflow/kubeflow/profile-controller:<release tag>`` and kfam
  ``ghcr.io/kubeflow/kubeflow/kfam:<release tag>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GROUP = "kubeflow.org"
PROFILE_CRD = "profiles.kubeflow.org"
ISTIO_CRD = "authorizationpolicies.security.istio.io"
#: the Istio security API version the controller's client uses (main.go scheme, v1.10.0)
ISTIO_VERSION = "v1beta1"

#: the first controller release that watches kubeflow.org/v1 (kubeflow/kubeflow #4663)
V1_SINCE = (1, 0, 0)
#: the newest known controller release watching each Profile version: where a set-image goes.
#: [verify] v0.7.0 for v1beta1 is inferred from #4663 landing for v1.0, not read from a tag; the
#: set-image plan names the version, and a human approves it.
NEWEST_RELEASE = {"v1": "v1.10.0", "v1beta1": "v0.7.0"}

#: the ProfileSpec fields every known controller decodes, and what each may hold
KNOWN_SPEC_FIELDS = frozenset({"owner", "resourceQuotaSpec", "plugins"})
OWNER_FIELDS = frozenset({"kind", "apiGroup", "name", "namespace"})  # rbacv1.Subject
QUOTA_FIELDS = frozenset({"hard", "scopes", "scopeSelector"})  # corev1.ResourceQuotaSpec
PLUGIN_FIELDS = frozenset({"kind", "spec"})
PLUGIN_KINDS = frozenset({"WorkloadIdentity", "AwsIamForServiceAccount"})

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")
_API_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


@dataclass(frozen=True)
class Image:
    """An image reference split as a registry would: repository, tag, digest."""

    ref: str
    repository: str
    tag: str  # "" when the reference has none (a digest only, or the implicit latest)
    digest: str

    @property
    def release(self) -> tuple[int, int, int] | None:
        return release_of(self.tag)


def parse_image(ref: str) -> Image:
    """``ghcr.io:443/kubeflow/profile-controller:v1.10.0@sha256:…`` → repository, tag, digest.

    A colon after the last slash starts the tag; one before it is a registry port.
    """
    rest, _, digest = ref.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return Image(ref, rest[:colon], rest[colon + 1 :], digest)
    return Image(ref, rest, "", digest)


def release_of(tag: str) -> tuple[int, int, int] | None:
    """A release tag (v1.10.0, 1.9.1, v1.8.0-rc.1) as numbers; None for latest, master, a sha."""
    found = _SEMVER.match(tag)
    return (int(found.group(1)), int(found.group(2)), int(found.group(3))) if found else None


def watched_version(tag: str) -> str | None:
    """The Profile API version a controller release watches; None when the tag is no release."""
    release = release_of(tag)
    if release is None:
        return None
    return "v1" if release >= V1_SINCE else "v1beta1"


def newest_release_for(version: str) -> str | None:
    """The tag of the newest known controller release that watches this Profile version."""
    return NEWEST_RELEASE.get(version)


def version_key(version: str) -> tuple[int, int, int]:
    """Kubernetes' API version priority: v1beta1 < v1 < v2alpha1 < v2beta1 < v2.

    Unparseable versions sort first (they are never "newer").
    """
    found = _API_VERSION.match(version)
    if not found:
        return (-1, -1, -1)
    stage = {"alpha": 0, "beta": 1, None: 2}[found.group(2)]
    return (int(found.group(1)), stage, int(found.group(3) or 0))


def newer(a: str, b: str) -> bool:
    return version_key(a) > version_key(b)


def short_version(api_version: str) -> str:
    """``kubeflow.org/v1`` → ``v1`` (a bare version stays as it is)."""
    return api_version.rsplit("/", 1)[-1]
