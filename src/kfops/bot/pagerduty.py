"""PagerDuty: v3 webhooks in, REST API v2 out (reference/protocols.md §2).

The webhook endpoint must answer within PagerDuty's 5 s, so `PagerDutyWebhook.accept` does no
network I/O: it checks the signature, drops redeliveries and parses the event. `triage` runs
later, off the request thread: v3 webhooks carry no alert payload, so it fetches the incident's
alerts over REST and routes each to a ladder. Results go back as incident notes (`add_note`).

Status codes matter to PagerDuty: a 5xx or 429 is retried for up to 48 h, any other 4xx is
dropped, and three drops in a row disable the subscription for 24 h. So 401 is only for a bad
signature and 400 only for a body no retry could fix; events kfops does not act on get a 2xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from kfops.bot.dedup import Deduplicator
from kfops.bot.requests import DiagnosisRequest, Reply
from kfops.bot.routing import Router, to_request, unique
from kfops.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-PagerDuty-Signature"
ACCEPT = "application/vnd.pagerduty+json;version=2"
TRIGGERED = "incident.triggered"
#: PagerDuty drops payloads above 256 KB; anything bigger is not from PagerDuty.
MAX_BODY = 512 * 1024
#: signatures looked at in one header (one per active secret; a handful during rotation).
MAX_SIGNATURES = 8
PAGE_SIZE = 100
MAX_PAGES = 10  # an incident with over 1000 alerts is triaged on its first 1000
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class PagerDutyError(Exception):
    """PagerDuty refused or could not answer; the message carries PagerDuty's own words."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PagerDutyConfigError(ValueError):
    """A setting PagerDuty needs is missing."""


class WebhookError(ValueError):
    """A webhook body that is not a PagerDuty v3 event."""


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, from any mapping a web framework hands over."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


# --- signatures ------------------------------------------------------------------------------


