"""Telegram through the Bot API (python-telegram-bot's ``Bot``; no Application needed to send).

An outbox row is a plain text message unless its ``payload`` (JSON) says more:

* ``{"reply_markup": {...}}``: with a keyboard, as the Bot API spells it (``inline_keyboard``,
  ``keyboard`` with a contact request, or ``remove_keyboard``);
* ``{"card_id": N, ...}``: an RSVP card; the message id Telegram gives it is recorded on card N
  (telegram_rsvp_cards) so later taps can edit it;
* ``{"edit_card": N, ...}``: edit card N in place (editMessageText; chat and message id are read
  at send time, so a group that migrated meanwhile is followed);
* ``{"format": "pre"}``: the body is preformatted (a table): sent as HTML ``<pre>``. Rows of
  the templates in ``PREFORMATTED`` (the digest's tables) are sent so without asking.

A row with an ``outbox_attachments`` file (the digest chart) is sent with sendPhoto, the body as
its caption.

Errors are classified here: ``Forbidden`` (the user blocked the bot, or the bot left the group)
is permanent with effect ``"blocked"`` (a group is marked removed); ``ChatMigrated`` (a group
became a supergroup) moves everything to the new chat id and resends once; ``RetryAfter`` is
transient with Telegram's ``retry_after``; ``BadRequest`` is permanent (except "message is not
modified", which means an edit had nothing to change); a timeout after the request left is
ambiguous for a new message (never blindly resent) and plainly retryable for an edit.
"""

from __future__ import annotations

import html
import logging
import warnings
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from config.clock import Clock
from config.logs import cap_library_loggers
from config.settings import Settings
from scheduler.delivery.channels.base import OutgoingMessage, SendResult, TransportError
from storage.db import Database
from storage.models import OutboxAttachment, OutboxMessage, TelegramRsvpCard
from storage.telegram import mark_group_removed, migrate_chat

log = logging.getLogger(__name__)

# PTB 22 warns, on every RetryAfter it raises, that ``retry_after`` will become a timedelta;
# retry_after_seconds() below reads either.
warnings.filterwarnings(
    "ignore", message=r".*`retry_after` will be of type", category=PTBDeprecationWarning
)

MAX_TEXT = 4096
MAX_CAPTION = 1024
NOT_MODIFIED = "message is not modified"
# Templates whose text is a fixed-width table (scheduler.digest.render.render_text).
PREFORMATTED = frozenset({"digest"})

ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def reply_markup(data: dict[str, Any] | None) -> ReplyMarkup | None:
    if not data:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.de_json(data, None)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.de_json(data, None)
    if data.get("remove_keyboard"):
        return ReplyKeyboardRemove()
    raise ValueError(f"unknown reply_markup {sorted(data)}")


def api_urls(settings: Settings) -> tuple[str, str] | None:
    """(base_url, base_file_url) for PTB when TURNOUT_TELEGRAM_API_URL points elsewhere (a
    local fake Bot API in tests and demos, or a self-hosted Bot API server)."""
    if not settings.telegram_api_url:
        return None
    base = settings.telegram_api_url.rstrip("/")
    return f"{base}/bot", f"{base}/file/bot"


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _never_left(exc: TelegramError) -> bool:
    """The request certainly did not reach Telegram (could not connect, or no free connection)."""
    cause = exc.__cause__
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def classify(exc: TelegramError, chat_id: int, *, idempotent: bool) -> TransportError:
    """A TransportError for the sender (ChatMigrated is handled before this)."""
    text = f"Telegram: {type(exc).__name__}: {exc.message}"[:500]
    if isinstance(exc, ChatMigrated):
        # Only reached when the resend to the new id migrated again: give up, don't chase.
        return TransportError(text, permanent=True, code="migrated")
    if isinstance(exc, RetryAfter):
        return TransportError(text, code="429", retry_after=retry_after_seconds(exc))
    if isinstance(exc, Forbidden):
        return TransportError(
            text, permanent=True, code="403", effect="blocked" if chat_id > 0 else None
        )
    if isinstance(exc, InvalidToken):
        # Our configuration, not the message: keep it queued until the token is fixed.
        return TransportError("Telegram refused the bot token", code="invalid_token")
    if isinstance(exc, BadRequest):
        return TransportError(text, permanent=True, code="400")
    if isinstance(exc, TimedOut | NetworkError):
        if _never_left(exc) or idempotent:
            return TransportError(text, code="network")
        return TransportError(text, code="unknown", ambiguous=True)
    return TransportError(text, code="telegram")


