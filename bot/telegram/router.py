"""What a router (linking, conversation) is given and
gives back: the :class:`Service` its handlers work through, and the :data:`Handlers` it
returns. The routers import this, never bot/telegram/service.py, so the service does not
depend on them; bot/telegram/application.py puts the two together."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from telegram import Update
from telegram.ext import BaseHandler

from bot.inbound import InboundPipeline
from bot.telegram.turn import Turn
from config.clock import Clock
from config.settings import Settings
from storage.db import Database

Handlers = list[BaseHandler[Any, Any, Any]]


class Service(Protocol):
    """The part of bot.telegram.service.TelegramService the handlers use."""

    db: Database
    settings: Settings
    clock: Clock
    pipeline: InboundPipeline

    def turn(self, update: Update) -> AbstractAsyncContextManager[Turn]:
        """A unit of work for one update (its changes and replies commit together)."""
        ...

    def deep_link(self, payload: str = "link") -> str:
        """A t.me link that opens a private chat with the bot."""
        ...