def verify_signature(raw_body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True when any `v1=<hex>` entry of the header is HMAC-SHA256(secret, raw body) for any secret.

    Several entries arrive during PagerDuty's secret rotation and several secrets may be
    configured during ours. Every comparison is constant-time and none short-circuits.
    """
    if not header:
        return False
    offered = [
        part.strip()[3:].encode("utf-8", "replace")
        for part in header.split(",")[:MAX_SIGNATURES]
        if part.strip().startswith("v1=")
    ]
    matched = False
    for secret in (s for s in secrets if s):
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest().encode()
        for candidate in offered:
            matched |= hmac.compare_digest(expected, candidate)
    return matched


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    event_type: str  # e.g. incident.triggered
    resource_type: str  # incident | service | …
    occurred_at: str = ""
    incident_id: str | None = None
    incident_number: int | None = None
    title: str = ""
    status: str = ""
    urgency: str = ""
    service_id: str = ""
    service: str = ""  # the service's name
    html_url: str = ""
    incident_key: str = ""


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _required(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookError(f"{where}.{key} is missing or not a string")
    return value


def parse_event(raw: bytes) -> WebhookEvent:
    """The one event of a v3 webhook body; WebhookError says what is wrong with a bad one."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WebhookError(f"body is not JSON: {exc}") from exc
    event = body.get("event") if isinstance(body, dict) else None
    if not isinstance(event, dict):
        raise WebhookError("body has no 'event' object: not a PagerDuty v3 webhook")
    event_type = _required(event, "event_type", "event")
    base = WebhookEvent(
        id=_required(event, "id", "event"),
        event_type=event_type,
        resource_type=_text(event, "resource_type") or event_type.partition(".")[0],
        occurred_at=_text(event, "occurred_at"),
    )
    if base.resource_type != "incident":
        return base
    found = _with_incident(base, event.get("data"))
    if event_type == TRIGGERED and not found.incident_id:
        raise WebhookError(f"{TRIGGERED} event without an incident (event.data.id)")
    return found


def _with_incident(base: WebhookEvent, data: Any) -> WebhookEvent:
    """The incident an event is about. Lenient for events kfops ignores: answering 4xx to those
    would count towards the three drops that disable the subscription."""
    if not isinstance(data, dict):
        return base
    if data.get("type") == "incident":
        return _incident(base, data)
    reference = data.get("incident")  # incident_note, incident_responder, …: a reference
    incident_id = _text(reference, "id") if isinstance(reference, dict) else ""
    return replace(base, incident_id=incident_id or None)


def _incident(base: WebhookEvent, data: Mapping[str, Any]) -> WebhookEvent:
    service = data.get("service")
    service = service if isinstance(service, dict) else {}
    number = data.get("number")
    return replace(
        base,
        incident_id=_text(data, "id") or None,
        incident_number=number if isinstance(number, int) else None,
        title=_text(data, "title"),
        status=_text(data, "status"),
        urgency=_text(data, "urgency"),
        service_id=_text(service, "id"),
        service=_text(service, "summary"),
        html_url=_text(data, "html_url"),
        incident_key=_text(data, "incident_key"),
    )


# --- alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One PagerDuty alert of an incident, with the Alertmanager label sets it carries."""

    id: str
    summary: str
    status: str
    alert_key: str
    severity: str
    details: Mapping[str, Any] = field(default_factory=dict)
    label_sets: tuple[Mapping[str, str], ...] = ()


def parse_alert(data: Mapping[str, Any]) -> Alert:
    details = alert_details(data.get("body"))
    return Alert(
        id=_text(data, "id"),
        summary=_text(data, "summary"),
        status=_text(data, "status"),
        alert_key=_text(data, "alert_key"),
        severity=_text(data, "severity"),
        details=details,
        label_sets=label_sets(details),
    )


def _as_object(value: Any) -> Any:
    """Details rendered by a template may arrive as a JSON string."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def alert_details(body: Any) -> dict[str, Any]:
    """The custom details: `body.cef_details.details` (PD-CEF) first, else `body.details`."""
    if not isinstance(body, dict):
        return {}
    cef = body.get("cef_details")
    for candidate in (cef.get("details") if isinstance(cef, dict) else None, body.get("details")):
        value = _as_object(candidate)
        if isinstance(value, dict) and value:
            return value
    return {}


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def label_sets(details: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
    """The label sets of the firing alerts an alert's details describe.

    Alertmanager's PagerDuty receiver puts its firing alerts under `firing`: a JSON list of
    alerts (v0.30+) or the older "Labels: / - name = value" text. Other integrations put flat
    key/value details, which are taken as one label set.
    """
    if "firing" not in details:
        flat = _labels(details)
        return (flat,) if flat else ()
    firing = _as_object(details.get("firing"))
    if isinstance(firing, list):
        sets = [_labels(item.get("labels")) for item in firing if isinstance(item, dict)]
        return tuple(s for s in sets if s)
    if isinstance(firing, str):
        return tuple(_text_labels(firing))
    return ()


def _text_labels(text: str) -> list[dict[str, str]]:
    """Labels out of Alertmanager's pre-0.30 `pagerduty.default.instances` text."""
    found: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "Labels:":
            current = {}
            found.append(current)
        elif stripped == "Annotations:" or stripped.startswith("Source:"):
            current = None
        elif current is not None and stripped.startswith("- ") and " = " in stripped:
            name, _, value = stripped[2:].partition(" = ")
            current[name.strip()] = value.strip()
    return [labels for labels in found if labels]


# --- REST API v2 -----------------------------------------------------------------------------

_HINTS = {
    401: " — the API token was refused: check KFOPS_PAGERDUTY_API_TOKEN (sent as 'Token token=…')",
    403: " — the token may not do this (read-only keys cannot write notes; OAuth needs incidents.write)",
    404: " — no such incident, or the token cannot see it",
}


def _pagerduty_message(response: httpx.Response) -> str:
    """PagerDuty's own error message (`{"error": {"message", "code", "errors"}}`), else the text."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        parts = [str(error.get("message") or "no message")]
        if isinstance(error.get("errors"), list) and error["errors"]:
            parts.append("; ".join(str(e) for e in error["errors"]))
        if error.get("code") is not None:
            parts.append(f"code {error['code']}")
        return " — ".join(parts)
    return response.text[:300] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date), else PagerDuty's ratelimit-reset."""
    for name in ("Retry-After", "ratelimit-reset"):
        value = response.headers.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            continue
    return None


def _safe_to_resend(method: str, exc: httpx.TransportError) -> bool:
    """GETs always; a POST only if it never reached PagerDuty (else the note may exist twice)."""
    return method == "GET" or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


class PagerDutyClient:
    """The two REST calls kfops makes, with timeouts and bounded retries.

    429 waits for Retry-After (refusing waits over `max_retry_wait_s` rather than holding a
    worker), 5xx and connection failures back off exponentially, every other 4xx is reported at
    once with PagerDuty's message. The token is sent, never logged or put in an error.
    """

    def __init__(
        self,
        settings: Settings,
        transport: httpx.BaseTransport | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_attempts: int = 4,
        max_retry_wait_s: float = 30.0,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.pagerduty_api_token:
            raise PagerDutyConfigError("KFOPS_PAGERDUTY_API_TOKEN is not set: kfops cannot read incidents")
        self._from = settings.pagerduty_from_email
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_retry_wait_s
        self._backoff = backoff_s
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=settings.pagerduty_api_url.rstrip("/"),
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"Authorization": f"Token token={settings.pagerduty_api_token}", "Accept": ACCEPT},
        )

    def __repr__(self) -> str:
        return f"PagerDutyClient({self._http.base_url})"

    def __enter__(self) -> PagerDutyClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def incident_alerts(self, incident_id: str, statuses: Sequence[str] = ("triggered",)) -> list[Alert]:
        """The incident's alerts (`GET /incidents/{id}/alerts`, every page up to MAX_PAGES)."""
        path = f"/incidents/{quote(incident_id, safe='')}/alerts"
        alerts: list[Alert] = []
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": len(alerts)}
            if statuses:
                params["statuses[]"] = list(statuses)
            page = self._send("GET", path, params=params)
            items = page.get("alerts") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise PagerDutyError(f"PagerDuty's answer to GET {path} has no 'alerts' list")
            alerts += [parse_alert(item) for item in items if isinstance(item, dict)]
            if not page.get("more") or not items:
                return alerts
        log.warning(
            "incident %s has over %d alerts; triaging the first %d", incident_id, len(alerts), len(alerts)
        )
        return alerts

    def add_note(self, incident_id: str, text: str) -> str:
        """Post a note on the incident's timeline (`POST /incidents/{id}/notes`); the note's id."""
        if not self._from:
            raise PagerDutyConfigError(
                "KFOPS_PAGERDUTY_FROM_EMAIL is not set: PagerDuty requires a From user email to write notes"
            )
        path = f"/incidents/{quote(incident_id, safe='')}/notes"
        answer = self._send("POST", path, body={"note": {"content": text}}, headers={"From": self._from})
        note = answer.get("note") if isinstance(answer, dict) else None
        return _text(note, "id") if isinstance(note, dict) else ""

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = self._http.request(method, path, params=params, json=body, headers=headers)
            except httpx.TransportError as exc:
                if last or not _safe_to_resend(method, exc):
                    reason = f"{type(exc).__name__}: {exc}"
                    raise PagerDutyError(
                        f"PagerDuty unreachable ({method} {path}, attempt {attempt}): {reason}"
                    ) from exc
                self._sleep(self._pause(attempt))
                continue
            if response.is_success:
                return self._json(response, method, path)
            wait = self._retry_wait(response, attempt)
            if wait is None or last:
                raise self._error(response, method, path, attempt)
            log.warning(
                "PagerDuty answered %d to %s %s; retrying in %.1f s", response.status_code, method, path, wait
            )
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pause(self, attempt: int) -> float:
        """Exponential backoff: backoff_s, twice that, four times…"""
        return self._backoff * 2.0 ** (attempt - 1)

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before retrying this answer; None: do not retry it."""
        if response.status_code == 429:
            asked = _retry_after(response)
            wait = self._pause(attempt) if asked is None else asked
            return wait if wait <= self._max_wait else None
        if response.status_code >= 500:
            return self._pause(attempt)
        return None

    @staticmethod
    def _error(response: httpx.Response, method: str, path: str, attempts: int) -> PagerDutyError:
        status = response.status_code
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if status == 429 and (wait := _retry_after(response)) is not None:
            tries += f" (asked to wait {wait:.0f} s)"
        return PagerDutyError(
            f"PagerDuty answered {status} {response.reason_phrase} to {method} {path}{tries}: "
            f"{_pagerduty_message(response)}{_HINTS.get(status, '')}",
            status=status,
        )

    @staticmethod
    def _json(response: httpx.Response, method: str, path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise PagerDutyError(f"PagerDuty's answer to {method} {path} is not JSON: {exc}") from exc


# --- the webhook endpoint --------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the HTTP server answers (`status`, JSON `body`), and the event to triage, if any."""

    status: int
    body: dict[str, Any]
    event: WebhookEvent | None = None  # set only for 202: hand it to `triage` off the request thread


