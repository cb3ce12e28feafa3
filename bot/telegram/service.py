"""The Telegram bot as one object: python-telegram-bot's Application (built with
``.updater(None)``: our own aiohttp server receives the updates), our database, clock and
settings, and the inbound pipeline residents' texts go through.

``receive(update_id, raw)`` is the whole life of an update: store it (unique ``update_id``: a
replay is a no-op), let PTB dispatch it to the handlers (one router per feature module), record
that it was processed (or the error), and hand back the webhook answer (answerCallbackQuery).
Handlers never call Telegram: they write outbox rows, and the sender sends them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ContextTypes

from bot.inbound import InboundPipeline
from bot.telegram.turn import Turn, is_group_chat
from config.clock import Clock
from config.logs import cap_library_loggers
from config.settings import Settings
from storage.db import Database
from storage.telegram import (
    group_for_chat,
    mark_processed,
    person_for_user,
    store_update,
    unprocessed_updates,
)

log = logging.getLogger(__name__)

Build = Callable[["TelegramService"], Application[Any, Any, Any, Any, Any, Any]]
# Update kinds the bot asks Telegram for (setWebhook, getUpdates).
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


class TelegramConfigError(RuntimeError):
    """Telegram is configured in a way it cannot run with; the message names the variable."""


def scrub(text: str, settings: Settings) -> str:
    """Error texts may quote a URL, and Bot API URLs carry the token."""
    token = settings.telegram_bot_token.get()
    return text.replace(token, "<token>") if token else text


class TelegramService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        pipeline: InboundPipeline,
        *,
        build: Build,
    ) -> None:
        """``build`` makes the Application with every router's handlers for this service
        (bot.telegram.application.build_application)."""
        self.db = db
        self.settings = settings
        self.clock = clock
        self.pipeline = pipeline
        cap_library_loggers()
        self.application = build(self)
        self.ready = False
        self._answers: dict[int, dict[str, Any] | None] = {}
        self._errors: dict[int, str] = {}
        self._starting: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Initialise (getMe: the bot's username, needed to match ``/cmd@botname``). If
        Telegram cannot be reached, keep trying in the background: updates are stored and
        acknowledged meanwhile, and processed once the bot is ready."""
        if await self._try_initialize(first=True):
            await self._became_ready()
        else:
            self._starting = asyncio.create_task(self._keep_trying())

    async def stop(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            with suppress(asyncio.CancelledError):
                await self._starting
        await self.application.shutdown()

    async def _try_initialize(self, *, first: bool) -> bool:
        try:
            await self.application.initialize()
        except InvalidToken:
            log.error(
                "Telegram refused TURNOUT_TELEGRAM_BOT_TOKEN (getMe): check the token; "
                "updates are stored until it works"
            )
            return False
        except TelegramError as exc:
            log.warning(
                "Telegram unreachable%s (%s); updates are stored until it is",
                " at startup" if first else "",
                scrub(str(exc), self.settings)[:200],
            )
            return False
        return True

    async def _keep_trying(self) -> None:
        delay = 2.0
        while True:
            await asyncio.sleep(delay)
            if await self._try_initialize(first=False):
                await self._became_ready()
                return
            delay = min(delay * 2, 300.0)

    async def _became_ready(self) -> None:
        self.ready = True
        log.info("Telegram: on, as @%s", self.username)
        done = await self.recover()
        if done:
            log.info("Telegram: processed %d update(s) stored while not ready", done)

    @property
    def username(self) -> str:
        return str(self.application.bot.username)

    def deep_link(self, payload: str = "link") -> str:
        return f"https://t.me/{self.username}?start={payload}"

    # -- updates --------------------------------------------------------------------------

    async def receive(self, update_id: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        """Store, then process (if ready); the webhook answer, if the update wants one."""
        async with self.db.session() as session:
            created = await store_update(session, update_id, raw, self.clock.now())
        if not created:
            log.info("telegram update %s: replay, ignored", update_id)
            return None
        if not self.ready:
            return None
        return await self.process(update_id, raw)

    async def process(self, update_id: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        error: str | None = None
        try:
            update = Update.de_json(raw, self.application.bot)
        except Exception as exc:
            update = None
            error = f"unreadable update: {type(exc).__name__}: {exc}"
            log.warning("telegram update %s: %s", update_id, error[:200])
        if update is not None:
            await self.application.process_update(update)
            error = self._errors.pop(update_id, None)
        answer = self._answers.pop(update_id, None)
        async with self.db.session() as session:
            await mark_processed(session, update_id, self.clock.now(), error)
        return answer

    async def recover(self) -> int:
        """Process updates stored but never processed (the server stopped, or Telegram was not
        reachable at startup)."""
        async with self.db.session() as session:
            pending = await unprocessed_updates(session)
        for update_id, raw in pending:
            answer = await self.process(update_id, raw)
            if answer is not None:
                # Too late to answer in a webhook response; the tap's spinner has timed out.
                log.info("telegram update %s: callback answer dropped (late)", update_id)
        return len(pending)

    # -- what handlers use ----------------------------------------------------------------

    @asynccontextmanager
    async def turn(self, update: Update) -> AsyncIterator[Turn]:
        """A unit of work for one update: commits the handler's changes and its replies
        together, or neither."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        now = self.clock.now()
        async with self.db.session() as session:
            caller = await person_for_user(session, user.id)
            group = await group_for_chat(session, chat.id) if is_group_chat(chat) else None
            if caller is not None and not is_group_chat(chat) and caller.telegram_status != "ok":
                # Writing to us again: they have unblocked the bot.
                caller.telegram_status = "ok"
            turn = Turn(
                session=session,
                update=update,
                now=now,
                alliance=self.settings.alliance_name,
                default_language=self.settings.default_language,
                default_timezone=self.settings.default_timezone,
                default_region=self.settings.default_region,
                caller=caller,
                group=group,
            )
            yield turn
            answer = await turn.write(update.update_id)
        self._answers[update.update_id] = answer

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB's error handler: every handler failure is logged, recorded on the stored
        update, and answered with a short apology (never silence)."""
        exc = context.error
        if not isinstance(update, Update):
            log.error("telegram error outside an update", exc_info=exc)
            return
        log.error("telegram update %s failed", update.update_id, exc_info=exc)
        self._errors[update.update_id] = scrub(f"{type(exc).__name__}: {exc}", self.settings)
        if update.effective_chat is None or update.effective_user is None:
            return
        try:
            async with self.turn(update) as turn:
                turn.say("tg_error")
                turn.answer_callback("tg_error")
        except Exception:
            log.exception("telegram update %s: could not apologise", update.update_id)
