"""Quoting a crashed container's log lines, and reading an RBAC refusal out of one.

Shared by the ladders that classify a controller's last words (profiles/logs.py,
pipelines/controller_logs.py). client-go passes the API server's refusal on verbatim
(``profiles.kubeflow.org is forbidden: User "system:serviceaccount:kubeflow:…" cannot list
resource "profiles" in API group "kubeflow.org" at the cluster scope``); a logger writing JSON
escapes its quotes, so the pattern accepts both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_Q = r'\\?"'  # a double quote, escaped or not
_V = r'[^"\\]+'  # a quoted value

FORBIDDEN = re.compile(
    rf"is forbidden: User {_Q}({_V}){_Q} cannot (\w+) resource {_Q}({_V}){_Q}"
    rf"(?: in API group {_Q}([^\"\\]*){_Q})?"
    rf"(?: in the namespace {_Q}({_V}){_Q}| at the cluster scope)?"
)
ERRORISH = re.compile(r"\b(error|ERROR|Error|panic|fatal|FATAL|failed|Failed)\b")
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

    def rule(self) -> str:
        """The RBAC rule that grants what was refused, as one YAML flow mapping."""
        return f'{{apiGroups: ["{self.group}"], resources: ["{self.resource}"], verbs: ["{self.verb}"]}}'

    def describe(self) -> str:
        group = f'API group "{self.group}"' if self.group else "the core API group"
        scope = f"in namespace {self.namespace}" if self.namespace else "at the cluster scope"
        return f'{self.user} cannot {self.verb} "{self.resource}" in {group} {scope}'


def denial_in(line: str) -> tuple[Denial, int] | None:
    """The refusal a log line quotes, and where in the line it starts; None without one."""
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
    return denial, found.start()


def trim(line: str, at: int = 0) -> str:
    """The line without surrounding blanks; a long one cut to MAX_QUOTE characters around `at`."""
    stripped = line.strip()
    at = max(0, at - (len(line) - len(line.lstrip())))
    if len(stripped) <= MAX_QUOTE:
        return stripped
    start = max(0, min(at - MAX_QUOTE // 3, len(stripped) - MAX_QUOTE + 1))
    text = stripped[start : start + MAX_QUOTE - 1]
    return ("…" if start else "") + text + ("…" if start + MAX_QUOTE - 1 < len(stripped) else "")


def error_lines(text: str, n: int = 3) -> tuple[str, ...]:
    """The last n error-looking lines (else the last n lines), trimmed: what a human reads first."""
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if ERRORISH.search(line)]
    return tuple(trim(line) for line in (errors or lines)[-n:])
