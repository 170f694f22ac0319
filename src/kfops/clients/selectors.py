"""Label and field selectors evaluated the way the API server does, for offline snapshots.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x,y)``,
comma-separated (AND). Field selectors: ``path=value``, ``path==value``, ``path!=value`` over
dotted paths such as ``spec.nodeName`` or ``involvedObject.kind``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


class SelectorError(ValueError):
    pass


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside a set's parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Matcher:
    if m := _SET.match(term):
        key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(term):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(term):
        negate, key = m.group(1) == "!", m.group(2)
        return lambda labels: (key in labels) != negate
    raise SelectorError(f"cannot parse label selector term {term!r}")


def label_matcher(selector: str | None) -> Matcher:
    """A predicate over a labels mapping; None or empty selects everything."""
    if not selector:
        return lambda labels: True
    terms = [_label_term(t) for t in _split_terms(selector)]
    return lambda labels: all(term(labels) for term in terms)


def dig(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def field_terms(selector: str | None) -> list[tuple[str, bool, str]]:
    """Parse a field selector into (path, equal, value) terms."""
    if not selector:
        return []
    terms = []
    for raw in selector.split(","):
        m = _EQ.match(raw)
        if not m:
            raise SelectorError(f"cannot parse field selector term {raw!r}")
        path, op, value = m.groups()
        terms.append((path, op != "!=", value))
    return terms


def field_value_matches(actual: Any, equal: bool, value: str) -> bool:
    """Compare as the API server does: on the string form, a missing field being ""."""
    text = "" if actual is None else str(actual)
    return (text == value) == equal
