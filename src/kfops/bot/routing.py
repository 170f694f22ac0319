"""Alert labels → (runbook, target): which ladder an alert asks for, and about what.

Rules are tried in order and the first that matches wins: an operator's rules file first
(`routes_file`), then the built-in rules:

1. `kfops-runbook-label`: the alert carries `kfops_runbook: <ladder id or alias>` (kfops' own
   alert rules set it, together with the ladder's target label);
2. `<ladder>-alerts`: the alert's `alertname` is one of the ladder's `alerts`
   (e.g. KubeNodeNotReady, KubeNodeUnreachable → gpu-node-down).

The target comes from the first target label present with a valid value. For a ladder whose
target is a node the labels are, in order:

- `exported_node`: when Prometheus scrapes with `honor_labels: false` and the target already
  has a `node` label, the series' own `node` is renamed `exported_node` and `node` then names
  the node of the *scraper* (kube-state-metrics' pod) — so `exported_node` wins when present;
- `node`, then `kubernetes_node` (a common relabelling of `__meta_kubernetes_*_node_name`);
- `instance`, only when it was relabelled to a bare name: the default `host:port` scrape
  address is not a node name and is never used.

For `stuck-pipeline` the target is a KFP run id (label `run_id`, a UUID) or an Argo Workflow:
`exported_workflow` / `workflow` together with the alert's `exported_namespace` / `namespace`.
For `kserve-flapping` it is an InferenceService: `exported_inferenceservice` / `inferenceservice`
(what the KfopsKServe* rules carry) together with `exported_namespace` / `namespace`, both RFC 1123
labels (at most 63 characters), as "NAMESPACE/NAME". `profile-controller-crashloop` takes no target
label: it always examines the one Profile controller named in settings.

A value must be a Kubernetes object name (RFC 1123 subdomain); an alert that names no valid
target asks for the ladder's sweep (target None), which examines every unhealthy node.
`Watchdog` and `InfoInhibitor` (kube-prometheus plumbing, always firing) never route.

Rules file schema (YAML)::

    defaults: true                 # optional: keep the built-in rules after these (default true)
    routes:
      - name: dcgm-xid             # optional: shown in logs (default "routes[<index>]")
        match:                     # label: value, or a list of values (any of them); all labels must match
          alertname: [DCGMXidErrors, DCGMGPUFellOff]
        match_re:                  # label: Python regex, matched against the whole value ("" when absent)
          cluster: "prod-.*"
        ladder: gpu-node-down      # runbook id or alias; unknown runbooks refuse the whole file
        target_label: Hostname     # optional: a label or a list, first present wins;
                                   # default: the ladder's target labels (above)

A rule needs at least one of `match`/`match_re`. Unknown keys, wrong types, bad regexes and
unknown runbooks are refused at load time with the file, the rule and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from kfops.bot.requests import DiagnosisRequest, Reply
from kfops.model import Ladder
from kfops.runbooks.registry import UnknownLadder, find, ladders

RUNBOOK_LABEL = "kfops_runbook"
#: always-firing kube-prometheus plumbing: never a reason to diagnose anything
IGNORED_ALERTS = frozenset({"Watchdog", "InfoInhibitor"})
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RUN_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_RULE_KEYS = frozenset({"name", "match", "match_re", "ladder", "target_label"})
_FILE_KEYS = frozenset({"routes", "defaults"})


class RoutesError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the reason."""


@dataclass(frozen=True)
class Rule:
    """Labels that must match (exact values or full-match regexes) → a ladder."""

    name: str
    ladder: str
    match: Mapping[str, frozenset[str]] = field(default_factory=dict)
    match_re: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    target_labels: tuple[str, ...] = ()  # empty: the ladder's own target labels

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k, "") in values for k, values in self.match.items()) and all(
            pattern.fullmatch(labels.get(k, "")) for k, pattern in self.match_re.items()
        )


@dataclass(frozen=True)
class Route:
    ladder: str
    target: str | None  # None: the ladder's sweep
    rule: str  # the rule that matched
    target_label: str | None = None  # the label the target came from


@dataclass(frozen=True)
class Decision:
    """A route, or None with the reason nothing routed (for the caller to log)."""

    route: Route | None
    reason: str


