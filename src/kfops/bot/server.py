"""The production HTTP server of `kfops serve` (Starlette on uvicorn, not Bolt's development server).

    POST /slack/events            Slack commands and interactions (Bolt)
    POST /webhooks/pagerduty      PagerDuty v3 webhooks (signature-verified)
    POST /webhooks/alertmanager   Alertmanager v4 webhooks (bearer token)
    GET  /metrics /healthz /readyz

Webhooks are answered at once (PagerDuty wants 2xx within 5 s); work happens from the queue. A full
queue answers 503 with Retry-After so the sender retries: nothing accepted is dropped silently.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kfops.bot.dispatch import QueueFull
from kfops.bot.service import Service

log = logging.getLogger("kfops.serve")
Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    service: Service, slack_handler: Any = None, webhooks: dict[str, Any] | None = None
) -> Starlette:
    """The ASGI app. `slack_handler` is Bolt's Starlette request handler; `webhooks` maps a name
    ("pagerduty", "alertmanager") to an object with `handle(raw, headers) -> (status, body, requests)`."""
    webhooks = webhooks or {}

    def counted(endpoint: str, handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            response = await handler(request)
            service.metrics.requests.labels(endpoint, str(response.status_code)).inc()
            return response

        return wrapped

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = await run_in_threadpool(service.readiness)
        ready = all(c.ok for c in checks)
        body = {
            "ready": ready,
            "checks": [{"name": c.name, "ok": c.ok, "message": c.message} for c in checks],
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(service.metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def slack(request: Request) -> Response:
        if slack_handler is None:
            return JSONResponse(
                {"error": "Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)"}, 404
            )
        response: Response = await slack_handler.handle(request)
        return response

    def webhook(name: str) -> Handler:
        async def handle(request: Request) -> Response:
            hook = webhooks.get(name)
            if hook is None:
                return JSONResponse({"error": f"{name} webhooks are not configured"}, status_code=404)
            raw = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            try:
                status, body = await run_in_threadpool(hook.handle, raw, headers)
            except QueueFull as exc:
                return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "30"})
            return JSONResponse(body, status_code=status)

        return handle

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("kfops serve ready")
        yield
        handed_back = await run_in_threadpool(service.stop)
        log.info("kfops serve stopped", extra={"handedBack": len(handed_back)})

    routes = [
        Route("/healthz", counted("healthz", healthz), methods=["GET"]),
        Route("/readyz", counted("readyz", readyz), methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/slack/events", counted("slack", slack), methods=["POST"]),
        Route("/webhooks/pagerduty", counted("pagerduty", webhook("pagerduty")), methods=["POST"]),
        Route("/webhooks/alertmanager", counted("alertmanager", webhook("alertmanager")), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
