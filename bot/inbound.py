"""The inbound pipeline every channel feeds: store first, then understand, then answer.

1. The message is written in its own transaction before anything else happens, de-duplicated
   on (provider, provider_id): a retried webhook finds its row and gets the same replies back.
2. The sender is resolved (an unknown number becomes a person, consent source "texted_in"),
   the text parsed, the handler run, and its replies written to the outbox, in one transaction.
3. If that fails, the message is still kept, marked with the error and put in the organiser
   inbox, and the person gets a short acknowledgement: never silence, never an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.handlers import Context, dispatch, intent_name, parse
from config.settings import Settings
from storage.db import Database
from storage.models import InboundMessage, OutboxMessage, Person
from storage.outbox import Draft, enqueue
from storage.people import mask_phone, new_person

log = logging.getLogger(__name__)

MAX_BODY = 4096  # characters kept of one message; longer texts are truncated, never refused


@dataclass(frozen=True)
class IncomingText:
    """A message as any channel hands it over, already authenticated and parsed."""

    channel: str  # sms | telegram
    provider: str  # twilio | sandbox | telegram
    provider_id: str  # MessageSid, Telegram update id, ...
    sender: str  # E.164 for SMS, Telegram user id for Telegram
    body: str
    recipient: str = ""


@dataclass
class InboundResult:
    inbound_id: int
    duplicate: bool
    replies: list[OutboxMessage]


class InboundPipeline:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    async def receive(
        self, message: IncomingText, *, inline_provider: str | None = None
    ) -> InboundResult:
        """Store, handle, answer. With ``inline_provider`` the replies are returned to the
        caller to deliver inline (TwiML) and recorded as sent through it; otherwise they are
        queued for the sender."""
        inbound_id, created = await self._store(message)
        if not created:
            return InboundResult(inbound_id, True, await self.replies_for(inbound_id))
        try:
            async with self.db.session() as session:
                await self._handle(session, inbound_id, inline_provider)
        except Exception as exc:
            log.exception("inbound message %s could not be handled", inbound_id)
            await self._keep_failed(inbound_id, exc, inline_provider)
        return InboundResult(inbound_id, False, await self.replies_for(inbound_id))

    async def _store(self, message: IncomingText) -> tuple[int, bool]:
        now = self.clock.now()
        values = {
            "channel": message.channel,
            "provider": message.provider,
            "provider_id": message.provider_id[:64],
            "sender": message.sender[:64],
            "recipient": message.recipient[:64],
            "body": message.body[:MAX_BODY],
            "received_at": now,
            "inbox_status": "none",
        }
        async with self.db.session() as session:
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            stmt = (
                insert(InboundMessage)
                .values(values)
                .on_conflict_do_nothing(index_elements=["provider", "provider_id"])
                .returning(InboundMessage.id)
            )
            new_id = (await session.execute(stmt)).scalar()
            if new_id is not None:
                return int(new_id), True
            existing = await session.scalar(
                select(InboundMessage.id)
                .where(InboundMessage.provider == message.provider)
                .where(InboundMessage.provider_id == values["provider_id"])
            )
            assert existing is not None
            return int(existing), False

    async def _handle(
        self, session: AsyncSession, inbound_id: int, inline_provider: str | None
    ) -> None:
        inbound = await session.get_one(InboundMessage, inbound_id)
        now = self.clock.now()
        person, created = await self.resolve_person(session, inbound, now)
        inbound.person_id = person.id
        intent = parse(inbound.body)
        inbound.intent = intent_name(intent)
        ctx = Context(
            session=session,
            person=person,
            inbound=inbound,
            now=now,
            alliance=self.settings.alliance_name,
            new_person=created,
        )
        await dispatch(ctx, intent)
        await self.write_replies(session, ctx.person, inbound, ctx.drafts, now, inline_provider)
        inbound.handled_at = now
        log.info(
            "inbound %s from person %s (%s): %s, %d repl%s",
            inbound.id,
            person.id,
            mask_phone(person.phone),
            inbound.intent,
            len(ctx.drafts),
            "y" if len(ctx.drafts) == 1 else "ies",
        )

    async def write_replies(
        self,
        session: AsyncSession,
        person: Person,
        inbound: InboundMessage,
        drafts: list[Draft],
        now: datetime,
        inline_provider: str | None,
    ) -> None:
        for i, draft in enumerate(drafts):
            await enqueue(
                session,
                person,
                draft,
                dedupe_key=f"reply:{inbound.id}:{i}",
                now=now,
                # The STOP confirmation must go even though the person has just opted out.
                kind="consent" if draft.template == "stop_confirm" else "reply",
                channel=inbound.channel,
                alliance=self.settings.alliance_name,
                in_reply_to_id=inbound.id,
                inline_provider=inline_provider,
            )

    async def resolve_person(
        self, session: AsyncSession, inbound: InboundMessage, now: datetime
    ) -> tuple[Person, bool]:
        if inbound.channel == "sms":
            person = await session.scalar(select(Person).where(Person.phone == inbound.sender))
            phone: str | None = inbound.sender
        elif inbound.channel == "telegram":
            person = await session.scalar(
                select(Person).where(Person.telegram_user_id == int(inbound.sender))
            )
            phone = None
        else:
            raise ValueError(f"unknown channel {inbound.channel!r}")
        if person is not None:
            return person, False
        person = new_person(
            phone=phone,
            language=self.settings.default_language,
            timezone=self.settings.default_timezone,
            consent="opted_in",
            consent_source="texted_in",
            now=now,
        )
        if inbound.channel == "telegram":
            person.telegram_user_id = int(inbound.sender)
        session.add(person)
        await session.flush()
        return person, True

    async def _keep_failed(
        self, inbound_id: int, exc: Exception, inline_provider: str | None
    ) -> None:
        """The handler failed: keep the message for an organiser and acknowledge it."""
        now = self.clock.now()
        try:
            async with self.db.session() as session:
                inbound = await session.get_one(InboundMessage, inbound_id)
                inbound.error = f"{type(exc).__name__}: {exc}"[:2000]
                inbound.inbox_status = "open"
                inbound.handled_at = now
                person, _ = await self.resolve_person(session, inbound, now)
                inbound.person_id = person.id
                if not person.opted_out:
                    await self.write_replies(
                        session, person, inbound, [Draft("inbox_ack", {})], now, inline_provider
                    )
        except Exception:
            # The row from step 1 is still there (unhandled): an organiser sees it.
            log.exception("could not record the failure of inbound message %s", inbound_id)

    async def replies_for(self, inbound_id: int) -> list[OutboxMessage]:
        async with self.db.session() as session:
            result = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.in_reply_to_id == inbound_id)
                .order_by(OutboxMessage.id)
            )
            return list(result)
