"""Writing to the outbox. Nothing is ever sent except from a row written here first.

``enqueue(session, person, Envelope(draft, key, ...), now=..., alliance=...)`` renders a template
for a person (in their language), counts SMS segments, and inserts the row with a unique
``dedupe_key``: enqueuing the same key twice is a no-op, which is
what makes re-planning, retried webhooks and restarts safe. A person who has never been told who
is texting them gets the ``intro`` message first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from config.messages import INTRODUCES, render
from config.segments import count_segments
from storage import fast, keys
from storage.bulk import insert_new
from storage.db import as_loaded, every_column
from storage.models import OutboxMessage, Person

# Lower goes first: replies to a person's own message jump ahead of bulk sends.
PRIORITY = {"consent": 0, "reply": 1, "system": 3, "bulk": 5}
# The one kind of message that may still reach a person who has opted out: the confirmation
# of their STOP. The sender cancels anything else to them; a replayed webhook gets only it.
REACHES_OPTED_OUT = "consent"

# Forward-only status order for provider callbacks (storage only ever moves a row up).
STATUS_RANK = {
    "queued": 0,
    "sending": 1,
    "unknown": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "cancelled": 4,
}
FINAL_STATUSES = frozenset(s for s, rank in STATUS_RANK.items() if rank == 4)
# Error codes of ``cancelled`` rows dropped on purpose: would have arrived too late (quiet
# hours), or past their moment.
DROPPED = ("too_late", "expired")
# Statuses of a message that did not reach its person (the digest counts them, the console's
# live numbers watch them), and how far back "since yesterday" looks.
FAILED = ("failed", "undelivered")
SINCE = timedelta(hours=24)


@dataclass(frozen=True)
class Draft:
    """A message to a person, before it is written: template key and placeholders."""

    template: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Envelope:
    """What :func:`enqueue` writes: the draft, its unique dedupe key (storage/keys.py), and how
    it travels.

    ``kind`` sets the priority (:data:`PRIORITY`: replies ahead of bulk sends); ``channel`` is
    ``sms`` or ``telegram``; ``not_before`` (default: now) and ``expires_at`` bound when it may
    go; ``action_id`` and ``in_reply_to_id`` say what it is about; ``inline_provider`` is for
    replies the webhook answers inline (Twilio's TwiML): the row is written already ``sent``
    through that provider, so no worker can ever send it a second time; ``payload`` carries
    channel extras (Telegram buttons, an edit target) on the message row.
    """

    draft: Draft
    key: str
    kind: str = "bulk"
    channel: str = "sms"
    not_before: datetime | None = None
    expires_at: datetime | None = None
    action_id: int | None = None
    in_reply_to_id: int | None = None
    inline_provider: str | None = None
    payload: dict[str, Any] | None = None


# enqueue's statements, built once. Rows go as parameters, not inside the statement: a
# multi-row VALUES has no cache key, so SQLAlchemy would compile it afresh on every call.
# RETURNING gives back the rows it wrote, so new rows need no read-back.
_INSERT_IGNORE = {
    name: insert(OutboxMessage)
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(*every_column(OutboxMessage))
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_INSERT_ONE = {name: fast.prepare(insert) for name, insert in _INSERT_IGNORE.items()}
_ROWS_BY_KEY = (
    select(OutboxMessage)
    .where(OutboxMessage.dedupe_key.in_(bindparam("keys", expanding=True)))
    .order_by(OutboxMessage.id)
)


async def enqueue(
    session: AsyncSession,
    person: Person,
    envelope: Envelope,
    *,
    now: datetime,
    alliance: str,
) -> list[OutboxMessage]:
    """Write the message (and the intro before it, if the person has never had one).

    Returns the rows that exist for these keys (new or already there), in send order.
    Persons without an address on ``envelope.channel`` get nothing (an empty list).
    """
    e = envelope
    address = address_for(person, e.channel)
    if address is None:
        return []
    drafts = _drafts(person, e)
    if person.introduced_at is None:
        person.introduced_at = now
    rows = [
        _row(
            key=key,
            channel=e.channel,
            to_address=address,
            body=render(d.template, person.language, alliance=alliance, **d.params),
            template=d.template,
            kind=e.kind,
            now=now,
            person_id=person.id,
            # Same time and priority: the lower id (the intro) goes first.
            not_before=e.not_before,
            expires_at=e.expires_at,
            action_id=e.action_id,
            in_reply_to_id=e.in_reply_to_id,
            inline_provider=e.inline_provider,
            payload=e.payload if key == e.key else None,
        )
        for key, d in drafts
    ]
    return await _insert(session, rows)


async def enqueue_address(
    session: AsyncSession, to_address: str, body: str, envelope: Envelope, *, now: datetime
) -> OutboxMessage:
    """A message to an address that is not a person: a Telegram group, or someone who has not
    linked yet. Already rendered: ``body`` is ``envelope.draft`` in the language the caller
    chose; same dedupe rule as enqueue."""
    e = envelope
    row = _row(
        key=e.key,
        channel=e.channel,
        to_address=to_address,
        body=body,
        template=e.draft.template,
        kind=e.kind,
        now=now,
        not_before=e.not_before,
        expires_at=e.expires_at,
        action_id=e.action_id,
        in_reply_to_id=e.in_reply_to_id,
        inline_provider=e.inline_provider,
        payload=e.payload,
    )
    return (await _insert(session, [row]))[0]


@dataclass(frozen=True)
class Letter:
    """One message of :func:`enqueue_many`: the envelope for a person, and ``dropped`` (error
    code, message) when the caller has already decided it cannot go (the too-late drop of
    scheduler/outbound.py): then it is written ``cancelled`` with that error, on record."""

    person: Person
    envelope: Envelope
    dropped: tuple[str, str] | None = None


@dataclass(frozen=True)
class Written:
    """A row :func:`enqueue_many` wrote (a key already taken writes nothing)."""

    key: str
    person_id: int | None
    template: str
    status: str


_OUTBOX = cast(Table, OutboxMessage.__table__)
_PEOPLE = cast(Table, Person.__table__)
_INTRODUCED = (
    update(_PEOPLE)
    .where(_PEOPLE.c.id.in_(bindparam("ids", expanding=True)))
    .where(_PEOPLE.c.introduced_at.is_(None))
    .values(introduced_at=bindparam("at"))
)
# Ids in one IN list: well under SQLite's and asyncpg's 32,767 parameters.
_ID_PAGE = 5000


async def enqueue_many(
    session: AsyncSession, letters: Sequence[Letter], *, now: datetime, alliance: str
) -> list[Written]:
    """:func:`enqueue` for many people at once (an invitation to a segment of thousands), with
    the same rows: the intro first for a person never texted, the same dedupe keys (a key
    already taken writes nothing, even when another transaction took it a moment ago), the
    same ``introduced_at``. Written as multi-row ``INSERT ... ON CONFLICT DO NOTHING``; each
    distinct wording is rendered and counted once. Returns the rows that were new."""
    rows: list[dict[str, Any]] = []
    introduced: list[Person] = []
    wordings: dict[tuple[Any, ...], tuple[str, int]] = {}
    for letter in letters:
        person, e = letter.person, letter.envelope
        address = address_for(person, e.channel)
        if address is None:
            continue
        for key, d in _drafts(person, e):
            wording = (d.template, person.language, e.channel, *sorted(d.params.items()))
            if wording not in wordings:
                body = render(d.template, person.language, alliance=alliance, **d.params)
                wordings[wording] = (body, count_segments(body) if e.channel == "sms" else 1)
            body, segments = wordings[wording]
            rows.append(
                _row(
                    key=key,
                    channel=e.channel,
                    to_address=address,
                    body=body,
                    template=d.template,
                    kind=e.kind,
                    now=now,
                    person_id=person.id,
                    not_before=e.not_before,
                    expires_at=e.expires_at,
                    action_id=e.action_id,
                    in_reply_to_id=e.in_reply_to_id,
                    inline_provider=e.inline_provider,
                    payload=e.payload if key == e.key else None,
                    segments=segments,
                    dropped=letter.dropped,
                )
            )
        # Nothing will be sent to a dropped letter, so no introduction either.
        if person.introduced_at is None and letter.dropped is None:
            introduced.append(person)
    if not rows:
        return []
    connection = await session.connection()
    written = [
        Written(row[0], row[1], row[2], row[3])
        for row in await insert_new(
            connection,
            _OUTBOX,
            rows,
            unique=("dedupe_key",),
            returning=("dedupe_key", "person_id", "template", "status"),
        )
    ]
    for start in range(0, len(introduced), _ID_PAGE):
        page = introduced[start : start + _ID_PAGE]
        await connection.execute(_INTRODUCED, {"ids": [p.id for p in page], "at": now})
        held = session.sync_session.identity_map
        for person in page:  # as if read back: the session has nothing to flush for it
            set_committed_value(person, "introduced_at", now)
            copy = held.get(identity_key(Person, person.id))
            if copy is not None and copy is not person:  # the session's own copy knows too
                set_committed_value(copy, "introduced_at", now)
    return written


def _drafts(person: Person, e: Envelope) -> list[tuple[str, Draft]]:
    """The keys and drafts for a message: the intro first if the person has never had one."""
    drafts: list[tuple[str, Draft]] = []
    if person.introduced_at is None and e.draft.template not in INTRODUCES:
        drafts.append((keys.intro(e.key), Draft("intro", {})))
    drafts.append((e.key, e.draft))
    return drafts


def _row(
    *,
    key: str,
    channel: str,
    to_address: str,
    body: str,
    template: str,
    kind: str,
    now: datetime,
    person_id: int | None = None,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    action_id: int | None = None,
    in_reply_to_id: int | None = None,
    inline_provider: str | None = None,
    payload: dict[str, Any] | None = None,
    segments: int | None = None,
    dropped: tuple[str, str] | None = None,
) -> dict[str, Any]:
    if segments is None:
        segments = count_segments(body) if channel == "sms" else 1
    status = "cancelled" if dropped else "sent" if inline_provider else "queued"
    return {
        "dedupe_key": key,
        "channel": channel,
        "person_id": person_id,
        "to_address": to_address,
        "body": body,
        "template": template,
        "kind": kind,
        "priority": PRIORITY[kind],
        "segments": segments,
        "status": status,
        "provider": inline_provider,
        "sent_at": now if inline_provider else None,
        "not_before": not_before or now,
        "expires_at": expires_at,
        "attempts": 0,
        "action_id": action_id,
        "in_reply_to_id": in_reply_to_id,
        "payload": payload,
        "error_code": dropped[0] if dropped else None,
        "error_message": dropped[1] if dropped else None,
        "created_at": now,
        "updated_at": now,
    }


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> list[OutboxMessage]:
    """Insert what is new, return every row for these keys (new or already there), in order."""
    # Core on the session's connection: the ORM's bulk insert costs several times the statement.
    connection = await session.connection()
    dialect = "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
    written: Sequence[Any]
    if len(rows) == 1:
        # One row (a reply, the usual case): on the driver connection (storage.fast); a list
        # of one went through SQLAlchemy's multi-row "insertmanyvalues" machinery, which costs
        # more than the statement.
        written = await fast.rows(connection, _INSERT_ONE[dialect], rows[0], keyed=True)
    else:
        written = (await connection.execute(_INSERT_IGNORE[dialect], rows)).all()
    if len(written) == len(rows):
        # All new (the usual case): these are the rows; ids ascend in insertion (send) order.
        loaded = [as_loaded(OutboxMessage, row) for row in sorted(written, key=lambda r: r[0])]
        session.add_all(loaded)
        return loaded
    result = await session.scalars(_ROWS_BY_KEY, {"keys": [row["dedupe_key"] for row in rows]})
    return list(result)


def address_for(person: Person, channel: str) -> str | None:
    if channel == "sms":
        return person.phone if person.phone and person.phone_status == "ok" else None
    if channel == "telegram":
        if person.telegram_user_id is None or person.telegram_status != "ok":
            return None
        return str(person.telegram_user_id)
    raise ValueError(f"unknown channel {channel!r}")
