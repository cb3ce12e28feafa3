"""The composition root: where the app, the worker, the channels, the periodic jobs and the
metrics are wired together, for every process that runs them.

* ``turnout serve`` (and ``turnout demo``): :func:`server_app`, the aiohttp app with Telegram
  (when configured) and the in-process worker (unless TURNOUT_RUN_WORKER_IN_SERVER=false),
  which shares the app's Metrics and is woken after each webhook's replies.
* ``turnout worker``: :func:`run_worker`, a worker with its own Metrics, served on
  TURNOUT_METRICS_PORT, until SIGINT/SIGTERM.
* The sandbox's commands (``turnout text``, ``turnout telegram poll``): :func:`loopback_app`,
  the same app without a worker, on a loopback port (bot/cli/runtime.py).

Nothing below this module builds a channel or chooses the jobs a worker runs: the worker
(scheduler/delivery/worker.py) is handed both. The CLI's runtime (bot/cli/runtime.py) stays the
seam commands get their settings, database and clock from; this module takes them as arguments.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from aiohttp import web

from bot.app import Extension, create_app
from bot.app_keys import CLOCK, DB, METRICS, OUTBOX_WAKERS, SETTINGS
from bot.monitoring import metrics_site
from bot.telegram.extension import telegram_extension, telegram_extensions
from config.clock import Clock
from config.logs import cap_library_loggers
from config.metrics import Metrics
from config.settings import Settings
from scheduler.delivery.channels import Channel, build_sms_channel
from scheduler.delivery.channels.telegram import build_telegram_channel
from scheduler.delivery.worker import Worker, worker_context
from scheduler.jobs import register_jobs
from storage.db import Database
from storage.migrate import pending


def build_channels(settings: Settings) -> dict[str, Channel]:
    """SMS (Twilio when credentials are set, else the sandbox), and Telegram when its token is
    set. Call inside a running event loop (their clients need one); the caller closes them."""
    channels = {"sms": build_sms_channel(settings)}
    if settings.telegram_enabled:
        channels["telegram"] = build_telegram_channel(settings)
    return channels


@asynccontextmanager
async def running_worker(
    db: Database,
    settings: Settings,
    clock: Clock,
    *,
    metrics: Metrics | None = None,
    channels: Mapping[str, Channel] | None = None,
    worker_id: str | None = None,
    jobs: bool = True,
) -> AsyncIterator[Worker]:
    """A started worker for the life of the block: the channels built here (unless
    ``channels`` are given) and closed after it stops, and with ``jobs`` the standard periodic
    jobs (scheduler/jobs.py: reminders, digests, listening)."""
    # APScheduler's executor logs every run at INFO: a line a second from the metronome.
    cap_library_loggers()
    own = channels is None
    using = build_channels(settings) if channels is None else dict(channels)
    try:
        async with worker_context(
            db,
            settings,
            clock,
            channels=using,
            worker_id=worker_id,
            jobs=(lambda worker: register_jobs(worker, db, settings, clock)) if jobs else None,
            metrics=metrics,
        ) as worker:
            yield worker
    finally:
        if own:
            for channel in using.values():
                await channel.close()


async def in_process_worker(app: web.Application) -> AsyncIterator[None]:
    """``turnout serve``'s worker: the app's database, clock and metrics; woken by the webhooks
    after they queue replies."""
    async with running_worker(app[DB], app[SETTINGS], app[CLOCK], metrics=app[METRICS]) as worker:
        app[OUTBOX_WAKERS].append(worker.wake)
        yield
        app[OUTBOX_WAKERS].remove(worker.wake)


def server_extensions(settings: Settings) -> list[Extension]:
    """Start/stop hooks the server runs: Telegram (when configured) and the in-process worker
    (unless TURNOUT_RUN_WORKER_IN_SERVER=false, e.g. when `turnout worker` runs apart)."""
    extensions = [*telegram_extensions(settings)]
    if settings.run_worker_in_server:
        extensions.append(in_process_worker)
    return extensions


def server_app(settings: Settings, *, db: Database, clock: Clock) -> web.Application:
    """``turnout serve``'s app: webhooks, console, monitoring, Telegram and the worker."""
    return create_app(settings, db=db, clock=clock, extensions=server_extensions(settings))


def loopback_app(
    settings: Settings, *, db: Database, clock: Clock, telegram: bool = False
) -> web.Application:
    """The sandbox's app (no server running): the same webhooks, no worker; with ``telegram``
    the Telegram service processes the updates it is given (``turnout telegram poll``)."""
    extensions: list[Extension] = [telegram_extension] if telegram else []
    return create_app(settings, db=db, clock=clock, extensions=extensions)


async def run_worker(
    db: Database, settings: Settings, *, clock: Clock, stop: asyncio.Event | None = None
) -> None:
    """``turnout worker``: send and run periodic jobs until SIGINT/SIGTERM (or ``stop``),
    serving /metrics on TURNOUT_METRICS_PORT when it is set. The caller owns ``db``."""
    if await pending(db.engine):
        raise RuntimeError("the database schema is out of date: run the migrations first")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        metrics = Metrics()
        async with (
            running_worker(db, settings, clock, metrics=metrics),
            metrics_site(settings, db, clock, metrics),
        ):
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
