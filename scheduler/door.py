"""Door check-in, the use case behind a steward's phone (or a signed-in organiser): someone
found by name is checked in; a walk-in is recorded (name, institution or none, an optional
phone number with their consent to texts, language) and checked in. A number already on
record is that person: nobody is created twice. Every change is in the audit log, with the
door it came through (a steward link, an organiser).

Checking in is scheduler.actions.check_in (the counters follow); joining an institution is
storage.people.add_membership (the counters follow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from config.phones import BadPhone, normalise_phone
from config.settings import LANGUAGES, Settings
from scheduler.actions import check_in
from storage import audit, consent
from storage.models import Action, Institution, Person
from storage.people import add_membership, new_person, person_by_phone

MAX_NAME = 200


class DoorError(ValueError):
    """The walk-in cannot be recorded as given: ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass
class WalkIn:
    name: str = ""
    institution_id: int | None = None
    phone: str = ""
    consent: bool = False
    language: str = "en"


@dataclass
class DoorResult:
    person: Person
    checked_in: bool  # False: they were already
    merged: bool = False  # the number was already someone's: that person was used
    notes: list[str] = field(default_factory=list)


def _open(action: Action) -> None:
    if action.status != "scheduled":
        raise DoorError({"action": f"{action.title} is {action.status}: nobody can check in"})


async def person_here(
    session: AsyncSession, action: Action, person_id: int, *, actor: audit.Actor, now: datetime
) -> DoorResult | None:
    """Check in someone found at the door (None: no such person)."""
    _open(action)
    person = await session.get(Person, person_id)
    if person is None:
        return None
    done = await check_in(session, action.id, person.id, source="door", now=now)
    if done:
        await audit.record(
            session,
            actor,
            "door_checked_in",
            "person",
            person.id,
            at=now,
            details={"action": action.slug, "walk_in": False},
        )
    return DoorResult(person, done)


async def walk_in(
    session: AsyncSession,
    action: Action,
    given: WalkIn,
    *,
    settings: Settings,
    actor: audit.Actor,
    now: datetime,
) -> DoorResult:
    """Record a walk-in and check them in (see the module docstring)."""
    _open(action)
    errors: dict[str, str] = {}
    name = " ".join(given.name.split())
    if not name:
        errors["name"] = "Enter their name"
    elif len(name) > MAX_NAME:
        errors["name"] = f"Keep the name to {MAX_NAME} characters"
    phone: str | None = None
    if given.phone.strip():
        try:
            phone = normalise_phone(given.phone, settings.default_region)
        except BadPhone:
            errors["phone"] = "Enter a mobile number like 07700 900123, or leave it empty"
        else:
            if not given.consent:
                errors["consent"] = (
                    "Tick the box if they agree to texts about actions, or leave the number out"
                )
    if given.language not in LANGUAGES:
        errors["language"] = "Choose a language"
    if (
        given.institution_id is not None
        and await session.get(Institution, given.institution_id) is None
    ):
        errors["institution"] = "Choose an institution from the list, or none"
    if errors:
        raise DoorError(errors)
    person = None if phone is None else await person_by_phone(session, phone)
    merged = person is not None
    notes: list[str] = []
    if person is None:
        person = new_person(
            phone=phone,
            name=name,
            language=given.language,
            timezone=settings.default_timezone,
            consent="opted_in" if phone else "unknown",
            consent_source="door",
            now=now,
        )
        session.add(person)
        await session.flush()
    else:
        if not person.name.strip():
            person.name = name
        if person.opted_out:
            # STOP stands until they text START themselves: a tick at the door does not undo it.
            notes.append("They opted out of texts earlier: they get none until they text START.")
        elif person.consent != "opted_in":
            consent.change(session, person, "opted_in", source="door", channel="web", at=now)
    if given.institution_id is not None:
        await add_membership(session, person.id, given.institution_id, role="member", now=now)
    done = await check_in(session, action.id, person.id, source="door", now=now)
    await audit.record(
        session,
        actor,
        "door_walk_in",
        "person",
        person.id,
        at=now,
        details={
            "action": action.slug,
            "walk_in": True,
            "merged": merged,
            "checked_in": done,
            "institution_id": given.institution_id,
            "with_phone": phone is not None,
        },
    )
    return DoorResult(person, done, merged, notes)
