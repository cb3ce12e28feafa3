"""Who may do what, from our own records, never from Telegram's admin status: the one rule for
Telegram, SMS and the web console.

An organiser is a person whose ``alliance_role`` is "organiser" (made with ``turnout organisers
add``, with or without an institution) or who is the organiser of any institution
(``memberships.role``): either way an organiser for the whole alliance. A leader leads the
institutions where their membership's role is leader (or organiser).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.commitments import LEADING_ROLES
from storage.models import Institution, Membership, Person

ORGANISER = "organiser"


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

    @property
    def scope(self) -> frozenset[int] | None:
        """The institutions this person's view is limited to: None (everything) for an
        organiser, else the ones they lead (empty: nothing)."""
        return None if self.organiser else self.leads


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
        organiser=person.alliance_role == ORGANISER or any(role == ORGANISER for _, role in rows),
        leads=frozenset(iid for iid, role in rows if role in LEADING_ROLES),
        member_of=frozenset(iid for iid, _ in rows),
    )


def is_organiser() -> ColumnElement[bool]:
    """The same rule as ``Roles.organiser``, as SQL over ``people``."""
    return or_(
        Person.alliance_role == ORGANISER,
        Person.id.in_(select(Membership.person_id).where(Membership.role == ORGANISER)),
    )


async def organisers(session: AsyncSession) -> list[Person]:
    """Everyone who is an organiser, by id (the digest's recipients, ``organisers list``)."""
    return list(await session.scalars(select(Person).where(is_organiser()).order_by(Person.id)))


async def institutions_led(session: AsyncSession, roles: Roles) -> list[Institution]:
    """What a leader may look at in a private chat: their own institutions (an organiser:
    every institution that is not former)."""
    query = select(Institution).order_by(Institution.name)
    if roles.organiser:
        query = query.where(Institution.status != "former")
    else:
        query = query.where(Institution.id.in_(roles.leads))
    return list(await session.scalars(query))
