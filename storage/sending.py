"""The outbox as the console's Sending page reads it: rows by what happened to them, newest
first (the waiting ones soonest due first), with their person and action, limited to the
people a leader leads (storage.roles.sees: a leader never sees a group chat's rows or another
institution's people)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action, OutboxMessage, Person
from storage.roles import Roles, sees

# What a person asks of the outbox, and the statuses each answer covers.
VIEWS: dict[str, tuple[str, ...]] = {
    "waiting": ("queued", "sending", "unknown"),
    "sent": ("sent",),
    "delivered": ("delivered",),
    "failed": ("failed", "undelivered"),
    "cancelled": ("cancelled",),
}


@dataclass
class SendingRow:
    message: OutboxMessage
    person: Person | None
    action_title: str | None


async def rows(
    session: AsyncSession, roles: Roles, view: str, *, limit: int = 100
) -> list[SendingRow]:
    statuses = VIEWS[view]
    query = (
        select(OutboxMessage, Person, Action.title)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .outerjoin(Action, Action.id == OutboxMessage.action_id)
        .where(OutboxMessage.status.in_(statuses))
        .limit(limit)
    )
    if roles.scope is not None:
        query = query.where(sees(roles, OutboxMessage.person_id))
    if view == "waiting":
        query = query.order_by(OutboxMessage.not_before, OutboxMessage.id)
    else:
        query = query.order_by(OutboxMessage.updated_at.desc(), OutboxMessage.id.desc())
    return [SendingRow(m, p, t) for m, p, t in await session.execute(query)]


async def counts(session: AsyncSession, roles: Roles) -> dict[str, int]:
    """How many rows each view holds."""
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if roles.scope is not None:
        query = query.where(sees(roles, OutboxMessage.person_id))
    by_status = {status: int(n) for status, n in await session.execute(query)}
    return {view: sum(by_status.get(s, 0) for s in statuses) for view, statuses in VIEWS.items()}
