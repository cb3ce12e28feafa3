"""Who may do what, from our own records (Membership.role), never from Telegram's admin
status. An organiser of any institution is an organiser for the whole alliance."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.commitments import LEADING_ROLES
from storage.models import Institution, Membership, Person


@dataclass(frozen=True)
class Roles:
    organiser: bool = False
    leads: frozenset[int] = frozenset()  # institution ids where the person is a leader
    member_of: frozenset[int] = frozenset()

    def can_lead(self, institution_id: int) -> bool:
        return self.organiser or institution_id in self.leads

    @property
    def leader_anywhere(self) -> bool:
        return self.organiser or bool(self.leads)


NOBODY = Roles()


async def roles_of(session: AsyncSession, person: Person | None) -> Roles:
    if person is None:
        return NOBODY
    rows = (
        await session.execute(
            select(Membership.institution_id, Membership.role).where(
                Membership.person_id == person.id
            )
        )
    ).all()
    return Roles(
        organiser=any(role == "organiser" for _, role in rows),
        leads=frozenset(iid for iid, role in rows if role in LEADING_ROLES),
        member_of=frozenset(iid for iid, _ in rows),
    )


async def institutions_led(session: AsyncSession, roles: Roles) -> list[Institution]:
    """What a leader may look at in a private chat: their own institutions (an organiser:
    every institution that is not former)."""
    query = select(Institution).order_by(Institution.name)
    if roles.organiser:
        query = query.where(Institution.status != "former")
    else:
        query = query.where(Institution.id.in_(roles.leads))
    return list(await session.scalars(query))
