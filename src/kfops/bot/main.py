"""`kfops serve`: build the service and its surfaces, then serve until SIGTERM (graceful)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import uvicorn

from kfops.bot import logs
from kfops.bot.server import create_app
from kfops.bot.service import Service, build_service
from kfops.settings import Settings

log = logging.getLogger("kfops.serve")


def build_surfaces(service: Service) -> tuple[Any, Any, dict[str, Any]]:
    """(Bolt app or None, its Starlette handler or None, webhook adapters by name)."""
    from kfops.bot.surfaces import alertmanager_adapter, pagerduty_adapter, slack_surface

    bolt_app, handler = slack_surface(service)
    webhooks = {
        name: adapter
        for name, adapter in (
            ("pagerduty", pagerduty_adapter(service)),
            ("alertmanager", alertmanager_adapter(service)),
        )
        if adapter is not None
    }
    return bolt_app, handler, webhooks


def run_server(settings: Settings, host: str, port: int, socket_mode: bool) -> int:
    logs.configure()
    service = build_service(settings)
    bolt_app, handler, webhooks = build_surfaces(service)
    if socket_mode:
        if bolt_app is None or not settings.slack_app_token:
            log.error("Socket Mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN")
            return 2
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket = SocketModeHandler(bolt_app, settings.slack_app_token)
        threading.Thread(target=socket.connect, name="kfops-socket-mode", daemon=True).start()
        handler = None  # Slack arrives over the socket; HTTP still serves webhooks and health
    app = create_app(service, handler, webhooks)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=30
    )
    for check in service.readiness():
        log.info("readiness", extra={"check": check.name, "ok": check.ok, "detail": check.message})
    uvicorn.Server(config).run()
    return 0
