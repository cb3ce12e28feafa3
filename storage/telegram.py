"""Telegram's records: stored updates, linked groups, one-time link codes, linking a Telegram
account to a person (merging a Telegram-only record into the person it turns out to be), RSVP
cards and headcounts.

Everything here takes a session and ``now``; nothing talks to Telegram.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage import consent, counters
from storage.models import (
    Attendance,
    Commitment,
    CommitmentEvent,
    Headcount,
    InboundMessage,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
    TelegramCodeAttempt,
    TelegramGroup,
    TelegramLinkCode,
    TelegramRsvpCard,
    TelegramUpdate,
)
from storage.people import new_person, person_by_phone

# Codes are read aloud and typed on phones: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
DEFAULT_CODE_TTL = timedelta(hours=48)
# Wrong codes allowed per chat and per Telegram user within a sliding window.
CODE_ATTEMPTS = 5
CODE_ATTEMPT_WINDOW = timedelta(minutes=15)


def _insert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT support in the session's dialect."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# -- updates ------------------------------------------------------------------------------


def update_kind(raw: dict[str, Any]) -> str:
    """The update's one payload field (``message``, ``callback_query``, ...)."""
    kinds = [k for k in raw if k != "update_id"]
    return kinds[0][:32] if len(kinds) == 1 else "unknown"


async def store_update(
    session: AsyncSession, update_id: int, raw: dict[str, Any], now: datetime
) -> bool:
    """Keep the update; False if this ``update_id`` was already stored (a replay)."""
    stmt = (
        _insert(session)(TelegramUpdate)
        .values(update_id=update_id, kind=update_kind(raw), raw=raw, received_at=now)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(TelegramUpdate.id)
    )
    return (await session.execute(stmt)).scalar() is not None


async def mark_processed(
    session: AsyncSession, update_id: int, now: datetime, error: str | None
) -> None:
    await session.execute(
        update(TelegramUpdate)
        .where(TelegramUpdate.update_id == update_id)
        .values(processed_at=now, error=None if error is None else error[:2000])
    )


async def unprocessed_updates(
    session: AsyncSession, *, limit: int = 500
) -> list[tuple[int, dict[str, Any]]]:
    rows = await session.execute(
        select(TelegramUpdate.update_id, TelegramUpdate.raw)
        .where(TelegramUpdate.processed_at.is_(None))
        .order_by(TelegramUpdate.update_id)
        .limit(limit)
    )
    return [(int(uid), dict(raw)) for uid, raw in rows]


# -- groups -------------------------------------------------------------------------------


async def group_for_chat(session: AsyncSession, chat_id: int) -> TelegramGroup | None:
    return await session.scalar(
        select(TelegramGroup)
        .where(TelegramGroup.chat_id == chat_id)
        .where(TelegramGroup.status == "active")
    )


async def link_group(
    session: AsyncSession,
    *,
    chat_id: int,
    institution_id: int,
    title: str,
    language: str,
    user_id: int,
    now: datetime,
) -> TelegramGroup:
    group = await session.scalar(select(TelegramGroup).where(TelegramGroup.chat_id == chat_id))
    if group is None:
        group = TelegramGroup(chat_id=chat_id, language=language)
        session.add(group)
    group.institution_id = institution_id
    group.title = title[:200]
    group.status = "active"
    group.linked_by_user_id = user_id
    group.linked_at = now
    group.updated_at = now
    await session.flush()
    return group


async def migrate_chat(
    session: AsyncSession, old_chat_id: int, new_chat_id: int, now: datetime
) -> bool:
    """A basic group became a supergroup with a new id: follow it (the group link, its RSVP
    cards and anything still queued for it). True if a linked group moved."""
    moved = False
    group = await session.scalar(select(TelegramGroup).where(TelegramGroup.chat_id == old_chat_id))
    if group is not None:
        taken = await session.scalar(
            select(TelegramGroup).where(TelegramGroup.chat_id == new_chat_id)
        )
        if taken is not None:
            await session.delete(group)
        else:
            group.chat_id = new_chat_id
            group.migrated_from_chat_id = old_chat_id
            group.updated_at = now
            moved = True
        await session.flush()
    await session.execute(
        update(TelegramRsvpCard)
        .where(TelegramRsvpCard.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
    )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.channel == "telegram")
        .where(OutboxMessage.to_address == str(old_chat_id))
        .where(OutboxMessage.status == "queued")
        .values(to_address=str(new_chat_id), updated_at=now)
    )
    return moved


async def reactivate_group(
    session: AsyncSession, chat_id: int, now: datetime
) -> TelegramGroup | None:
    group = await session.scalar(select(TelegramGroup).where(TelegramGroup.chat_id == chat_id))
    if group is not None and group.status != "active":
        group.status = "active"
        group.updated_at = now
    return group


