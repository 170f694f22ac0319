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
FORBIDDEN = re.compile(
    rf"is forbidden: User {_Q}({_V}){_Q} cannot (\w+) resource {_Q}({_V}){_Q}"
    rf"(?: in API group {_Q}([^\"\\]*){_Q})?"
    rf"(?: in the namespace {_Q}({_V}){_Q}| at the cluster scope)?"
)
INOTIFY = re.compile(r"too many open files|Failed to start file watcher|failed to create fsnotify watcher")
LABELS_FILE = re.compile(
    r"namespace labels properties file doesn't exist|Unable to parse default namespace labels"
)
ERRORISH = re.compile(r"\b(error|ERROR|Error|panic|fatal|FATAL|failed|Failed)\b")

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
MAX_QUOTE = 300  # characters of a quoted line kept in a summary


@dataclass(frozen=True)
class Denial:
    """What RBAC refused, as the API server's message names it."""

    user: str
    verb: str
    resource: str  # "profiles", or "namespaces/finalizers"
    group: str  # "" for the core group
    namespace: str  # "" at the cluster scope

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) for a ServiceAccount user."""
        parts = self.user.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None

    def describe(self) -> str:
        group = f'API group "{self.group}"' if self.group else "the core API group"
        scope = f"in namespace {self.namespace}" if self.namespace else "at the cluster scope"
        return f'{self.user} cannot {self.verb} "{self.resource}" in {group} {scope}'


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


def trim(line: str, at: int = 0) -> str:
    """The line without surrounding blanks; a long one cut to MAX_QUOTE characters around `at`."""
    stripped = line.strip()
    at = max(0, at - (len(line) - len(line.lstrip())))
    if len(stripped) <= MAX_QUOTE:
        return stripped
    start = max(0, min(at - MAX_QUOTE // 3, len(stripped) - MAX_QUOTE + 1))
    text = stripped[start : start + MAX_QUOTE - 1]
    return ("…" if start else "") + text + ("…" if start + MAX_QUOTE - 1 < len(stripped) else "")


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
        found = FORBIDDEN.search(line)
        if not found:
            return None
        denial = Denial(
            user=found.group(1),
            verb=found.group(2),
            resource=found.group(3),
            group=found.group(4) or "",
            namespace=found.group(5) or "",
        )
        return LogMatch(cls, line, denial=denial, at=found.start())
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


def error_lines(text: str, n: int = 3) -> tuple[str, ...]:
    """The last n error-looking lines (else the last n lines), trimmed: what a human reads first."""
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if ERRORISH.search(line)]
    return tuple(trim(line) for line in (errors or lines)[-n:])
