"""Small builders for test data (realistic names; phones in Ofcom's 07700 900xxx drama range)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action, Institution, Invitation, Membership, Person


def phone(n: int) -> str:
    return f"+447700900{n:03d}"


async def institution(
    session: AsyncSession, name: str, now: datetime, kind: str = "faith"
) -> Institution:
    inst = Institution(name=name, kind=kind, status="member", created_at=now)
    session.add(inst)
    await session.flush()
    return inst


async def person(
    session: AsyncSession,
    name: str,
    n: int,
    now: datetime,
    *,
    institution: Institution | None = None,
    role: str = "member",
    language: str = "en",
    timezone: str = "Europe/London",
    introduced: bool = True,
) -> Person:
    p = Person(
        name=name,
        phone=phone(n),
        phone_status="ok",
        language=language,
        timezone=timezone,
        consent="opted_in",
        consent_source="import",
        consent_at=now,
        telegram_status="ok",
        introduced_at=now if introduced else None,
        created_at=now,
    )
    session.add(p)
    await session.flush()
    if institution is not None:
        session.add(
            Membership(person_id=p.id, institution_id=institution.id, role=role, created_at=now)
        )
        await session.flush()
    return p


async def action(
    session: AsyncSession,
    now: datetime,
    *,
    slug: str = "assembly",
    title: str = "Accountability Assembly",
    starts_in: timedelta = timedelta(days=7),
    hours: float = 2,
    place: str = "De Montfort Hall",
) -> Action:
    starts = now + starts_in
    a = Action(
        slug=slug,
        title=title,
        kind="assembly",
        starts_at=starts,
        ends_at=starts + timedelta(hours=hours),
        place=place,
        bring="",
        status="scheduled",
        revision=0,
        created_at=now,
        updated_at=now,
    )
    session.add(a)
    await session.flush()
    return a


async def invite(session: AsyncSession, a: Action, p: Person, now: datetime) -> Invitation:
    inv = Invitation(action_id=a.id, person_id=p.id, invited_at=now, guests=0)
    session.add(inv)
    await session.flush()
    return inv
