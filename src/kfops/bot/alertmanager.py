"""Alertmanager webhook receiver (reference/protocols.md §3): firing alerts → diagnosis requests.

Alertmanager signs nothing: the only authentication is the bearer token its `http_config`
sends, compared in constant time. Every notification carries the whole current group (old
alerts again, resolved ones too), and HA peers may both deliver it, so each firing alert is
diagnosed once per (fingerprint, status, startsAt) within the TTL; resolved alerts are ignored.

Status codes: Alertmanager retries a 5xx and drops every 4xx (429 included), so 401 is for a
missing or wrong token, 400 for a body no retry could fix, and the server answers 503 when it
cannot queue the requests (after `release`, so the retry is not taken for a duplicate).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kfops.bot.dedup import Deduplicator
from kfops.bot.pagerduty import header_value, secrets_of
from kfops.bot.requests import DiagnosisRequest, Reply
from kfops.bot.routing import Router, to_request, unique
from kfops.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024  # a group of a few thousand alerts
#: a still-firing alert is re-sent every repeat_interval (4 h by default): diagnose it again then
DEDUP_TTL_S = 3600.0
MAX_UNROUTED_SHOWN = 20


class PayloadError(ValueError):
    """A body that is not an Alertmanager v4 webhook notification."""


@dataclass(frozen=True)
class AlertmanagerAlert:
    status: str  # firing | resolved
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""
    fingerprint: str = ""
    generator_url: str = ""

    @property
    def dedup_key(self) -> str:
        return f"{self.fingerprint}\x1f{self.status}\x1f{self.starts_at}"


@dataclass(frozen=True)
class Notification:
    version: str
    group_key: str
    status: str
    receiver: str
    alerts: tuple[AlertmanagerAlert, ...]
    external_url: str = ""
    truncated_alerts: int = 0


def _strings(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PayloadError(f"{where} must map names to strings")
    return {str(k): v for k, v in value.items()}


def _string(data: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise PayloadError(f"{where}.{key} is {'missing or ' if required else ''}not a string")
    return value


def _alert(data: Any, index: int) -> AlertmanagerAlert:
    where = f"alerts[{index}]"
    if not isinstance(data, dict):
        raise PayloadError(f"{where} is not an object")
    status = _string(data, "status", where, required=True)
    if status not in ("firing", "resolved"):
        raise PayloadError(f"{where}.status is {status!r}, not firing or resolved")
    labels = _strings(data.get("labels"), f"{where}.labels")
    fingerprint = _string(data, "fingerprint", where) or _label_hash(labels)
    return AlertmanagerAlert(
        status=status,
        labels=labels,
        annotations=_strings(data.get("annotations"), f"{where}.annotations"),
        starts_at=_string(data, "startsAt", where),
        fingerprint=fingerprint,
        generator_url=_string(data, "generatorURL", where),
    )


def _label_hash(labels: Mapping[str, str]) -> str:
    """A stand-in fingerprint for custom payloads that leave it out: stable per label set."""
    return hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]


def parse_notification(raw: bytes) -> Notification:
    """A v4 webhook body; PayloadError says what is wrong with a bad one."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise PayloadError("body is not a JSON object")
    version = body.get("version")
    if version != "4":
        raise PayloadError(f'version is {version!r}; kfops reads Alertmanager webhook version "4"')
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' is missing or not a list")
    truncated = body.get("truncatedAlerts", 0)
    return Notification(
        version=version,
        group_key=_string(body, "groupKey", "body", required=True),
        status=_string(body, "status", "body"),
        receiver=_string(body, "receiver", "body"),
        alerts=tuple(_alert(alert, index) for index, alert in enumerate(alerts)),
        external_url=_string(body, "externalURL", "body"),
        truncated_alerts=truncated if isinstance(truncated, int) else 0,
    )


