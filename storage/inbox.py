"""The organiser inbox as the console reads it: texts no rule handled (``inbox_status``
"open"), gathered into conversations by person (a text from an unknown number is a
conversation of its own), newest first. What a viewer sees is limited by their roles exactly as
Today counts it (scheduler.digest.build): an organiser everything, a leader their
institutions' people's texts. The writes (reply, done, assign, attach) are scheduler/inbox.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboundMessage, InboxAssignment, Membership, Person
from storage.roles import LEADING_ROLES, Roles, is_organiser, sees

PAGE_SIZE = 50
OPEN = "open"


@dataclass
class Conversation:
    person_id: int | None
    name: str  # the person's name, or "Unknown sender"
    latest_id: int  # the newest open text: the conversation's page
    latest_at: datetime
    latest_body: str
    open: int  # open texts in it
    assigned_to: str = ""


def _visible(roles: Roles) -> Select[int]:
    return select(InboundMessage.id).where(sees(roles, InboundMessage.person_id))


def _open(roles: Roles, mine: int | None) -> Select[int]:
    query = _visible(roles).where(InboundMessage.inbox_status == OPEN)
    if mine is not None:
        query = query.where(
            InboundMessage.id.in_(
                select(InboxAssignment.inbound_id).where(InboxAssignment.assigned_to_id == mine)
            )
        )
    return query


async def open_count(session: AsyncSession, roles: Roles) -> int:
    """Open texts the viewer sees: the number Today shows as "Open in the inbox"."""
    return int(
        await session.scalar(select(func.count()).select_from(_open(roles, None).subquery())) or 0
    )


async def conversations(
    session: AsyncSession, roles: Roles, *, mine: int | None = None, page: int = 1
) -> tuple[list[Conversation], int]:
    """One page of open conversations, newest first, and how many there are."""
    ids = _open(roles, mine).subquery()
    key = func.coalesce(InboundMessage.person_id, -InboundMessage.id)
    grouped = (
        select(
            key.label("key"),
            func.max(InboundMessage.id).label("latest"),
            func.count().label("open"),
            func.max(InboundMessage.received_at).label("at"),
        )
        .where(InboundMessage.id.in_(select(ids.c.id)))
        .group_by(key)
    ).subquery()
    total = int(await session.scalar(select(func.count()).select_from(grouped)) or 0)
    rows = (
        await session.execute(
            select(grouped.c.latest, grouped.c.open)
            .order_by(grouped.c.at.desc(), grouped.c.latest.desc())
            .limit(PAGE_SIZE)
            .offset((max(1, page) - 1) * PAGE_SIZE)
        )
    ).all()
    if not rows:
        return [], total
    counts = {latest: n for latest, n in rows}
    messages = {
        m.id: m
        for m in await session.scalars(
            select(InboundMessage).where(InboundMessage.id.in_(list(counts)))
        )
    }
    person_ids = {m.person_id for m in messages.values() if m.person_id is not None}
    names = {
        pid: name
        for pid, name in await session.execute(
            select(Person.id, Person.name).where(Person.id.in_(person_ids))
        )
    }
    assigned = await assignees(session, list(counts))
    out = []
    for latest, n in rows:
        m = messages[latest]
        name = names.get(m.person_id, "") if m.person_id is not None else ""
        out.append(
            Conversation(
                m.person_id,
                (name.strip() or "(no name)") if m.person_id is not None else "Unknown sender",
                m.id,
                m.received_at,
                m.body,
                n,
                assigned.get(m.id, ""),
            )
        )
    return out, total


async def assignees(session: AsyncSession, inbound_ids: list[int]) -> dict[int, str]:
    """Whom each text is assigned to (by name)."""
    if not inbound_ids:
        return {}
    rows = await session.execute(
        select(InboxAssignment.inbound_id, Person.name)
        .join(Person, Person.id == InboxAssignment.assigned_to_id)
        .where(InboxAssignment.inbound_id.in_(inbound_ids))
    )
    return {inbound_id: name.strip() or "(no name)" for inbound_id, name in rows}


async def inbox_message(
    session: AsyncSession, roles: Roles, inbound_id: int
) -> InboundMessage | None:
    """The text, if the viewer may see it (else None, as if it did not exist)."""
    return await session.scalar(
        select(InboundMessage)
        .where(InboundMessage.id == inbound_id)
        .where(sees(roles, InboundMessage.person_id))
    )


async def open_in_conversation(
    session: AsyncSession, message: InboundMessage
) -> list[InboundMessage]:
    """The open texts of the conversation ``message`` belongs to (its person's; or just it,
    from an unknown sender), oldest first."""
    query = select(InboundMessage).where(InboundMessage.inbox_status == OPEN)
    if message.person_id is None:
        query = query.where(InboundMessage.id == message.id)
    else:
        query = query.where(InboundMessage.person_id == message.person_id)
    return list(await session.scalars(query.order_by(InboundMessage.id)))


async def assignee_choices(session: AsyncSession, person_id: int | None) -> list[tuple[int, str]]:
    """Who a conversation may be given to: the leaders of the person's institutions, and the
    organisers. (id, name), by name."""
    leaders = select(Membership.person_id).where(Membership.role.in_(LEADING_ROLES))
    if person_id is not None:
        leaders = leaders.where(
            Membership.institution_id.in_(
                select(Membership.institution_id).where(Membership.person_id == person_id)
            )
        )
    else:
        leaders = leaders.where(Membership.id.is_(None))
    rows = await session.execute(
        select(Person.id, Person.name)
        .where(Person.id.in_(leaders) | is_organiser())
        .where(Person.id != (person_id or 0))
        .order_by(Person.name, Person.id)
    )
    return [(pid, name.strip() or f"person #{pid}") for pid, name in rows]
