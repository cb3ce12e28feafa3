"""Who to chase: the people of one institution who were invited to an action and have not
replied. Names only: this feeds messages that may go to a group."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Invitation, Membership, Person


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
