"""Young people: a person marked under 16, or given a date of birth that makes them under 16,
is never messaged directly until a named adult (a parent, carer or teacher) has consented, with
who and when recorded. scheduler/outbound.py (``held_back``) is where every send path asks.

    mark(person, today=now.date())             # or born=date(2012, 5, 1)
    adult_consent(person, name="Grace Obi", relation="parent", at=now)
"""

from __future__ import annotations

from datetime import date, datetime

from storage.models import ADULT_RELATIONS, Person

AGE = 16


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_young(person: Person, now: datetime) -> bool:
    """Marked under 16, or under 16 by their date of birth (a birthday lifts it by itself)."""
    if person.born_on is not None:
        return age_on(person.born_on, now.date()) < AGE
    return bool(person.under_16)


def needs_adult(person: Person, now: datetime) -> bool:
    """Young, and no adult has consented yet: nothing may be sent to them directly."""
    return is_young(person, now) and person.adult_consent_at is None


def mark(person: Person, *, today: date, under_16: bool = True, born: date | None = None) -> None:
    """Mark (or, with ``under_16=False`` and no date, unmark) a young person."""
    if born is not None and not date(1900, 1, 1) <= born <= today:
        raise ValueError("that date of birth is not possible")
    person.under_16 = under_16 or born is not None
    person.born_on = born


def adult_consent(person: Person, *, name: str, relation: str, at: datetime) -> None:
    """A named adult has consented to the young person being messaged directly."""
    if relation not in ADULT_RELATIONS:
        raise ValueError(f"the adult must be one of: {', '.join(ADULT_RELATIONS)}")
    if not name.strip():
        raise ValueError("name the adult who consented")
    person.adult_name = name.strip()[:200]
    person.adult_relation = relation
    person.adult_consent_at = at


def withdraw_adult_consent(person: Person) -> None:
    person.adult_name = None
    person.adult_relation = None
    person.adult_consent_at = None


def describe(person: Person, now: datetime) -> str:
    """The mark as a console or CLI shows it ("" when there is none)."""
    if not is_young(person, now):
        return ""
    if person.adult_consent_at is None:
        return "under 16: no adult consent yet (not messaged)"
    return (
        f"under 16: {person.adult_relation} {person.adult_name} consented "
        f"{person.adult_consent_at:%Y-%m-%d}"
    )