def target_labels(ladder: Ladder) -> tuple[str, ...]:
    """The labels that may name a ladder's target, most trustworthy first (see the module doc)."""
    name = ladder.target_input
    if name == "node":
        return ("exported_node", "node", "kubernetes_node", "instance")
    if name == "workflow":
        return ("run_id", "exported_workflow", "workflow")
    if name == "inferenceservice":
        return ("exported_inferenceservice", "inferenceservice")
    if name == "controller":
        return ()  # profile-controller-crashloop: one target, named in settings
    return (f"exported_{name}", name)


def _valid_target(label: str, value: str) -> bool:
    if label == "instance" and ":" in value:  # a scrape address, not a name
        return False
    return 0 < len(value) <= 253 and bool(_NAME.match(value))


def _target(labels: Mapping[str, str], candidates: Iterable[str]) -> tuple[str | None, str | None]:
    for label in candidates:
        value = labels.get(label, "")
        if label == "run_id":
            if _RUN_ID.match(value):
                return value.lower(), label
            continue
        if label in ("workflow", "exported_workflow"):
            # a Workflow is namespaced: the alert's namespace label completes the target
            namespace = labels.get("exported_namespace" if label.startswith("exported_") else "namespace", "")
            if value and namespace and _valid_target(label, value) and _NAME.match(namespace):
                return f"{namespace}/{value}", label
            continue
        if label in ("inferenceservice", "exported_inferenceservice"):
            # an InferenceService is namespaced too, and both parts are RFC 1123 labels
            namespace = labels.get("exported_namespace" if label.startswith("exported_") else "namespace", "")
            if _valid_label(value) and _valid_label(namespace):
                return f"{namespace}/{value}", label
            continue
        if value and _valid_target(label, value):
            return value, label
    return None, None


def _valid_label(value: str) -> bool:
    return 0 < len(value) <= 63 and bool(_LABEL.match(value))


class Router:
    def __init__(self, rules: Sequence[Rule] = (), *, defaults: bool = True) -> None:
        self._ladders = {ladder.id: ladder for ladder in ladders()}
        self.rules: tuple[Rule, ...] = tuple(
            replace(rule, ladder=_ladder(rule.ladder, rule.name)) for rule in rules
        )
        self.defaults = defaults
        self._by_alert = {
            ladder.id: Rule(f"{ladder.id}-alerts", ladder.id, {"alertname": frozenset(ladder.alerts)})
            for ladder in self._ladders.values()
            if ladder.alerts
        }

    @classmethod
    def from_file(cls, path: str | Path | None) -> Router:
        """The rules of `routes_file` (empty or None: built-in rules only)."""
        if not path:
            return cls()
        rules, defaults = load_rules(Path(path))
        return cls(rules, defaults=defaults)

    def route(self, labels: Mapping[str, str]) -> Decision:
        alertname = labels.get("alertname", "")
        if alertname in IGNORED_ALERTS:
            return Decision(None, f"{alertname} is always-firing alerting plumbing, not an incident")
        for rule in self.rules:
            if rule.matches(labels):
                return self._decide(rule.ladder, rule.name, rule.target_labels, labels)
        if not self.defaults:
            return Decision(None, f"no rule matches alert {alertname or '(no alertname)'}")
        return self._default(labels)

    def _default(self, labels: Mapping[str, str]) -> Decision:
        alertname = labels.get("alertname", "") or "(no alertname)"
        refused = ""
        runbook = labels.get(RUNBOOK_LABEL, "")
        if runbook:
            try:
                ladder = find(runbook)
            except UnknownLadder as exc:
                refused = f"; label {RUNBOOK_LABEL}: {exc}"
            else:
                return self._decide(ladder.id, "kfops-runbook-label", (), labels)
        for rule in self._by_alert.values():
            if rule.matches(labels):
                return self._decide(rule.ladder, rule.name, (), labels)
        return Decision(None, f"no runbook handles alert {alertname}{refused}")

    def _decide(
        self, ladder_id: str, rule: str, labels_for_target: tuple[str, ...], labels: Mapping[str, str]
    ) -> Decision:
        candidates = labels_for_target or target_labels(self._ladders[ladder_id])
        target, label = _target(labels, candidates)
        route = Route(ladder_id, target, rule, label)
        where = (
            f"{label}={target}"
            if target
            else f"no valid {'/'.join(candidates)} label: sweep"
            if candidates
            else "its one target, from settings"
        )
        return Decision(route, f"rule {rule} → {ladder_id} ({where})")


