"""python-telegram-bot's Application for the service: built with ``.updater(None)`` (our own
aiohttp server receives the updates) and no JobQueue, with every router's handlers in order and
the service's error handler. The service receives it (``TelegramService(..., build=...)``):
this module imports the routers and the service, neither of which imports the other."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.inbound import InboundPipeline
from bot.telegram import conversation, linking
from bot.telegram.service import TelegramService
from config.clock import Clock
from config.settings import Settings
from scheduler.delivery.channels.telegram import api_urls
from storage.db import Database


def build_application(service: TelegramService) -> Application[Any, Any, Any, Any, Any, Any]:
    settings = service.settings
    builder = Application.builder().token(settings.telegram_bot_token.get()).updater(None)
    # No JobQueue (APScheduler is installed, so PTB would start one): the worker schedules.
    builder = builder.job_queue(None)  # type: ignore[arg-type]
    urls = api_urls(settings)
    if urls is not None:
        builder = builder.base_url(urls[0]).base_file_url(urls[1])
    application = builder.build()
    # Order matters within a group: the first matching handler wins.
    for module in (linking, conversation):
        for handler in module.handlers(service):
            application.add_handler(handler)
    application.add_error_handler(service.on_error)
    return application


def telegram_service(
    db: Database, settings: Settings, clock: Clock, pipeline: InboundPipeline
) -> TelegramService:
    """The bot: the service with its Application (every router's handlers)."""
    return TelegramService(db, settings, clock, pipeline, build=build_application)
