"""Typed keys for what the aiohttp app carries (one seam each: DB, clock, settings, ...)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from bot.inbound import InboundPipeline
from config.clock import Clock
from config.metrics import Metrics
from config.settings import Settings
from storage.db import Database

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
CLOCK = web.AppKey("clock", Clock)
PIPELINE = web.AppKey("pipeline", InboundPipeline)
METRICS = web.AppKey("metrics", Metrics)
# Called after a webhook queues replies, so an in-process worker sends them at once instead of
# at its next tick (empty when no worker runs in this process).
OUTBOX_WAKERS = web.AppKey("outbox_wakers", list[Callable[[], None]])


def wake_outbox(app: web.Application) -> None:
    for wake in app[OUTBOX_WAKERS]:
        wake()
