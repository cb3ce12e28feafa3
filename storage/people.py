"""People: lookup by phone number, a new person's row, joining and leaving an institution, and
what a provider's permanent error says about them. Phone numbers as text (normalising, finding,
hiding) are config/phones.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import consent as consent_
from storage import counters
from storage.models import Membership, Person


async def person_by_phone(session: AsyncSession, phone: str) -> Person | None:
    result = await session.scalars(select(Person).where(Person.phone == phone))
    return result.first()


def new_person(
    *,
    phone: str | None,
    name: str = "",
    language: str,
    timezone: str,
    consent: str,
    consent_source: str,
    now: datetime,
) -> Person:
    person = Person(
        name=name,
        phone=phone,
        phone_status="ok",
        language=language,
        timezone=timezone,
        telegram_status="ok",
        created_at=now,
    )
    consent_.first(person, consent, source=consent_source, at=now)
    return person


def apply_delivery_effect(
    session: AsyncSession, person: Person, effect: str | None, now: datetime
) -> None:
    """What a provider's permanent error tells us about a person (one place for the sender and
    the status callbacks): unsubscribed at the carrier (21610), a bad number, or a blocked bot."""
    if effect == "opted_out":
        consent_.change(session, person, "opted_out", source="carrier", channel="sms", at=now)
    elif effect in ("invalid", "not_mobile"):
        person.phone_status = effect
    elif effect == "blocked":
        person.telegram_status = "blocked"


async def add_membership(
    session: AsyncSession, person_id: int, institution_id: int, *, role: str, now: datetime
) -> bool:
    """Make the person a member of the institution (False: they already are). Their numbers
    move to the institution's counters in the same transaction."""
    existing = await session.scalar(
        select(Membership.id)
        .where(Membership.person_id == person_id)
        .where(Membership.institution_id == institution_id)
    )
    if existing is not None:
        return False
    async with counters.recounting(session, [person_id], now):
        session.add(
            Membership(
                person_id=person_id, institution_id=institution_id, role=role, created_at=now
            )
        )
    return True


async def remove_membership(
    session: AsyncSession, person_id: int, institution_id: int, *, now: datetime
) -> bool:
    """The person leaves the institution (False: they were not in it)."""
    async with counters.recounting(session, [person_id], now):
        result = await session.execute(
            delete(Membership)
            .where(Membership.person_id == person_id)
            .where(Membership.institution_id == institution_id)
        )
    return bool(getattr(result, "rowcount", 0))
