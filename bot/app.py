"""The aiohttp application: webhooks, health, the organiser console at ``/`` (bot/web/), and
(optionally) the in-process worker and Telegram, as start/stop hooks bot/compose.py hands it.

``create_app(settings, clock=..., db=...)`` builds it: the clock always comes from the caller
(``turnout serve``: the CLI runtime's; tests: their own), the database may (else the app opens
and closes its own). Long-lived resources are tied to ``cleanup_ctx`` so they
start and stop with the server.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot import monitoring
from bot.app_keys import CLOCK, DB, METRICS, OUTBOX_WAKERS, PIPELINE, SETTINGS
from bot.inbound import InboundPipeline
from bot.telegram import webhook as telegram
from bot.web.console import install as install_console
from bot.webhooks import twilio
from config.clock import Clock
from config.metrics import Metrics
from config.settings import Settings
from storage.db import Database, is_unavailable

log = logging.getLogger(__name__)

# Extra start/stop hooks (the worker, Telegram), chosen by the composition root (bot/compose.py).
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


# Seconds a provider is asked to wait before retrying while the database is unavailable.
RETRY_AFTER_SECONDS = 30


@web.middleware
async def never_500(request: web.Request, handler: Any) -> web.StreamResponse:
    """A bug must not look like a provider outage: log it, answer 500 only for our own faults,
    and never echo internals (or personal data) back to the caller. The database being down
    or overloaded is an outage: 503 with Retry-After, so Twilio and Telegram try again later
    (a webhook stores a message before it answers 200, so nothing is acknowledged unkept)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            # The class only: a driver's message may quote the statement's parameters.
            log.warning(
                "database unavailable on %s %s (%s): answered 503",
                request.method,
                request.path,
                type(exc).__name__,
            )
            return web.json_response(
                {"error": "temporarily unavailable"},
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


def settle_heap() -> None:
    """Once the server is up: collect, then move every object alive now (modules, templates,
    the app) out of the garbage collector's reach (``gc.freeze``), so a full collection in
    the middle of a request walks only what requests made. Without it one request in twenty
    to a large page (Today after a change: 1,000 institution cards) took 3-4 times its median
    (docs/benchmarks.md, "Console pages")."""
    gc.collect()
    gc.freeze()


def server_options(settings: Settings) -> dict[str, Any]:
    """How the web server treats slow and idle clients (``web.AppRunner(app, **...)``).

    aiohttp has no separate header-read timeout: its keep-alive timer starts when a connection
    opens (and again after each response) and closes the connection if no complete request
    head has arrived by then, so ``keepalive_timeout`` bounds both a stalled request head and
    an idle connection. Keep it longer than a reverse proxy's idle timeout for its upstream
    connections (nginx and most load balancers: 60 s), or the proxy may reuse one we are
    closing. A body is bounded by the webhooks' own reader (bot.webhooks.edge.read_body), and
    what a handler left unread is drained for at most ``lingering_time`` before closing."""
    return {
        "keepalive_timeout": settings.header_timeout_seconds,
        "lingering_time": settings.body_timeout_seconds,
    }


def create_app(
    settings: Settings,
    *,
    clock: Clock,
    db: Database | None = None,
    extensions: list[Extension] | None = None,
) -> web.Application:
    app = web.Application(
        client_max_size=256 * 1024, middlewares=[monitoring.count_rejections, never_500]
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
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
    install_console(app)
    return app
