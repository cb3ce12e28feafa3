"""Typed keys for what the aiohttp app carries (one seam each: DB, clock, settings, ...)."""

from __future__ import annotations

from aiohttp import web

from bot.clock import Clock
from bot.inbound import InboundPipeline
from config.settings import Settings
from storage.db import Database

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
CLOCK = web.AppKey("clock", Clock)
PIPELINE = web.AppKey("pipeline", InboundPipeline)