@dataclass(frozen=True)
class AlertmanagerVerdict:
    """What the HTTP server answers (`status`, JSON `body`) and the requests to submit."""

    status: int
    body: dict[str, Any]
    requests: tuple[DiagnosisRequest, ...] = ()
    dedup_keys: tuple[str, ...] = ()  # what `release` forgets if the requests cannot be queued


@dataclass
class _Sorted:
    requests: list[DiagnosisRequest] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    unrouted: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    resolved: int = 0


class AlertmanagerWebhook:
    def __init__(
        self, settings: Settings, *, router: Router | None = None, dedup: Deduplicator | None = None
    ) -> None:
        self._tokens = [token.encode() for token in secrets_of(settings.alertmanager_token)]
        if not self._tokens:
            raise ValueError(
                "KFOPS_ALERTMANAGER_TOKEN is not set: refusing unauthenticated Alertmanager webhooks"
            )
        self.router = Router.from_file(settings.routes_file) if router is None else router
        self.dedup = Deduplicator(ttl_s=DEDUP_TTL_S) if dedup is None else dedup

    def authorized(self, headers: Mapping[str, str]) -> bool:
        """`Authorization: Bearer <token>` with a configured token, compared in constant time."""
        scheme, _, token = (header_value(headers, "Authorization") or "").strip().partition(" ")
        offered = token.strip().encode("utf-8", "replace")
        matched = False
        for expected in self._tokens:
            matched |= hmac.compare_digest(expected, offered)
        return matched and scheme.lower() == "bearer"

    def accept(self, raw: bytes, headers: Mapping[str, str]) -> AlertmanagerVerdict:
        """Authenticate, parse, drop what was seen, route what fires. No network I/O."""
        if not self.authorized(headers):
            log.warning("Alertmanager webhook refused: missing or wrong bearer token")
            return AlertmanagerVerdict(401, {"error": "missing or invalid bearer token"})
        if len(raw) > MAX_BODY:
            return AlertmanagerVerdict(413, {"error": f"body over {MAX_BODY} bytes"})
        try:
            notification = parse_notification(raw)
        except PayloadError as exc:
            log.warning("Alertmanager webhook refused: %s", exc)
            return AlertmanagerVerdict(400, {"error": str(exc)})
        if notification.truncated_alerts:
            log.warning(
                "Alertmanager group %s dropped %d alerts (max_alerts)",
                notification.group_key,
                notification.truncated_alerts,
            )
        found = self._sort(notification)
        requests = unique(found.requests)
        body = {
            "status": "accepted",
            "requests": len(requests),
            "duplicates": found.duplicates,
            "resolved": found.resolved,
            "unrouted": found.unrouted[:MAX_UNROUTED_SHOWN],
        }
        return AlertmanagerVerdict(200, body, tuple(requests), tuple(found.keys))

    def release(self, verdict: AlertmanagerVerdict) -> None:
        """Forget a verdict's alerts when its requests could not be queued (the retry must run)."""
        for key in verdict.dedup_keys:
            self.dedup.forget(key)

    def _sort(self, notification: Notification) -> _Sorted:
        found = _Sorted()
        reply = Reply(alertmanager_group=notification.group_key)
        for alert in notification.alerts:
            if alert.status != "firing":
                found.resolved += 1
                continue
            if not self.dedup.first(alert.dedup_key):
                found.duplicates += 1
                continue
            found.keys.append(alert.dedup_key)
            decision = self.router.route(alert.labels)
            if decision.route is None:
                log.info("alert %s: %s", alert.fingerprint, decision.reason)
                name = alert.labels.get("alertname", "")
                found.unrouted.append(
                    {"alertname": name, "fingerprint": alert.fingerprint, "reason": decision.reason}
                )
                continue
            found.requests.append(
                to_request(
                    decision.route,
                    alert.labels,
                    source="alertmanager",
                    requested_by=f"alertmanager:{notification.receiver or 'unknown'}",
                    reply=reply,
                )
            )
        return found
