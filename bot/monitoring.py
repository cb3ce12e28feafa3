"""What an operator's tools call: ``GET /metrics`` (Prometheus), ``GET /readyz``, and the
middleware that counts refused webhook requests. ``create_app`` adds them (``install``); a
separate ``turnout worker`` serves ``/metrics`` on TURNOUT_METRICS_PORT (``metrics_site``).

``/healthz`` (bot/app.py) says the process is up and its database answers. ``/readyz`` says
whether this deployment can do its work: 200 only when the database answers, its migrations
are the ones this code expects (compared with the script heads read once, at startup), and a
worker has written a heartbeat within TURNOUT_READY_WORKER_SECONDS (0: not checked); else 503.
It answers JSON naming each check::

    {"status": "not ready", "failed": ["worker"],
     "checks": {"database": "ok", "migrations": "ok",
                "worker": "last heartbeat 95 s ago (limit 60 s)"}}

The middleware counts from the response status alone, so the webhook modules know nothing of
it: 403 ``signature``, 400 ``malformed``, 413 ``too_large``, 404 ``off`` (Telegram not
configured), on the ``/webhooks/...`` routes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.app_keys import CLOCK, DB, METRICS, SETTINGS
from config.clock import Clock
from config.metrics import Metrics
from config.settings import Settings
from storage.db import Database
from storage.migrate import database_heads, script_heads
from storage.monitoring import (
    CHANNELS,
    LIVE,
    SETTLED,
    OutboxState,
    last_heartbeat,
    outbox_state,
)
from storage.outbox import DROPPED

log = logging.getLogger(__name__)

WEBHOOKS = "/webhooks/"
REJECTIONS = {403: "signature", 400: "malformed", 413: "too_large", 404: "off"}
# The migration heads this code expects, read when the app is built.
MIGRATION_HEADS = web.AppKey("migration_heads", frozenset[str])
READY_TIMEOUT = 5.0  # seconds the database gets to answer a readiness check
OK, NOT_CHECKED = "ok", "not checked"


async def metrics(request: web.Request) -> web.Response:
    # The database state is read first, then everything is rendered at once.
    families = await read_gauges(request.app[DB], request.app[CLOCK].now())
    body, content_type = request.app[METRICS].exposition(
        families, request.headers.get("Accept", "")
    )
    return web.Response(body=body, headers={"Content-Type": content_type})


async def read_gauges(db: Database, now: datetime) -> list[Metric]:
    """The gauges of one scrape, read from the database (storage/monitoring.py); when it cannot
    be read, only ``turnout_database_up`` 0 (the counters are served all the same)."""
    state: OutboxState | None
    try:
        async with db.session() as session:
            state = await outbox_state(session, now)
    except Exception:
        log.warning("metrics: the database could not be read", exc_info=True)
        state = None
    return gauges(state)


def gauges(state: OutboxState | None) -> list[Metric]:
    """The gauge families for ``state`` (None: the database did not answer)."""
    up = GaugeMetricFamily(
        "turnout_database_up", "1 when the database answered the last scrape, else 0."
    )
    up.add_metric([], 0 if state is None else 1)
    families: list[Metric] = [up]
    if state is None:
        return families
    live = GaugeMetricFamily(
        "turnout_outbox_messages",
        "Outbox rows waiting or in flight, by status and channel.",
        labels=["status", "channel"],
    )
    recent = GaugeMetricFamily(
        "turnout_outbox_recent_messages",
        "Outbox rows that reached a settled status in the last 24 hours.",
        labels=["status", "channel"],
    )
    dropped = GaugeMetricFamily(
        "turnout_outbox_dropped_messages",
        "Messages dropped on purpose in the last 24 hours (too_late, expired).",
        labels=["reason", "channel"],
    )
    for channel in CHANNELS:
        for status in LIVE:
            live.add_metric([status, channel], state.live.get((status, channel), 0))
        for status in SETTLED:
            recent.add_metric([status, channel], state.recent.get((status, channel), 0))
        for reason in DROPPED:
            dropped.add_metric([reason, channel], state.dropped.get((reason, channel), 0))
    families += [live, recent, dropped]
    oldest = GaugeMetricFamily(
        "turnout_outbox_oldest_due_seconds",
        "Seconds the oldest due outbox row has been waiting (0 when none is due).",
    )
    waited = (state.now - state.oldest_due).total_seconds() if state.oldest_due else 0.0
    oldest.add_metric([], max(waited, 0.0))
    families.append(oldest)
    seen = GaugeMetricFamily(
        "turnout_worker_last_seen_seconds",
        "Seconds since each worker's last heartbeat.",
        labels=["worker"],
    )
    leader = GaugeMetricFamily(
        "turnout_worker_leader", "1 for the worker leading periodic jobs.", labels=["worker"]
    )
    for worker in state.workers:
        ago = (state.now - worker.last_seen).total_seconds()
        seen.add_metric([worker.worker_id], max(ago, 0.0))
        leader.add_metric([worker.worker_id], 1 if worker.leader else 0)
    families += [seen, leader]
    return families


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


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    limit = app[SETTINGS].ready_worker_seconds
    checks = {"database": OK, "migrations": NOT_CHECKED, "worker": NOT_CHECKED}
    try:
        async with asyncio.timeout(READY_TIMEOUT), app[DB].connection() as connection:
            current = await database_heads(connection)
            seen = await last_heartbeat(connection) if limit else None
    except Exception as exc:
        log.warning("readiness: the database did not answer (%s)", type(exc).__name__)
        checks["database"] = f"did not answer ({type(exc).__name__})"
    else:
        expected = app[MIGRATION_HEADS]
        checks["migrations"] = (
            OK
            if current == expected
            else f"database at {', '.join(sorted(current)) or 'nothing'}, "
            f"this code needs {', '.join(sorted(expected))}: run `turnout db upgrade`"
        )
        if limit:
            checks["worker"] = _worker_check(seen, app[CLOCK].now(), limit)
    failed = [name for name, result in checks.items() if result not in (OK, NOT_CHECKED)]
    return web.json_response(
        {"status": "not ready" if failed else "ready", "failed": failed, "checks": checks},
        status=503 if failed else 200,
    )


def _worker_check(seen: datetime | None, now: datetime, limit: int) -> str:
    if seen is None:
        return "no worker heartbeat: is a worker running?"
    ago = (now - seen).total_seconds()
    if ago > limit:
        return f"last heartbeat {ago:.0f} s ago (limit {limit} s)"
    return OK


def routes() -> list[web.RouteDef]:
    return [web.get("/metrics", metrics), web.get("/readyz", readyz)]


def install(app: web.Application) -> None:
    """Called by create_app: the migration heads (read once) and the routes."""
    app[MIGRATION_HEADS] = script_heads()
    app.router.add_routes(routes())


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
