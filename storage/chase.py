"""Who to chase: the people of one institution who were invited to an action and have not
replied, and the leaders to ask. Names only: this feeds messages that may go to a group."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Invitation, Membership, Person
from storage.roles import LEADING_ROLES


async def not_replied(session: AsyncSession, action_id: int, institution_id: int) -> list[str]:
    """Names of the institution's invited people with no RSVP yet, alphabetical."""
    names = await session.scalars(
        select(Person.name)
        .join(Membership, Membership.person_id == Person.id)
        .join(Invitation, Invitation.person_id == Person.id)
        .where(Membership.institution_id == institution_id)
        .where(Invitation.action_id == action_id)
        .where(Invitation.response.is_(None))
        .order_by(Person.name, Person.id)
    )
    return [name.strip() or "?" for name in names]


async def leader_names(session: AsyncSession, institution_id: int) -> list[str]:
    """The institution's leaders (not its organiser), by name."""
    names = await session.scalars(
        select(Person.name)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.institution_id == institution_id)
        .where(Membership.role == LEADING_ROLES[0])
        .order_by(Person.name)
    )
    return [name.strip() for name in names if name.strip()]
