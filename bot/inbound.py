"""The inbound pipeline every channel feeds: store first, then understand, then answer.

1. The message is written in its own transaction before anything else happens, de-duplicated
   on (provider, provider_id): a retried webhook finds its row and gets the same replies back.
2. The sender is resolved (an unknown number becomes a person, consent source "texted_in"),
   the text parsed (bot/handlers/grammar.py), routed to its one handler (bot/handlers/router.py,
   which reads what is open for the person once), and the handler's replies rendered as words
   for the channel and written to the outbox, in one transaction.
3. If that fails, the message is still kept, marked with the error and put in the organiser
   inbox, and the person gets a short acknowledgement: never silence, never an error.

Steps 1 and 2 are two transactions on one pooled connection, and the hot statements are Core
(the store, the one read of the sender and what is open for them, the RSVP write, the replies,
the message's update): docs/benchmarks.md, "Inbound webhook".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.handlers import Context, intent_name, parse, route
from bot.handlers.base import Reply
from config.clock import Clock
from config.messages import channel_template
from config.metrics import Metrics
from config.settings import Settings
from scheduler.outbound import held_back
from scheduler.reminders import ASKING_TEMPLATES
from storage import fast, keys
from storage.conversation import NOTHING_OPEN, OpenState, open_state_by_phone
from storage.db import Database, as_loaded, attach, every_column
from storage.models import InboundMessage, OutboxMessage, Person
from storage.models.base import storable
from storage.outbox import REACHES_OPTED_OUT, Draft, Envelope, enqueue
from storage.people import new_person
from storage.suppression import lift

log = logging.getLogger(__name__)

MAX_BODY = 4096  # characters kept of one message; longer texts are truncated, never refused

# Hot-path statements are built once: building a statement costs more than running it on SQLite,
# and a fixed statement hits SQLAlchemy's compiled cache. The insert returns the whole row, so
# the handling transaction starts from it without reading it back.
_STORE: dict[str, fast.Statement] = {
    name: fast.prepare(
        insert(InboundMessage)
        .on_conflict_do_nothing(index_elements=["provider", "provider_id"])
        .returning(*every_column(InboundMessage))
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_STORED_ID = (
    select(InboundMessage.id)
    .where(InboundMessage.provider == bindparam("provider"))
    .where(InboundMessage.provider_id == bindparam("provider_id"))
)
_PEOPLE = cast(Table, Person.__table__)
_PERSON_BY_PHONE = select(*every_column(Person)).where(_PEOPLE.c.phone == bindparam("phone"))
_INBOUND = cast(Table, InboundMessage.__table__)
# What handling sets on the stored message, written once at the end.
_HANDLED = fast.prepare(
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("b_id"))
    .values(
        person_id=bindparam("b_person_id"),
        intent=bindparam("b_intent"),
        handled_at=bindparam("b_handled_at"),
        inbox_status=bindparam("b_inbox_status"),
    )
)
_REPLIES = (
    select(OutboxMessage)
    .where(OutboxMessage.in_reply_to_id == bindparam("inbound_id"))
    .order_by(OutboxMessage.id)
)
# What a replayed message gets back: its replies, less those to a person who has opted out
# since (a TwiML reply would go out again; only the STOP confirmation may reach them).
_REPLAYABLE = _REPLIES.outerjoin(Person, Person.id == OutboxMessage.person_id).where(
    or_(
        OutboxMessage.kind == REACHES_OPTED_OUT,
        Person.id.is_(None),
        Person.consent != "opted_out",
    )
)


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


def words(replies: list[Reply], channel: str) -> list[Draft]:
    """The handler's replies as this channel words them. The pipeline writes words only:
    buttons are dropped (the SMS wording says "reply YES"), and so are attachments; what has
    buttons on Telegram is answered in the adapter's turn (bot/telegram/conversation.py)."""
    return [Draft(channel_template(r.template, channel), r.params) for r in replies]