@dataclass(frozen=True)
class Triage:
    requests: list[DiagnosisRequest]
    skipped: list[str]  # why alerts led to no request (worth a note on the incident)


def secrets_of(value: str) -> list[str]:
    """Comma-separated secrets or tokens: several are valid while one is being rotated."""
    return [part.strip() for part in value.split(",") if part.strip()]


class PagerDutyWebhook:
    def __init__(
        self,
        settings: Settings,
        *,
        client: PagerDutyClient | None = None,
        router: Router | None = None,
        dedup: Deduplicator | None = None,
    ) -> None:
        self._secrets = secrets_of(settings.pagerduty_webhook_secret)
        if not self._secrets:
            raise PagerDutyConfigError(
                "KFOPS_PAGERDUTY_WEBHOOK_SECRET is not set: refusing to accept unsigned PagerDuty webhooks"
            )
        self.client = PagerDutyClient(settings) if client is None else client
        self.router = Router.from_file(settings.routes_file) if router is None else router
        self.dedup = Deduplicator() if dedup is None else dedup

    def accept(self, raw: bytes, headers: Mapping[str, str]) -> Verdict:
        """Decide on a delivery without any network I/O (PagerDuty waits 5 s at most)."""
        if len(raw) > MAX_BODY:
            return Verdict(413, {"error": f"body over {MAX_BODY} bytes"})
        if not verify_signature(raw, header_value(headers, SIGNATURE_HEADER), self._secrets):
            log.warning("PagerDuty webhook refused: %s missing or not valid", SIGNATURE_HEADER)
            return Verdict(401, {"error": f"missing or invalid {SIGNATURE_HEADER}"})
        try:
            event = parse_event(raw)
        except WebhookError as exc:
            log.warning("PagerDuty webhook refused: %s", exc)
            return Verdict(400, {"error": str(exc)})
        if not self.dedup.first(event.id):
            log.info("PagerDuty event %s delivered again: ignored", event.id)
            return Verdict(200, {"status": "duplicate", "event": event.id})
        if event.event_type != TRIGGERED or not event.incident_id:
            return Verdict(200, {"status": "ignored", "event": event.id, "eventType": event.event_type})
        return Verdict(202, {"status": "accepted", "event": event.id, "incident": event.incident_id}, event)

    def release(self, event: WebhookEvent) -> None:
        """Forget an accepted event the server could not schedule, so PagerDuty's retry is run."""
        self.dedup.forget(event.id)

    def triage(self, event: WebhookEvent) -> list[DiagnosisRequest]:
        """The diagnoses an incident asks for (fetches its alerts: call off the request thread)."""
        return self.route_incident(event).requests

    def route_incident(self, event: WebhookEvent) -> Triage:
        """`triage`, with the reasons alerts were not routed. Raises PagerDutyError."""
        if event.event_type != TRIGGERED or not event.incident_id:
            return Triage([], [f"{event.event_type}: nothing to diagnose"])
        incident = event.incident_id
        reply = Reply(pagerduty_incident=incident)
        requests: list[DiagnosisRequest] = []
        skipped: list[str] = []
        for alert in self.client.incident_alerts(incident):
            if not alert.label_sets:
                skipped.append(f"alert {alert.id} ({alert.summary}): no labels in its custom details")
            for labels in alert.label_sets:
                decision = self.router.route(labels)
                log.info("incident %s alert %s: %s", incident, alert.id, decision.reason)
                if decision.route is None:
                    skipped.append(f"alert {alert.id}: {decision.reason}")
                    continue
                requests.append(
                    to_request(
                        decision.route,
                        labels,
                        source="pagerduty",
                        requested_by=f"pagerduty:{incident}",
                        reply=reply,
                    )
                )
        return Triage(unique(requests), skipped)
