"""Who may see whom: the one rule every command a leader or an organiser gives goes through
(SMS, Telegram groups and private chats alike). Roles come from our own records
(``memberships.role``), never from Telegram's admin status.

* An **organiser** sees every institution that is not former, and everyone. An organiser is a
  person whose ``alliance_role`` is "organiser" (made with ``turnout organisers add``, with or
  without an institution) or who is the organiser of any institution (``memberships.role``):
  either way an organiser for the whole alliance.
* A **leader** sees the institutions they lead and the people in them.
* In listening (``LOG``, ``LOG FOLLOWUP``), a leader also sees, **by number**, the people they
  recorded themselves in a face-to-face conversation, in the campaigns where they recorded
  them: someone met at the door, new to our records, can be followed up by whoever met them.
  Never by name: a name is only looked for among the leader's institutions' people.
* A member, or anyone else, sees nobody.

A name or number outside what the asker may see gets exactly the answer an unknown one gets:
nothing says whether the person exists, or where they were listened to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.institutions import match_institution
from storage.models import Institution, ListeningAnswer, Membership, Person

ORGANISER = "organiser"
LEADING_ROLES = ("leader", ORGANISER)


@dataclass(frozen=True)
class Roles:
    person_id: int | None = None
    organiser: bool = False
    leads: frozenset[int] = frozenset()  # institution ids where the person leads (or organises)
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
        person_id=person.id,
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


async def leader_names(session: AsyncSession, institution_id: int) -> list[str]:
    """The institution's leaders (not its organiser), by name: whom to ask (names only: this
    may go to a group)."""
    names = await session.scalars(
        select(Person.name)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.institution_id == institution_id)
        .where(Membership.role == LEADING_ROLES[0])
        .order_by(Person.name)
    )
    return [name.strip() for name in names if name.strip()]


async def institutions_led(session: AsyncSession, roles: Roles) -> list[Institution]:
    """The institutions the person may act on, by name: those they lead (an organiser: every
    institution that is not former)."""
    query = select(Institution).order_by(Institution.name)
    if roles.organiser:
        query = query.where(Institution.status != "former")
    else:
        query = query.where(Institution.id.in_(sorted(roles.leads)))
    return list(await session.scalars(query))


def meant_institutions(roles: Roles, led: Sequence[Institution], hint: str) -> list[Institution]:
    """The institutions a command means, among ``led`` (:func:`institutions_led`): the one
    ``hint`` names (none when it names none or several of them); without a hint, all of them,
    except that an organiser means the institutions they belong to as leader or organiser."""
    if hint.strip():
        chosen = match_institution(led, hint).found
        return [] if chosen is None else [chosen]
    if roles.organiser and len(led) > 1:
        return [i for i in led if i.id in roles.leads]
    return list(led)


def sees(roles: Roles, person_id: Any) -> ColumnElement[bool]:
    """SQL: ``roles`` may see the person ``person_id`` (a column or a value): an organiser
    anyone, a leader the people of the institutions they lead."""
    if roles.organiser:
        return true()
    if not roles.leads:
        return false()
    return (
        exists()
        .where(Membership.person_id == person_id)
        .where(Membership.institution_id.in_(sorted(roles.leads)))
    )


def recorded_by(
    roles: Roles, person_id: Any, campaign_id: Any | None = None
) -> ColumnElement[bool]:
    """SQL: the person ``person_id`` was recorded face to face by ``roles``' person (in
    ``campaign_id``, when given)."""
    if roles.person_id is None:
        return false()
    query = (
        exists()
        .where(ListeningAnswer.person_id == person_id)
        .where(ListeningAnswer.recorded_by_id == roles.person_id)
    )
    if campaign_id is not None:
        query = query.where(ListeningAnswer.campaign_id == campaign_id)
    return query


def sees_in_listening(
    roles: Roles, person_id: Any, campaign_id: Any | None = None
) -> ColumnElement[bool]:
    """SQL: :func:`sees`, or the person was recorded by ``roles``' person (in ``campaign_id``)."""
    return or_(sees(roles, person_id), recorded_by(roles, person_id, campaign_id))


async def may_see(session: AsyncSession, roles: Roles, person: Person) -> bool:
    return bool(await session.scalar(select(sees(roles, person.id))))