class TelegramChannel:
    name = "telegram"
    provider = "telegram"

    def __init__(
        self, bot: Bot, db: Database, clock: Clock, requests: tuple[HTTPXRequest, ...] = ()
    ) -> None:
        self._bot = bot
        self._db = db
        self._clock = clock
        self._requests = requests

    async def send(self, message: OutgoingMessage) -> SendResult:
        payload, attachment = await self._extras(message.outbox_id)
        chat_id = int(message.to)
        editing = "edit_card" in payload
        try:
            return await self._send_once(chat_id, message, payload, attachment)
        except ChatMigrated as exc:
            new_chat_id = int(exc.new_chat_id)
            async with self._db.session() as session:
                await migrate_chat(session, chat_id, new_chat_id, self._clock.now())
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message.outbox_id)
                    .values(to_address=str(new_chat_id))
                )
            log.info(
                "telegram: chat %s became %s; resending outbox %d once",
                chat_id,
                new_chat_id,
                message.outbox_id,
            )
            try:
                return await self._send_once(new_chat_id, message, payload, attachment)
            except TelegramError as again:
                raise classify(again, new_chat_id, idempotent=editing) from None
        except TelegramError as exc:
            if isinstance(exc, Forbidden) and chat_id < 0:
                async with self._db.session() as session:
                    await mark_group_removed(session, chat_id, self._clock.now())
            if editing and isinstance(exc, BadRequest) and NOT_MODIFIED in exc.message.lower():
                return SendResult(provider_id=f"{chat_id}:edit")
            raise classify(exc, chat_id, idempotent=editing) from None

    async def _extras(self, outbox_id: int) -> tuple[dict[str, Any], OutboxAttachment | None]:
        async with self._db.session() as session:
            found = (
                await session.execute(
                    select(OutboxMessage.payload, OutboxMessage.template).where(
                        OutboxMessage.id == outbox_id
                    )
                )
            ).first()
            attachment = await session.scalar(
                select(OutboxAttachment).where(OutboxAttachment.outbox_id == outbox_id)
            )
        payload: dict[str, Any] = dict(found[0] or {}) if found is not None else {}
        if found is not None and found[1] in PREFORMATTED:
            payload.setdefault("format", "pre")
        return payload, attachment

    async def _send_once(
        self,
        chat_id: int,
        message: OutgoingMessage,
        payload: dict[str, Any],
        attachment: OutboxAttachment | None,
    ) -> SendResult:
        markup = reply_markup(payload.get("reply_markup"))
        text = message.body
        parse_mode: str | None = None
        if payload.get("format") == "pre":
            text = f"<pre>{html.escape(text[: MAX_TEXT - 20], quote=False)}</pre>"
            parse_mode = ParseMode.HTML
        else:
            text = text[:MAX_TEXT]

        if "edit_card" in payload:
            return await self._edit_card(int(payload["edit_card"]), text, markup)
        sent: Message
        if attachment is not None:
            sent = await self._bot.send_photo(
                chat_id,
                photo=InputFile(attachment.data, filename=attachment.filename),
                caption=message.body[:MAX_CAPTION],
                reply_markup=markup,
            )
        else:
            sent = await self._bot.send_message(
                chat_id, text, parse_mode=parse_mode, reply_markup=markup
            )
        if "card_id" in payload:
            async with self._db.session() as session:
                card = await session.get(TelegramRsvpCard, int(payload["card_id"]))
                if card is not None:
                    card.chat_id = sent.chat_id
                    card.message_id = sent.message_id
        return SendResult(provider_id=f"{sent.chat_id}:{sent.message_id}")

    async def _edit_card(self, card_id: int, text: str, markup: ReplyMarkup | None) -> SendResult:
        async with self._db.session() as session:
            card = await session.get(TelegramRsvpCard, card_id)
        if card is None:
            raise TransportError(f"RSVP card {card_id} is gone", permanent=True, code="no_card")
        if card.message_id is None:
            # The card itself has not gone out yet: try again shortly.
            raise TransportError(f"RSVP card {card_id} not sent yet", code="card_pending")
        inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
        await self._bot.edit_message_text(
            text, chat_id=card.chat_id, message_id=card.message_id, reply_markup=inline
        )
        return SendResult(provider_id=f"{card.chat_id}:{card.message_id}")

    async def close(self) -> None:
        for request in self._requests:
            await request.shutdown()


def build_telegram_channel(settings: Settings, db: Database, clock: Clock) -> TelegramChannel:
    """The channel the sender uses for outbox rows on ``telegram``."""
    cap_library_loggers()
    # Timeouts well inside the sender's lease margin (scheduler.delivery.sender.CALL_MARGIN).
    requests = (
        HTTPXRequest(connection_pool_size=8, read_timeout=10.0, write_timeout=10.0),
        HTTPXRequest(connection_pool_size=1, read_timeout=10.0),
    )
    urls = api_urls(settings)
    bot = Bot(
        settings.telegram_bot_token.get(),
        base_url=urls[0] if urls else "https://api.telegram.org/bot",
        base_file_url=urls[1] if urls else "https://api.telegram.org/file/bot",
        request=requests[0],
        get_updates_request=requests[1],
    )
    return TelegramChannel(bot, db, clock, requests)