async def mark_group_removed(session: AsyncSession, chat_id: int, now: datetime) -> None:
    await session.execute(
        update(TelegramGroup)
        .where(TelegramGroup.chat_id == chat_id)
        .values(status="removed", updated_at=now)
    )


# -- link codes ---------------------------------------------------------------------------


def normalise_code(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


async def create_link_code(
    session: AsyncSession,
    *,
    kind: str,
    now: datetime,
    institution_id: int | None = None,
    person_id: int | None = None,
    created_by_id: int | None = None,
    ttl: timedelta = DEFAULT_CODE_TTL,
) -> tuple[str, TelegramLinkCode]:
    """A new one-time code (returned once, in clear; only its hash is kept)."""
    if kind == "group" and institution_id is None:
        raise ValueError("a group code needs an institution")
    if kind == "person" and person_id is None:
        raise ValueError("a person code needs a person")
    if kind not in ("group", "person"):
        raise ValueError(f"unknown link code kind {kind!r}")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    row = TelegramLinkCode(
        code_hash=code_hash(code),
        kind=kind,
        institution_id=institution_id,
        person_id=person_id,
        created_by_id=created_by_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    return code, row


@dataclass(frozen=True)
class CodeRefused:
    reason: str  # limited | unknown | used | expired | wrong_kind
    kind: str = ""


async def _take_attempt(session: AsyncSession, key: str, now: datetime) -> int | None:
    """A free attempt slot for ``key`` (never used, or its attempt is older than the window),
    taken with a conditional write so that two workers never share one; None when all
    CODE_ATTEMPTS slots hold an attempt within the window."""
    cutoff = now - CODE_ATTEMPT_WINDOW
    rows = await session.execute(
        select(TelegramCodeAttempt.slot, TelegramCodeAttempt.at).where(
            TelegramCodeAttempt.key == key
        )
    )
    held: dict[int, datetime] = {int(slot): at for slot, at in rows}
    for slot in range(CODE_ATTEMPTS):
        if slot not in held:
            taken = await session.execute(
                _insert(session)(TelegramCodeAttempt)
                .values(key=key, slot=slot, at=now)
                .on_conflict_do_nothing(index_elements=["key", "slot"])
                .returning(TelegramCodeAttempt.id)
            )
            if taken.scalar() is not None:
                return slot
        elif held[slot] <= cutoff:
            result: Any = await session.execute(
                update(TelegramCodeAttempt)
                .where(TelegramCodeAttempt.key == key)
                .where(TelegramCodeAttempt.slot == slot)
                .where(TelegramCodeAttempt.at <= cutoff)
                .values(at=now)
            )
            if result.rowcount == 1:
                return slot
    return None


async def redeem_link_code(
    session: AsyncSession, code: str, *, kind: str, user_id: int, chat_id: int, now: datetime
) -> TelegramLinkCode | CodeRefused:
    """Use a code once. A code of the other kind is refused and stays usable.

    Every attempt first takes a slot for its chat and one for its Telegram user; a refused
    code keeps them for CODE_ATTEMPT_WINDOW, a code that works gives them back. With no slot
    free the caller is refused as "limited" before the code is even looked at, so the answer
    never says whether it was right."""
    taken: list[tuple[str, int]] = []
    for key in (f"chat:{chat_id}", f"user:{user_id}"):
        slot = await _take_attempt(session, key, now)
        if slot is None:
            await _give_back(session, taken)
            return CodeRefused("limited")
        taken.append((key, slot))
    result = await _redeem(session, code, kind=kind, user_id=user_id, chat_id=chat_id, now=now)
    if not isinstance(result, CodeRefused):
        await _give_back(session, taken)
    return result


async def _give_back(session: AsyncSession, taken: list[tuple[str, int]]) -> None:
    for key, slot in taken:
        await session.execute(
            delete(TelegramCodeAttempt)
            .where(TelegramCodeAttempt.key == key)
            .where(TelegramCodeAttempt.slot == slot)
        )


async def _redeem(
    session: AsyncSession, code: str, *, kind: str, user_id: int, chat_id: int, now: datetime
) -> TelegramLinkCode | CodeRefused:
    if not normalise_code(code):
        return CodeRefused("unknown")
    row = await session.scalar(
        select(TelegramLinkCode).where(TelegramLinkCode.code_hash == code_hash(code))
    )
    if row is None:
        return CodeRefused("unknown")
    if row.kind != kind:
        return CodeRefused("wrong_kind", row.kind)
    if row.used_at is not None:
        return CodeRefused("used")
    if row.expires_at <= now:
        return CodeRefused("expired")
    # Conditional update: of two people racing with one code, exactly one wins.
    result: Any = await session.execute(
        update(TelegramLinkCode)
        .where(TelegramLinkCode.id == row.id)
        .where(TelegramLinkCode.used_at.is_(None))
        .values(used_at=now, used_by_user_id=user_id, used_in_chat_id=chat_id)
    )
    if result.rowcount != 1:
        return CodeRefused("used")
    await session.refresh(row)
    return row


# -- people -------------------------------------------------------------------------------


async def person_for_user(session: AsyncSession, user_id: int) -> Person | None:
    return await session.scalar(select(Person).where(Person.telegram_user_id == user_id))


async def link_account(
    session: AsyncSession, person: Person, user_id: int, now: datetime, *, name: str = ""
) -> Person:
    """Make ``person`` the one person behind Telegram account ``user_id``.

    A Telegram-only record created earlier for this account (someone who wrote to the bot
    before linking) is merged into ``person``; an account linked to another person with a
    phone moves to ``person`` (the code or the shared contact is the newer proof).
    """
    current = await person_for_user(session, user_id)
    if current is not None and current.id != person.id:
        if current.phone is None:
            await merge_people(session, source=current, target=person, now=now)
        else:
            current.telegram_user_id = None
            await session.flush()
    person.telegram_user_id = user_id
    person.telegram_status = "ok"
    if not person.name.strip() and name.strip():
        person.name = name.strip()[:200]
    await session.flush()
    return person


async def link_contact(
    session: AsyncSession,
    *,
    user_id: int,
    phone: str,
    name: str,
    language: str,
    timezone: str,
    now: datetime,
) -> Person:
    """The user shared their own contact (``phone`` already E.164): link or create."""
    person = await person_by_phone(session, phone)
    if person is not None:
        return await link_account(session, person, user_id, now, name=name)
    current = await person_for_user(session, user_id)
    if current is not None:
        current.phone = phone
        current.phone_status = "ok"
        if not current.name.strip():
            current.name = name.strip()[:200]
        current.telegram_status = "ok"
        await session.flush()
        return current
    person = new_person(
        phone=phone,
        name=name.strip()[:200],
        language=language,
        timezone=timezone,
        consent="opted_in",
        consent_source="telegram",
        now=now,
    )
    person.telegram_user_id = user_id
    session.add(person)
    await session.flush()
    return person


async def merge_people(
    session: AsyncSession, *, source: Person, target: Person, now: datetime
) -> None:
    """Fold ``source`` into ``target`` and delete it: messages, memberships, invitations (with
    their RSVP history), attendance and authorship move over; where both have a row for the same
    institution or action, ``target``'s stands. The stricter consent wins. The counters
    (storage/counters.py) follow the rows."""
    async with counters.recounting(session, [source.id, target.id], now):
        await _merge_people(session, source=source, target=target)


async def _merge_people(session: AsyncSession, *, source: Person, target: Person) -> None:
    sid, tid = source.id, target.id
    for column in (
        InboundMessage.person_id,
        OutboxMessage.person_id,
        Commitment.set_by_id,
        CommitmentEvent.set_by_id,
        Headcount.recorded_by_id,
        TelegramRsvpCard.posted_by_id,
        TelegramLinkCode.created_by_id,
    ):
        await session.execute(update(column.class_).where(column == sid).values({column.key: tid}))
    # One row per person and institution / action: target's stands where both have one.
    for column, key in (
        (Membership.person_id, Membership.institution_id),
        (Invitation.person_id, Invitation.action_id),
        (Attendance.person_id, Attendance.action_id),
    ):
        taken = select(key).where(column == tid)
        await session.execute(delete(column.class_).where(column == sid).where(key.in_(taken)))
        await session.execute(update(column.class_).where(column == sid).values({column.key: tid}))
    await consent.adopt(session, source=source, target=target)
    if target.introduced_at is None:
        target.introduced_at = source.introduced_at
    source.telegram_user_id = None
    await session.flush()
    await session.delete(source)
    await session.flush()


# -- cards and headcounts -----------------------------------------------------------------


async def record_headcount(
    session: AsyncSession,
    *,
    action_id: int,
    institution_id: int,
    number: int,
    recorded_by_id: int | None,
    channel: str,
    now: datetime,
) -> Headcount:
    row = Headcount(
        action_id=action_id,
        institution_id=institution_id,
        number=number,
        recorded_by_id=recorded_by_id,
        channel=channel,
        at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def latest_headcounts(session: AsyncSession, action_id: int) -> dict[int, Headcount]:
    """The current headcount per institution for an action (the latest recorded)."""
    latest = (
        select(func.max(Headcount.id))
        .where(Headcount.action_id == action_id)
        .group_by(Headcount.institution_id)
    )
    rows = await session.scalars(select(Headcount).where(Headcount.id.in_(latest)))
    return {row.institution_id: row for row in rows}
