"""The surfaces of `kfops serve`, wired to the service: Slack, PagerDuty, Alertmanager.

Adapters give the HTTP server one shape, `handle(raw, headers) -> (status, body)`, raising
QueueFull when nothing more can be accepted (503, the sender retries). Notifiers post a run's
result back where the request came from.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kfops.bot.alertmanager import AlertmanagerWebhook
from kfops.bot.dispatch import QueueFull
from kfops.bot.pagerduty import PagerDutyClient, PagerDutyError, PagerDutyWebhook, WebhookEvent
from kfops.bot.requests import DiagnosisRequest
from kfops.bot.runs import Run
from kfops.bot.service import Service
from kfops.render.pagerduty import incident_note

log = logging.getLogger("kfops.serve")


class AlertmanagerAdapter:
    def __init__(self, service: Service, hook: AlertmanagerWebhook) -> None:
        self.service = service
        self.hook = hook

    def handle(self, raw: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        verdict = self.hook.accept(raw, headers)
        if verdict.status != 200 or not verdict.requests:
            return verdict.status, verdict.body
        runs = []
        try:
            for request in verdict.requests:
                runs.append(self.service.submit(request).run_id)
        except QueueFull:
            # Alertmanager retries a 503; what was already queued coalesces with the retry.
            self.hook.release(verdict)
            raise
        return 200, {**verdict.body, "runs": runs}


class PagerDutyAdapter:
    """Answer PagerDuty within its 5 s; fetch the incident's alerts and route them afterwards."""

    def __init__(self, service: Service, hook: PagerDutyWebhook) -> None:
        self.service = service
        self.hook = hook

    def handle(self, raw: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        verdict = self.hook.accept(raw, headers)
        if verdict.event is None:
            return verdict.status, verdict.body
        if self.service.dispatcher.depth >= self.service.settings.queue_size:
            self.hook.release(verdict.event)  # PagerDuty retries the 503 and we run it then
            raise QueueFull("the diagnosis queue is full; retry shortly")
        self.service.triage.submit(self._triage, verdict.event)
        return verdict.status, verdict.body

    def _triage(self, event: WebhookEvent) -> None:
        incident = event.incident_id or ""
        try:
            requests = self.hook.triage(event)
        except PagerDutyError as exc:
            self._tell(incident, f"kfops could not triage this incident: {exc}")
            return
        if not requests:
            self._tell(incident, "kfops found no runbook for this incident's alerts (see its routing rules)")
        for request in requests:
            try:
                self.service.submit(request)
            except QueueFull as exc:
                self._tell(incident, f"kfops is overloaded and did not diagnose {request.ladder}: {exc}")

    def _tell(self, incident: str, text: str) -> None:
        try:
            self.hook.client.add_note(incident, text)
        except PagerDutyError as exc:
            log.warning("could not post a PagerDuty note", extra={"incident": incident, "error": str(exc)})


class PagerDutyNotifier:
    """A concise note on the incident that asked: verdict, cause, evidence, proposals, run id."""

    def __init__(self, client: PagerDutyClient) -> None:
        self.client = client

    def notify(self, run: Run, request: DiagnosisRequest) -> None:
        incident = request.reply.pagerduty_incident
        if not incident:
            return
        note = incident_note(
            run.diagnoses, run_id=run.run_id, slack_link=run.links.get("slack"), error=run.error
        )
        self.client.add_note(incident, note)
        run.links.setdefault("pagerduty", incident)


class ThreadedSlackHandler:
    """Bolt's Starlette handler, but dispatching on a worker thread.

    Bolt's own adapter calls the synchronous App.dispatch on the event loop, so concurrent
    commands queue behind each other (p50 ack 554 ms under 50 concurrent commands); here the
    event loop only reads and writes, and acks stay within Slack's 3 s under load.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle(self, request: Request) -> Response:
        from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

        bolt_request = to_bolt_request(request, await request.body())
        bolt_response = await run_in_threadpool(self.app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)


def observed(gates: Any, service: Service) -> Any:
    """The gate factory, with each gate counting its executions in the service's metrics."""

    def make(user: Any) -> Any:
        gate, identity = gates(user)

        def count(executed: Any) -> None:
            outcome = "ok" if executed.outcome.ok and executed.verification.ok else "failed"
            service.metrics.remediations.labels(executed.plan.proposal.action, outcome).inc()

        gate.observers.append(count)
        return gate, identity

    return make


def slack_surface(service: Service) -> tuple[Any, Any]:
    """The Bolt app and its Starlette handler, or (None, None) when Slack is not configured."""
    settings = service.settings
    if not settings.slack_bot_token or not (settings.slack_signing_secret or settings.slack_app_token):
        return None, None
    from kfops.bot.slack_app import DispatcherServices, build_slack_app, live_gates, web_client
    from kfops.bot.slack_notify import SlackNotifier, label_owners, profile_owners

    client = web_client(settings)
    owners = profile_owners(service.reader) if service.reader is not None else label_owners
    notifier = SlackNotifier(client, settings, owners=owners)
    service.notifiers.append(notifier)
    # Listeners ack first, then post to Slack (I/O-bound); enough threads that a burst of commands
    # never waits behind earlier commands' posting before it can ack.
    executor = ThreadPoolExecutor(32, thread_name_prefix="kfops-slack")
    service.on_stop.append(lambda: executor.shutdown(wait=False, cancel_futures=True))
    services = DispatcherServices(
        service.submit, service.runs, observed(live_gates(settings), service), settings
    )
    # token_verification=False: Bolt checks the token on the first request instead of at start-up,
    # so the server starts (and /readyz explains) even while Slack is unreachable.
    app = build_slack_app(
        settings, services, client=client, notifier=notifier, executor=executor, token_verification=False
    )
    return app, ThreadedSlackHandler(app)


def alertmanager_adapter(service: Service) -> AlertmanagerAdapter | None:
    if not service.settings.alertmanager_token:
        return None
    return AlertmanagerAdapter(service, AlertmanagerWebhook(service.settings))


def pagerduty_adapter(service: Service) -> PagerDutyAdapter | None:
    settings = service.settings
    if not settings.pagerduty_webhook_secret:
        return None
    client = PagerDutyClient(settings)
    service.notifiers.append(PagerDutyNotifier(client))
    return PagerDutyAdapter(service, PagerDutyWebhook(settings, client=client))
