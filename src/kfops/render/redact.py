"""Masking of secrets in anything kfops shows or stores: logs, messages, evidence data.

Containers log connection strings and tokens; a diagnosis pasted into Slack or a ticket must not
carry them. Masking is by key name (password, token, secret…) and by well-known value shapes.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "[REDACTED]"

_SENSITIVE_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|authorization|cookie)",
    re.IGNORECASE,
)
_PATTERNS = (
    # key=value / key: value pairs whose key names a secret
    re.compile(
        r"(?i)\b([\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|credential)[\w.-]*)"
        r"(\s*[:=]\s*[\"']?)(?!(?:YES|NO)\))([^\s\"',;&]+)"
    ),
    re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"(://[^/\s:@]+:)([^@\s/]+)(@)"),  # user:password@host in URLs
)
#: SQL that carries a password literal (a processlist row can show CREATE USER … IDENTIFIED BY '…')
_SQL_PASSWORD = re.compile(
    r"(?i)(IDENTIFIED\s+(?:BY(?:\s+PASSWORD)?|VIA\s+\w+\s+USING)\s*|PASSWORD\s*\(\s*)('[^']*'|\"[^\"]*\")"
)
_WHOLE = (
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"xapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # JWTs
)


def redact_text(text: str) -> str:
    for pattern in _WHOLE:
        text = pattern.sub(MASK, text)
    text = _PATTERNS[0].sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _SQL_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    return _PATTERNS[2].sub(lambda m: m.group(1) + MASK + m.group(3), text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with secrets masked, by key name and by value shape."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and _SENSITIVE_KEY.search(k) and isinstance(v, str) and v
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
