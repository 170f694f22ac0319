"""The Profile controller's (and kfam's) last words, classified.

The strings are upstream's own (domain.md §4.4; kubeflow/kubeflow
``components/profile-controller/main.go`` and ``controllers/profile_controller.go``, v1.10.0, and
controller-runtime / client-go / apimachinery messages). controller-runtime logs through zap, as
JSON or as tab-separated console lines, so a quote inside an ``"error"`` value arrives escaped
(``\\"Profile\\"``): every pattern accepts both.

Classes, in priority order — the first class with a matching line wins, whatever line order:

==================== ===========================================================================
crd-missing          ``no matches for kind "Profile" in version "kubeflow.org/v1"``;
                     ``if kind is a CRD, it should be installed before calling Start`` (Profile)
istio-crd-missing    the same for ``AuthorizationPolicy`` / ``security.istio.io``
unknown-field        ``strict decoding error: unknown field "spec.x"``
conversion           ``conversion webhook for kubeflow.org/v1beta1, Kind=Profile failed: …``
rbac-forbidden       ``profiles.kubeflow.org is forbidden: User "system:serviceaccount:kubeflow:
                     profiles-controller-service-account" cannot list resource "profiles" in API
                     group "kubeflow.org" at the cluster scope``
inotify              ``Failed to start file watcher`` / ``too many open files``
labels-file          ``namespace labels properties file doesn't exist`` /
                     ``Unable to parse default namespace labels.``
==================== ===========================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kfops.diagnostics.kube.log_lines import Denial, denial_in, trim

_Q = r'\\?"'  # a double quote, escaped or not
_V = r'[^"\\]+'  # a quoted value

NO_MATCHES = re.compile(rf"no matches for kind {_Q}({_V}){_Q} in version {_Q}({_V}){_Q}")
CRD_NOT_INSTALLED = re.compile(r"if kind is a CRD, it should be installed")
UNKNOWN_FIELD = re.compile(rf"unknown field {_Q}({_V}){_Q}")
STRICT_DECODING = re.compile(r"strict decoding error")
CONVERSION = re.compile(
    r"conversion webhook|failed to convert|conversion (?:error|failed)|"
    r"converting \(?[\w./]+\)? to [\w./]+|no conversion (?:func|function)",
    re.IGNORECASE,
)
INOTIFY = re.compile(r"too many open files|Failed to start file watcher|failed to create fsnotify watcher")
LABELS_FILE = re.compile(
    r"namespace labels properties file doesn't exist|Unable to parse default namespace labels"
)

#: the classes in priority order (the first that matches any line wins)
CLASSES = (
    "crd-missing",
    "istio-crd-missing",
    "unknown-field",
    "conversion",
    "rbac-forbidden",
    "inotify",
    "labels-file",
)


@dataclass(frozen=True)
class LogMatch:
    """The first class that matched, the line that matched it, and what the line names."""

    cls: str
    line: str  # trimmed
    kind: str = ""  # the kind a no-matches line names ("Profile", "AuthorizationPolicy")
    api_version: str = ""  # "kubeflow.org/v1"
    field: str = ""  # an unknown field's path
    denial: Denial | None = None
    at: int = 0  # where in the line the match starts: a long line is quoted around it

    @property
    def quote(self) -> str:
        return trim(self.line, self.at)


def _is_istio(line: str) -> bool:
    return "AuthorizationPolicy" in line or "security.istio.io" in line


def _is_profile(line: str) -> bool:
    return "Profile" in line


def _simple(cls: str, line: str, pattern: re.Pattern[str]) -> LogMatch | None:
    found = pattern.search(line)
    return LogMatch(cls, line, at=found.start()) if found else None


def _match(cls: str, line: str) -> LogMatch | None:
    if cls in ("crd-missing", "istio-crd-missing"):
        wanted = _is_istio if cls == "istio-crd-missing" else _is_profile
        found = NO_MATCHES.search(line)
        if found:
            kind, version = found.group(1), found.group(2)
            if cls == "istio-crd-missing":
                hit = kind == "AuthorizationPolicy" or version.startswith("security.istio.io/")
            else:
                hit = kind == "Profile" or version.startswith("kubeflow.org/")
            return LogMatch(cls, line, kind=kind, api_version=version, at=found.start()) if hit else None
        said = CRD_NOT_INSTALLED.search(line)
        if said and wanted(line) and not (cls == "crd-missing" and _is_istio(line)):
            return LogMatch(cls, line, at=said.start())
        return None
    if cls == "unknown-field":
        field = UNKNOWN_FIELD.search(line)
        if field:
            return LogMatch(cls, line, field=field.group(1), at=field.start())
        return _simple(cls, line, STRICT_DECODING)
    if cls == "conversion":
        return _simple(cls, line, CONVERSION)
    if cls == "rbac-forbidden":
        denied = denial_in(line)
        return LogMatch(cls, line, denial=denied[0], at=denied[1]) if denied else None
    if cls == "inotify":
        return _simple(cls, line, INOTIFY)
    if cls == "labels-file":
        return _simple(cls, line, LABELS_FILE)
    raise ValueError(f"unknown log class {cls}")


def classify(text: str) -> LogMatch | None:
    """The highest-priority class any line of the log matches (its first matching line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    for cls in CLASSES:
        for line in lines:
            found = _match(cls, line)
            if found is not None:
                return found
    return None
