"""Telegram's start/stop hook for the aiohttp server (``create_app(..., extensions=[...])``).

Without a token Telegram is off (the server says so once, at startup). With a token but no
webhook secret it refuses to start: the webhook would accept anyone's updates.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.app import Extension
from bot.app_keys import CLOCK, DB, PIPELINE, SETTINGS
from bot.telegram.application import telegram_service
from bot.telegram.service import TelegramConfigError
from bot.telegram.webhook import SLOT
from config.settings import Settings

log = logging.getLogger(__name__)


async def telegram_extension(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.telegram_enabled:
        yield
        return
    if not settings.telegram_webhook_secret:
        raise TelegramConfigError(
            "TURNOUT_TELEGRAM_WEBHOOK_SECRET is not set: without it the Telegram webhook "
            "would accept anyone's updates. Set it (1-256 characters: A-Z a-z 0-9 _ -), "
            "then run `turnout telegram set-webhook`."
        )
    service = telegram_service(app[DB], settings, app[CLOCK], app[PIPELINE])
    await service.start()
    app[SLOT].service = service
    try:
        yield
    finally:
        app[SLOT].service = None
        await service.stop()


def telegram_extensions(settings: Settings) -> list[Extension]:
    """What ``turnout serve`` adds for Telegram; says once, at startup, when Telegram is off."""
    if settings.telegram_enabled:
        return [telegram_extension]
    log.info(
        "Telegram: off (TURNOUT_TELEGRAM_BOT_TOKEN is not set). To turn it on, set it and "
        "TURNOUT_TELEGRAM_WEBHOOK_SECRET, then run `turnout telegram set-webhook`."
    )
    return []