class InboundPipeline:
    def __init__(
        self, db: Database, settings: Settings, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        # Called once a new message has been handled and committed (not for a replay): the
        # console's live numbers are poked from here (bot/web/live.py).
        self.on_handled: list[Callable[[], None]] = []
        self.metrics = metrics or Metrics()

    async def receive(
        self, message: IncomingText, *, inline_provider: str | None = None
    ) -> InboundResult:
        """Store, handle, answer. With ``inline_provider`` the replies are returned to the
        caller to deliver inline (TwiML) and recorded as sent through it; otherwise they are
        queued for the sender."""
        # One connection for both steps: one checkout from the pool, not two.
        failed: Exception | None = None
        async with self.db.checkout() as connection:
            stored = await self._store(connection, message)
            if isinstance(stored, int):
                async with self.db.session_on(connection) as session:
                    replayed = await self._replies(session, stored, replay=True)
                return InboundResult(stored, True, replayed)
            inbound_id = stored.id
            self.metrics.count_inbound(message.channel)
            try:
                async with self.db.session_on(connection) as session:
                    replies = await self._handle(session, stored, inline_provider)
            except Exception as exc:
                failed = exc
        if failed is not None:
            log.error(
                "inbound message %s could not be handled",
                inbound_id,
                exc_info=failed,
                extra={"inbound_id": inbound_id},
            )
            await self._keep_failed(inbound_id, failed, inline_provider)
            replies = await self.replies_for(inbound_id)
        for listener in self.on_handled:
            listener()
        return InboundResult(inbound_id, False, replies)

    async def _store(
        self, connection: AsyncConnection, message: IncomingText
    ) -> InboundMessage | int:
        """Step 1, committed on its own: the new row (detached), or the id of the row this
        message already has (a replay).

        It cannot fail on content. The columns cut what is too long and replace what neither
        database can hold (NUL, unpaired surrogates: storage.models.base.CleanText); the ids
        the edge has checked. When ``body`` had to change (normalised, or cut at MAX_BODY),
        the text exactly as received is kept beside it, losslessly, in ``body_original`` (a
        JSON string literal)."""
        now = self.clock.now()
        body = storable(message.body[:MAX_BODY])
        values = {
            "channel": message.channel,
            "provider": message.provider,
            "provider_id": message.provider_id,
            "sender": message.sender,
            "recipient": message.recipient,
            "body": body,
            "body_original": None if body == message.body else json.dumps(message.body),
            "received_at": now,
            "inbox_status": "none",
        }
        # On the driver connection (storage.fast), not an ORM session: one statement, no unit
        # of work to set up, committed as it runs.
        async with self.db.each_committed(connection):
            insert = _STORE["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
            rows = await fast.rows(connection, insert, values, keyed=True)
            if rows:
                return as_loaded(InboundMessage, rows[0])
            existing = (await connection.execute(_STORED_ID, values)).scalar()
            assert existing is not None
            return int(existing)

    async def _handle(
        self, session: AsyncSession, inbound: InboundMessage, inline_provider: str | None
    ) -> list[OutboxMessage]:
        # ``inbound`` is the row as stored (step 1 returned every column), kept out of the
        # session: what handling sets on it is written by one Core UPDATE at the end.
        now = self.clock.now()
        state: OpenState | None = None
        found = None
        if inbound.channel == "sms":
            # The sender and what is open for them, on one read (the router's).
            found = await open_state_by_phone(session, inbound.sender, now, asking=ASKING_TEMPLATES)
        if found is not None:
            (person, state), created = found, False
        else:
            person, created = await self.resolve_person(session, inbound, now)
            if created:
                state = NOTHING_OPEN  # nothing can be open for someone who did not exist
        intent = parse(inbound.body)
        inbound.person_id = person.id
        inbound.intent = intent_name(intent)
        # Set with the others (committed together all the same): one UPDATE of the row, not two.
        inbound.handled_at = now
        ctx = Context(
            session=session,
            person=person,
            channel=inbound.channel,
            now=now,
            settings=self.settings,
            inbound=inbound,
            new_person=created,
            rich=inbound.channel == "telegram",
            state=state,
        )
        await route(ctx, intent)
        drafts = words(ctx.replies, inbound.channel)
        replies = await self.write_replies(session, person, inbound, drafts, now, inline_provider)
        connection = await session.connection()
        await fast.execute(
            connection,
            _HANDLED,
            {
                "b_id": inbound.id,
                "b_person_id": inbound.person_id,
                "b_intent": inbound.intent,
                "b_handled_at": inbound.handled_at,
                "b_inbox_status": inbound.inbox_status,
            },
        )
        # The ids go as fields only: every digit in a message is run through the phone number
        # matcher before the line is written (config/logs.py), and that costs more than the
        # line itself.
        log.info(
            "inbound handled: %s, %d repl%s",
            inbound.intent,
            len(drafts),
            "y" if len(drafts) == 1 else "ies",
            extra={"inbound_id": inbound.id, "person_id": person.id},
        )
        return replies

    async def write_replies(
        self,
        session: AsyncSession,
        person: Person,
        inbound: InboundMessage,
        drafts: list[Draft],
        now: datetime,
        inline_provider: str | None,
    ) -> list[OutboxMessage]:
        """The replies' rows, in send order (intros included): all the rows that answer
        ``inbound`` (only this writes ``in_reply_to_id``), so no need to read them back."""
        rows: list[OutboxMessage] = []
        for i, draft in enumerate(drafts):
            # The STOP confirmation must go even though the person has just opted out.
            kind = "consent" if draft.template == "stop_confirm" else "reply"
            if held_back(person, now, kind) == "young":
                # Under 16 and no adult has consented: no answer; an organiser sees the text.
                inbound.inbox_status = "open"
                continue
            rows += await enqueue(
                session,
                person,
                Envelope(
                    draft,
                    keys.reply(inbound.id, i),
                    kind=kind,
                    channel=inbound.channel,
                    in_reply_to_id=inbound.id,
                    inline_provider=inline_provider,
                ),
                now=now,
                alliance=self.settings.alliance_name,
            )
        return rows

    async def resolve_person(
        self, session: AsyncSession, inbound: InboundMessage, now: datetime
    ) -> tuple[Person, bool]:
        person = await self.find_person(session, inbound)
        if person is not None:
            return person, False
        person = new_person(
            phone=inbound.sender if inbound.channel == "sms" else None,
            language=self.settings.default_language,
            timezone=self.settings.default_timezone,
            consent="opted_in",
            consent_source="texted_in",
            now=now,
        )
        if inbound.channel == "telegram":
            person.telegram_user_id = int(inbound.sender)
        try:
            # In a savepoint: two texts from the same new number handled at once (PostgreSQL
            # runs them side by side) both find no one and both insert; the second then takes
            # the person the first created instead of failing into the inbox.
            async with session.begin_nested():
                session.add(person)
        except IntegrityError:
            existing = await self.find_person(session, inbound)
            if existing is None:
                raise
            return existing, False
        if person.phone:
            # Someone erased at their request who texts in again themselves may be kept again.
            await lift(session, person.phone, self.settings.suppression_secret)
        return person, True

    async def find_person(self, session: AsyncSession, inbound: InboundMessage) -> Person | None:
        if inbound.channel == "sms":
            # Core, and the object built from the row: an ORM select costs twice as much.
            connection = await session.connection()
            row = (await connection.execute(_PERSON_BY_PHONE, {"phone": inbound.sender})).first()
            return None if row is None else attach(session, as_loaded(Person, row))
        if inbound.channel == "telegram":
            return await session.scalar(
                select(Person).where(Person.telegram_user_id == int(inbound.sender))
            )
        raise ValueError(f"unknown channel {inbound.channel!r}")

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
            log.exception(
                "could not record the failure of inbound message %s",
                inbound_id,
                extra={"inbound_id": inbound_id},
            )

    async def replies_for(self, inbound_id: int, *, replay: bool = False) -> list[OutboxMessage]:
        """The replies written for ``inbound_id``; for a ``replay``, only those that may still
        reach their person."""
        async with self.db.session() as session:
            return await self._replies(session, inbound_id, replay=replay)

    async def _replies(
        self, session: AsyncSession, inbound_id: int, *, replay: bool
    ) -> list[OutboxMessage]:
        query = _REPLAYABLE if replay else _REPLIES
        return list(await session.scalars(query, {"inbound_id": inbound_id}))
