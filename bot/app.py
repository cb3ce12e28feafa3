"""The aiohttp application: webhooks, health, and (optionally) the in-process worker.

``create_app(settings, db=..., clock=...)`` builds it; tests pass their own database and clock,
``turnout serve`` lets it open its own. Long-lived resources are tied to ``cleanup_ctx`` so they
start and stop with the server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot import monitoring
from bot.app_keys import CLOCK, DB, METRICS, OUTBOX_WAKERS, PIPELINE, SETTINGS
from bot.clock import Clock, SystemClock
from bot.inbound import InboundPipeline
from bot.metrics import Metrics
from bot.telegram import webhook as telegram
from bot.webhooks import twilio
from config.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)

# Extra start/stop hooks (the worker, Telegram) registered by their own modules.
Extension = Callable[[web.Application], AsyncIterator[None]]


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[DB].session() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        log.exception("health check: database unreachable")
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    settings = request.app[SETTINGS]
    return web.json_response(
        {
            "status": "ok",
            "sms": settings.sms_provider,
            "telegram": "on" if settings.telegram_enabled else "off",
        }
    )


@web.middleware
async def never_500(request: web.Request, handler: Any) -> web.StreamResponse:
    """A bug must not look like a provider outage: log it, answer 500 only for our own faults,
    and never echo internals (or personal data) back to the caller."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    extensions: list[Extension] | None = None,
) -> web.Application:
    app = web.Application(
        client_max_size=256 * 1024, middlewares=[monitoring.count_rejections, never_500]
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    owns_db = db is None
    database = db or Database.from_url(settings.database_url)
    app[DB] = database
    app[METRICS] = Metrics()
    app[PIPELINE] = InboundPipeline(database, settings, app[CLOCK], app[METRICS])
    app[OUTBOX_WAKERS] = []

    async def close_db(_app: web.Application) -> AsyncIterator[None]:
        yield
        if owns_db:
            await database.dispose()

    app.cleanup_ctx.append(close_db)
    for extension in extensions or []:
        app.cleanup_ctx.append(extension)
    app.router.add_get("/healthz", healthz)
    monitoring.install(app)
    app.router.add_routes(twilio.routes())
    telegram.install(app)
    return app
