"""Delivery bookkeeping in one place: what a send needs, and what its outcome changes.

Channels (scheduler/delivery/channels/) only send and classify: they hold no database and no
clock. The sender reads what a send needs when it claims a row (:func:`load_extras`: the row's
payload and template, an attached file, the RSVP card an edit targets), and hands each outcome
back here (:func:`record_attempts`). A provider's status callback lands here too
(:func:`record_status`), so an outbox row's status, its ``DeliveryEvent`` history and the side
effects a provider reports are written by this module alone:

* ``person``: what a permanent error says about the recipient (``opted_out`` at the carrier,
  an ``invalid`` or ``not_mobile`` number, a Telegram user who ``blocked`` the bot);
* ``migrated_to``: a Telegram group became a supergroup: the group link, its RSVP cards, the
  row itself and anything still queued for the old id follow the new id;
* ``group_removed``: the bot is no longer in that Telegram group;
* ``card``: an RSVP card went out as this Telegram message (later taps edit it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DeliveryEvent, OutboxAttachment, OutboxMessage, Person, TelegramRsvpCard
from storage.outbox import STATUS_RANK
from storage.people import apply_delivery_effect
from storage.telegram import mark_group_removed, migrate_chat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Card:
    """Where an RSVP card is in Telegram (``message_id`` is None until it has gone out)."""

    id: int
    chat_id: int
    message_id: int | None


@dataclass(frozen=True)
class Effects:
    """What a send taught us beyond its status (see the module docstring)."""

    person: str | None = None
    migrated_to: int | None = None
    group_removed: bool = False
    card: Card | None = None

    def __bool__(self) -> bool:
        return bool(self.person or self.migrated_to or self.group_removed or self.card)


NO_EFFECTS = Effects()


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Extras:
    """What a send needs beyond the address and the text, read when the row is claimed."""

    payload: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    attachment: Attachment | None = None
    # The card an ``edit_card`` row edits; None when it is gone.
    card: Card | None = None


async def load_extras(session: AsyncSession, rows: Sequence[OutboxMessage]) -> dict[int, Extras]:
    """Extras for the rows that have any (a payload or an attachment), by outbox id. Only
    Telegram rows can have them; two queries at most, whatever the number of rows."""
    telegram = [r for r in rows if r.channel == "telegram"]
    if not telegram:
        return {}
    ids = [r.id for r in telegram]
    attachments = {
        a.outbox_id: Attachment(a.filename, a.data)
        for a in await session.execute(
            select(
                OutboxAttachment.outbox_id, OutboxAttachment.filename, OutboxAttachment.data
            ).where(OutboxAttachment.outbox_id.in_(ids))
        )
    }
    card_ids = {
        int(r.payload["edit_card"]) for r in telegram if r.payload and "edit_card" in r.payload
    }
    cards: dict[int, Card] = {}
    if card_ids:
        cards = {
            c.id: Card(c.id, c.chat_id, c.message_id)
            for c in await session.execute(
                select(
                    TelegramRsvpCard.id, TelegramRsvpCard.chat_id, TelegramRsvpCard.message_id
                ).where(TelegramRsvpCard.id.in_(card_ids))
            )
        }
    extras = {}
    for row in telegram:
        payload = dict(row.payload or {})
        edit = payload.get("edit_card")
        extras[row.id] = Extras(
            payload=payload,
            template=row.template,
            attachment=attachments.get(row.id),
            card=cards.get(int(edit)) if edit is not None else None,
        )
    return extras


@dataclass(frozen=True)
class Attempt:
    """One outcome the sender decided (status, retry time, lease), to be written down."""

    outbox_id: int
    person_id: int | None
    to_address: str
    status: str
    attempts: int
    not_before: datetime
    at: datetime
    provider: str | None = None
    provider_id: str | None = None
    sent_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    # False: the provider was never called (the lease ran short): no event, no effects.
    started: bool = True
    effects: Effects = NO_EFFECTS


def event(
    outbox_id: int,
    kind: str,
    status: str,
    at: datetime,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    provider_id: str | None = None,
) -> dict[str, Any]:
    """A ``DeliveryEvent`` row (attempt, cancel, reconcile or callback), as insert values."""
    return {
        "outbox_id": outbox_id,
        "kind": kind,
        "status": status,
        "error_code": error_code,
        "error_message": error_message,
        "provider_id": provider_id,
        "at": at,
    }


_OUTBOX = cast(Table, OutboxMessage.__table__)
# Written only while this worker still holds the row: a row reconcile has taken over is not.
_RECORD = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("b_id"),
        _OUTBOX.c.lease_owner == bindparam("b_worker"),
        # Not IN (...): an expanding parameter cannot go through executemany.
        or_(_OUTBOX.c.status == "sending", _OUTBOX.c.status == "unknown"),
    )
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        not_before=bindparam("b_not_before"),
        provider=bindparam("b_provider"),
        provider_id=bindparam("b_provider_id"),
        sent_at=bindparam("b_sent_at"),
        error_code=bindparam("b_error_code"),
        error_message=bindparam("b_error_message"),
        lease_owner=bindparam("b_lease_owner"),
        lease_until=bindparam("b_lease_until"),
        updated_at=bindparam("b_at"),
    )
)


async def record_attempts(session: AsyncSession, worker: str, attempts: Sequence[Attempt]) -> None:
    """Write a batch of outcomes: each row's status, one ``attempt`` event per provider call,
    and the side effects the providers reported."""
    if not attempts:
        return
    conn = await session.connection()
    await conn.execute(
        _RECORD,
        [
            {
                "b_id": a.outbox_id,
                "b_worker": worker,
                "b_status": a.status,
                "b_attempts": a.attempts,
                "b_not_before": a.not_before,
                "b_provider": a.provider,
                "b_provider_id": a.provider_id,
                "b_sent_at": a.sent_at,
                "b_error_code": a.error_code,
                "b_error_message": a.error_message,
                "b_lease_owner": a.lease_owner,
                "b_lease_until": a.lease_until,
                "b_at": a.at,
            }
            for a in attempts
        ],
    )
    events = [
        event(
            a.outbox_id,
            "attempt",
            a.status,
            a.at,
            error_code=a.error_code,
            error_message=a.error_message,
            provider_id=a.provider_id,
        )
        for a in attempts
        if a.started
    ]
    if events:
        await conn.execute(insert(cast(Table, DeliveryEvent.__table__)), events)
    for a in attempts:
        if a.started and a.effects:
            await apply_effects(session, a.outbox_id, a.to_address, a.person_id, a.effects, a.at)


async def apply_effects(
    session: AsyncSession,
    outbox_id: int,
    to_address: str,
    person_id: int | None,
    effects: Effects,
    at: datetime,
) -> None:
    """Apply what a provider reported about one message (see the module docstring)."""
    fields = {"outbox_id": outbox_id}
    if effects.migrated_to is not None:
        old = int(to_address)
        await migrate_chat(session, old, effects.migrated_to, at)
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(to_address=str(effects.migrated_to))
        )
        log.info("telegram: chat %s became %s", old, effects.migrated_to, extra=fields)
    if effects.group_removed:
        await mark_group_removed(session, int(to_address), at)
    if effects.card is not None:
        await session.execute(
            update(TelegramRsvpCard)
            .where(TelegramRsvpCard.id == effects.card.id)
            .values(chat_id=effects.card.chat_id, message_id=effects.card.message_id)
        )
    if effects.person is not None and person_id is not None:
        person = await session.get(Person, person_id)
        if person is not None:
            apply_delivery_effect(session, person, effects.person, at)
            log.info(
                "person %d updated from a provider error: %s",
                person_id,
                effects.person,
                extra={**fields, "person_id": person_id},
            )


async def record_status(
    session: AsyncSession,
    provider_id: str,
    status: str,
    *,
    error_code: str | None,
    effect: str | None,
    now: datetime,
    outbox_id: int | None = None,
) -> bool:
    """A provider's status callback for message ``provider_id`` (or, for a reply answered
    inline, for our ``outbox_id`` that has no provider id yet). Every callback is kept as an
    event; the row's status only moves forward (callbacks arrive out of order); ``effect`` is
    what the error code says about the person. False if the message is not ours."""
    row = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
    )
    if row is None and outbox_id is not None:
        row = await session.get(OutboxMessage, outbox_id)
        if row is not None and row.provider_id not in (None, provider_id):
            row = None
    if row is None:
        return False
    row.provider_id = provider_id
    session.add(
        DeliveryEvent(
            outbox_id=row.id,
            kind="callback",
            status=status,
            error_code=error_code,
            provider_id=provider_id,
            at=now,
        )
    )
    if STATUS_RANK[status] > STATUS_RANK[row.status]:
        row.status = status
        row.updated_at = now
    if error_code is not None:
        row.error_code = error_code
        if effect is not None:
            await apply_effects(
                session, row.id, row.to_address, row.person_id, Effects(person=effect), now
            )
    return True
