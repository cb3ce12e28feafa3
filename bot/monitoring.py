"""What an operator's tools call: ``GET /metrics`` (Prometheus), and the middleware that counts
refused webhook requests. ``create_app`` adds both; a separate ``turnout worker`` serves
``/metrics`` on TURNOUT_METRICS_PORT (``metrics_site``).

The middleware counts from the response status alone, so the webhook modules know nothing of
it: 403 ``signature``, 400 ``malformed``, 413 ``too_large``, 404 ``off`` (Telegram not
configured), on the ``/webhooks/...`` routes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from bot.app_keys import CLOCK, DB, METRICS
from bot.clock import Clock
from bot.metrics import Metrics
from config.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)

WEBHOOKS = "/webhooks/"
REJECTIONS = {403: "signature", 400: "malformed", 413: "too_large", 404: "off"}


async def metrics(request: web.Request) -> web.Response:
    body, content_type = await request.app[METRICS].exposition(
        request.app[DB], request.app[CLOCK].now(), request.headers.get("Accept", "")
    )
    return web.Response(body=body, headers={"Content-Type": content_type})


@web.middleware
async def count_rejections(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        _count(request, exc.status)
        raise
    _count(request, response.status)
    return response


def _count(request: web.Request, status: int) -> None:
    reason = REJECTIONS.get(status)
    if reason is None or not request.path.startswith(WEBHOOKS):
        return
    resource = request.match_info.route.resource
    if resource is None:  # no such webhook: a scanner, not a provider
        return
    webhook = resource.canonical.removeprefix(WEBHOOKS).replace("/", "_")
    request.app[METRICS].count_rejection(webhook, reason)


def routes() -> list[web.RouteDef]:
    return [web.get("/metrics", metrics)]


@asynccontextmanager
async def metrics_site(
    settings: Settings, db: Database, clock: Clock, registry: Metrics
) -> AsyncIterator[str | None]:
    """``turnout worker``: serve ``/metrics`` on TURNOUT_HOST:TURNOUT_METRICS_PORT for the life
    of the block (its URL); nothing when the port is 0."""
    if not settings.metrics_port:
        yield None
        return
    app = web.Application()
    app[METRICS], app[DB], app[CLOCK] = registry, db, clock
    app.router.add_routes(routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.metrics_port).start()
        url = f"http://{settings.host}:{runner.addresses[0][1]}/metrics"
        log.info("worker metrics on %s", url)
        yield url
    finally:
        await runner.cleanup()
