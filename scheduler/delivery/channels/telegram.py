"""Telegram through the Bot API (python-telegram-bot's ``Bot``; no Application needed to send).

An outbox row is a plain text message unless its ``payload`` (JSON) says more:

* ``{"reply_markup": {...}}``: with a keyboard, as the Bot API spells it (``inline_keyboard``,
  ``keyboard`` with a contact request, or ``remove_keyboard``);
* ``{"card_id": N, ...}``: an RSVP card; the message id Telegram gives it comes back on the
  result (``effects.card``) and is recorded on card N (telegram_rsvp_cards) so later taps can
  edit it;
* ``{"edit_card": N, ...}``: edit card N in place (editMessageText; the card's chat and message
  id come on the message, read when the row was claimed; a group that migrated since is
  followed by the ChatMigrated resend);
* ``{"format": "pre"}``: the body is preformatted (a table): sent as HTML ``<pre>``. Rows of
  the templates in ``PREFORMATTED`` (the digest's tables) are sent so without asking.

A row with an ``outbox_attachments`` file (the digest chart, on the message as ``attachment``)
is sent with sendPhoto, the body as its caption.

The channel holds no database and no clock: what it learns comes back on the result or the
error, and storage/delivery.py applies it.

Errors are classified here: ``Forbidden`` (the user blocked the bot, or the bot left the group)
is permanent with effect ``"blocked"`` (or, in a group, ``group_removed``); ``ChatMigrated`` (a
group became a supergroup) resends once to the new chat id and reports ``migrated_to``, so
everything moves to it; ``RetryAfter`` is
transient with Telegram's ``retry_after``; ``BadRequest`` is permanent (except "message is not
modified", which means an edit had nothing to change); a timeout after the request left is
ambiguous for a new message (never blindly resent) and plainly retryable for an edit.
"""

from __future__ import annotations

import html
import logging
import warnings
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
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

from config.logs import cap_library_loggers
from config.settings import Settings
from scheduler.delivery.channels.base import OutgoingMessage, SendResult, TransportError
from storage.delivery import NO_EFFECTS, Card, Effects

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
    """Sends through one Bot; holds no database and no clock (see base.py)."""

    name = "telegram"
    provider = "telegram"

    def __init__(self, bot: Bot, requests: tuple[HTTPXRequest, ...] = ()) -> None:
        self._bot = bot
        self._requests = requests

    async def send(self, message: OutgoingMessage) -> SendResult:
        payload = dict(message.payload)
        if message.template in PREFORMATTED:
            payload.setdefault("format", "pre")
        chat_id = int(message.to)
        editing = "edit_card" in payload
        try:
            return await self._send_once(chat_id, message, payload)
        except ChatMigrated as exc:
            new_chat_id = int(exc.new_chat_id)
            log.info(
                "telegram: chat %s became %s; resending outbox %d once",
                chat_id,
                new_chat_id,
                message.outbox_id,
            )
            try:
                sent = await self._send_once(new_chat_id, message, payload, migrated=True)
            except TelegramError as again:
                failed = classify(again, new_chat_id, idempotent=editing)
                failed.migrated_to = new_chat_id
                raise failed from None
            except TransportError as refused:
                refused.migrated_to = new_chat_id
                raise
            effects = replace(sent.effects, migrated_to=new_chat_id)
            return replace(sent, effects=effects)
        except TelegramError as exc:
            if editing and isinstance(exc, BadRequest) and NOT_MODIFIED in exc.message.lower():
                return SendResult(provider_id=f"{chat_id}:edit")
            error = classify(exc, chat_id, idempotent=editing)
            if isinstance(exc, Forbidden) and chat_id < 0:
                error.group_removed = True
            raise error from None

    async def _send_once(
        self,
        chat_id: int,
        message: OutgoingMessage,
        payload: dict[str, Any],
        *,
        migrated: bool = False,
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
            card = message.card
            card_id = int(payload["edit_card"])
            if card is None:
                raise TransportError(f"RSVP card {card_id} is gone", permanent=True, code="no_card")
            if card.message_id is None:
                # The card itself has not gone out yet: try again shortly.
                raise TransportError(f"RSVP card {card_id} not sent yet", code="card_pending")
            # The card's chat as claimed; after a migration, the chat's new id.
            return await self._edit(
                chat_id if migrated else card.chat_id, card.message_id, text, markup
            )
        sent: Message
        if message.attachment is not None:
            sent = await self._bot.send_photo(
                chat_id,
                photo=InputFile(message.attachment.data, filename=message.attachment.filename),
                caption=message.body[:MAX_CAPTION],
                reply_markup=markup,
            )
        else:
            sent = await self._bot.send_message(
                chat_id, text, parse_mode=parse_mode, reply_markup=markup
            )
        effects = NO_EFFECTS
        if "card_id" in payload:
            effects = Effects(card=Card(int(payload["card_id"]), sent.chat_id, sent.message_id))
        return SendResult(provider_id=f"{sent.chat_id}:{sent.message_id}", effects=effects)

    async def _edit(
        self, chat_id: int, message_id: int, text: str, markup: ReplyMarkup | None
    ) -> SendResult:
        inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
        await self._bot.edit_message_text(
            text, chat_id=chat_id, message_id=message_id, reply_markup=inline
        )
        return SendResult(provider_id=f"{chat_id}:{message_id}")

    async def close(self) -> None:
        for request in self._requests:
            await request.shutdown()


def build_telegram_channel(settings: Settings) -> TelegramChannel:
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
    return TelegramChannel(bot, requests)