def to_request(
    route: Route, labels: Mapping[str, str], *, source: str, requested_by: str, reply: Reply
) -> DiagnosisRequest:
    """The request a routed alert asks the dispatcher for (labels kept for owner lookup)."""
    return DiagnosisRequest(
        ladder=route.ladder,
        target=route.target,
        source=source,
        requested_by=requested_by,
        reply=reply,
        labels=tuple(sorted(labels.items())),
    )


def unique(requests: Iterable[DiagnosisRequest]) -> list[DiagnosisRequest]:
    """One request per (ladder, target): alerts of one group often ask the same question."""
    seen: dict[str, DiagnosisRequest] = {}
    for request in requests:
        seen.setdefault(request.key, request)
    return list(seen.values())


# --- the rules file -------------------------------------------------------------------------


def load_rules(path: Path) -> tuple[list[Rule], bool]:
    """Parse and validate a rules file: (rules, whether the built-in rules follow them)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutesError(f"routes file {path}: cannot read it: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RoutesError(f"routes file {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RoutesError(f"routes file {path}: must be a mapping with a 'routes' list")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise RoutesError(f"routes file {path}: unknown keys {unknown} (known: routes, defaults)")
    defaults = data.get("defaults", True)
    if not isinstance(defaults, bool):
        raise RoutesError(f"routes file {path}: 'defaults' must be true or false")
    entries = data.get("routes") or []
    if not isinstance(entries, list):
        raise RoutesError(f"routes file {path}: 'routes' must be a list")
    try:
        return [_rule(entry, index) for index, entry in enumerate(entries)], defaults
    except RoutesError as exc:
        raise RoutesError(f"routes file {path}: {exc}") from exc


def _rule(entry: Any, index: int) -> Rule:
    where = f"routes[{index}]"
    if not isinstance(entry, dict):
        raise RoutesError(f"{where}: must be a mapping")
    name = entry.get("name", where)
    if not isinstance(name, str) or not name:
        raise RoutesError(f"{where}: 'name' must be a non-empty string")
    where = f"{where} ({name})" if name != where else where
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise RoutesError(f"{where}: unknown keys {unknown} (known: {', '.join(sorted(_RULE_KEYS))})")
    match = _match(entry.get("match") or {}, where)
    match_re = _match_re(entry.get("match_re") or {}, where)
    if not match and not match_re:
        raise RoutesError(f"{where}: needs 'match' or 'match_re' (a rule matching everything is a mistake)")
    return Rule(name, _ladder(entry.get("ladder"), where), match, match_re, _labels(entry, where))


def _ladder(value: Any, where: str) -> str:
    """The canonical id of the runbook a rule names; unknown runbooks are refused."""
    if not isinstance(value, str) or not value:
        raise RoutesError(f"{where}: 'ladder' must name a runbook")
    try:
        return find(value).id
    except UnknownLadder as exc:
        raise RoutesError(f"{where}: {exc}") from exc


def _mapping(value: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise RoutesError(f"{where}: '{key}' must map label names to values")
    return value


def _match(value: Any, where: str) -> dict[str, frozenset[str]]:
    result: dict[str, frozenset[str]] = {}
    for label, wanted in _mapping(value, "match", where).items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values or not all(isinstance(v, str | int | float) for v in values):
            raise RoutesError(f"{where}: match.{label} must be a string or a list of strings")
        result[label] = frozenset(str(v) for v in values)
    return result


def _match_re(value: Any, where: str) -> dict[str, re.Pattern[str]]:
    result: dict[str, re.Pattern[str]] = {}
    for label, pattern in _mapping(value, "match_re", where).items():
        if not isinstance(pattern, str):
            raise RoutesError(f"{where}: match_re.{label} must be a regex string")
        try:
            result[label] = re.compile(pattern)
        except re.error as exc:
            raise RoutesError(f"{where}: match_re.{label}: bad regex {pattern!r}: {exc}") from exc
    return result


def _labels(entry: dict[str, Any], where: str) -> tuple[str, ...]:
    value = entry.get("target_label")
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise RoutesError(f"{where}: 'target_label' must be a label name or a list of them")
    return tuple(values)
