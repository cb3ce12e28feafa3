"""One update being handled: the session, the time, who sent it, in which chat, and what to
answer. Handlers call ``turn.say(template, ...)``; nothing is sent from a handler: the replies
are written to the outbox when the turn ends (the sender delivers them), and a callback query's
answer goes back in the webhook's HTTP response.

Group messages are written without a person (the chat is the address) and pass through
:func:`redact_phones` on the way in: nothing ever posts a phone number into a group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Chat, Update, User

from bot.handlers.base import Attachment
from config.messages import format_when, render
from config.phones import redact_phones
from storage import keys
from storage.models import Action, OutboxAttachment, OutboxMessage, Person, TelegramGroup
from storage.outbox import Draft, Envelope, enqueue, enqueue_address

log = logging.getLogger(__name__)

# Telegram's limits: a message's text, a callback answer's text.
MAX_TEXT = 4096
MAX_ANSWER = 200
# Outbox provider for callback answers given in the webhook response (never sent by a worker).
INLINE_PROVIDER = "tg-inline"


def is_group_chat(chat: Chat) -> bool:
    return chat.type in (Chat.GROUP, Chat.SUPERGROUP)


async def enqueue_chat(
    session: AsyncSession,
    *,
    chat_id: int,
    template: str,
    params: dict[str, Any],
    language: str,
    alliance: str,
    dedupe_key: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    region: str,
    kind: str = "reply",
    inline_provider: str | None = None,
) -> OutboxMessage | None:
    """A message to a Telegram chat that is not a known person's private chat: a group, or
    someone not linked yet. Group texts never carry a phone number: the whole text (names of
    people and institutions, card texts, chase lists) passes ``redact_phones``, numbers without
    a country code read as in ``region``."""
    body = render(template, language, alliance=alliance, **params)
    if chat_id < 0:
        safe = redact_phones(body, region)
        if safe != body:
            log.warning("telegram: hid a phone number in %r to a group", template)
            body = safe
    if len(body) > MAX_TEXT:
        body = body[: MAX_TEXT - 1] + "…"
    envelope = Envelope(
        Draft(template, params),
        dedupe_key,
        kind=kind,
        channel="telegram",
        inline_provider=inline_provider,
        payload=payload,
    )
    return await enqueue_address(session, str(chat_id), body, envelope, now=now)


@dataclass
class Reply:
    template: str
    params: dict[str, Any]
    payload: dict[str, Any] | None = None
    attachment: Attachment | None = None


async def attach(
    session: AsyncSession, row: OutboxMessage, attachment: Attachment, now: datetime
) -> None:
    existing = await session.scalar(
        select(OutboxAttachment.id).where(OutboxAttachment.outbox_id == row.id)
    )
    if existing is None:
        session.add(
            OutboxAttachment(
                outbox_id=row.id,
                filename=attachment.filename,
                content_type=attachment.content_type,
                data=attachment.data,
                created_at=now,
            )
        )


@dataclass
class CallbackAnswer:
    template: str
    params: dict[str, Any]
    url: str | None = None
    show_alert: bool = False


@dataclass
class Turn:
    session: AsyncSession
    update: Update
    now: datetime
    alliance: str
    default_language: str
    default_timezone: str
    default_region: str
    caller: Person | None
    group: TelegramGroup | None
    replies: list[Reply] = field(default_factory=list)
    answer: CallbackAnswer | None = None

    @property
    def chat(self) -> Chat:
        chat = self.update.effective_chat
        assert chat is not None
        return chat

    @property
    def user(self) -> User:
        user = self.update.effective_user
        assert user is not None
        return user

    @property
    def in_group(self) -> bool:
        return is_group_chat(self.chat)

    @property
    def language(self) -> str:
        if self.in_group:
            return self.group.language if self.group is not None else self.default_language
        return self.caller.language if self.caller is not None else self.default_language

    @property
    def timezone(self) -> str:
        if self.caller is not None and not self.in_group:
            return self.caller.timezone
        return self.default_timezone

    def text(self, template: str, **params: Any) -> str:
        """A template rendered in this chat's language (button labels, lines of a list)."""
        return render(template, self.language, alliance=self.alliance, **params)

    def when(self, action: Action) -> str:
        return format_when(action.starts_at, self.language, self.timezone)

    def say(
        self,
        template: str,
        payload: dict[str, Any] | None = None,
        attachment: Attachment | None = None,
        **params: Any,
    ) -> None:
        self.replies.append(Reply(template, params, payload, attachment))

    def answer_callback(
        self, template: str, *, url: str | None = None, show_alert: bool = False, **params: Any
    ) -> None:
        self.answer = CallbackAnswer(template, params, url, show_alert)

    async def write(self, update_id: int) -> dict[str, Any] | None:
        """Write the replies to the outbox; return the webhook answer (answerCallbackQuery),
        recorded in the outbox as already sent inline."""
        chat_id = self.chat.id
        for i, reply in enumerate(self.replies):
            key = keys.telegram_reply(update_id, i)
            row = await self._write_reply(chat_id, key, reply)
            if row is not None and reply.attachment is not None:
                await attach(self.session, row, reply.attachment, self.now)
        return await self._write_answer(update_id)

    async def _write_reply(self, chat_id: int, key: str, reply: Reply) -> OutboxMessage | None:
        person = self.caller
        if (
            not self.in_group
            and person is not None
            and person.telegram_user_id == chat_id
            and person.telegram_status == "ok"
        ):
            # A known person's private chat: the one enqueue (language, intro, dedupe).
            rows = await enqueue(
                self.session,
                person,
                Envelope(
                    Draft(reply.template, reply.params),
                    key,
                    kind="reply",
                    channel="telegram",
                    payload=reply.payload,
                ),
                now=self.now,
                alliance=self.alliance,
            )
            return rows[-1] if rows else None
        return await enqueue_chat(
            self.session,
            chat_id=chat_id,
            template=reply.template,
            params=reply.params,
            language=self.language,
            alliance=self.alliance,
            dedupe_key=key,
            now=self.now,
            payload=reply.payload,
            region=self.default_region,
        )

    async def _write_answer(self, update_id: int) -> dict[str, Any] | None:
        query = self.update.callback_query
        if query is None:
            return None
        answer = self.answer or CallbackAnswer("tg_button_stale", {})
        row = await enqueue_chat(
            self.session,
            chat_id=self.user.id,
            template=answer.template,
            params=answer.params,
            language=self.caller.language if self.caller is not None else self.language,
            alliance=self.alliance,
            dedupe_key=keys.telegram_answer(update_id),
            now=self.now,
            inline_provider=INLINE_PROVIDER,
            region=self.default_region,
        )
        method: dict[str, Any] = {
            "method": "answerCallbackQuery",
            "callback_query_id": query.id,
            "text": (row.body if row is not None else "")[:MAX_ANSWER],
        }
        if answer.show_alert:
            method["show_alert"] = True
        if answer.url:
            method["url"] = answer.url
        return method
