"""Consent: every change is an event (``consent_events``), and ``people.consent`` is the
current state, kept in step here so reads stay one column.

    change(session, person, "opted_out", source="stop_word", channel="sms", words="STOP", at=now)

:func:`change` is the one way consent changes (STOP and START, the carrier's 21610, an import,
a new number texting in, an organiser, a Telegram link, an erasure); :func:`first` gives a new
person their first event; :func:`history` reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CONSENT_SOURCES, CONSENT_STATES, ConsentEvent, Person


def _event(
    state: str, source: str, channel: str | None, words: str | None, at: datetime
) -> ConsentEvent:
    if state not in CONSENT_STATES:
        raise ValueError(f"unknown consent state {state!r}")
    if source not in CONSENT_SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    return ConsentEvent(state=state, source=source, channel=channel, words=words, at=at)


def first(
    person: Person,
    state: str,
    *,
    source: str,
    at: datetime,
    channel: str | None = None,
    words: str | None = None,
) -> None:
    """A new (not yet flushed) person's consent and its first event, added with them."""
    person.consent = state
    person.consent_source = source
    person.consent_at = at
    person.consent_events = [_event(state, source, channel, words, at)]


def change(
    session: AsyncSession,
    person: Person,
    state: str,
    *,
    source: str,
    at: datetime,
    channel: str | None = None,
    words: str | None = None,
) -> bool:
    """Record a change of ``person``'s consent (nothing if it is already ``state``).
    True if it changed."""
    if person.consent == state:
        return False
    event = _event(state, source, channel, words, at)
    person.consent = state
    person.consent_source = source
    person.consent_at = at
    if inspect(person).key is None:  # not flushed yet: the event goes in with the person
        person.consent_events.append(event)
    else:
        event.person_id = person.id
        session.add(event)
    return True


async def history(session: AsyncSession, person_id: int) -> list[ConsentEvent]:
    """The person's consent events, oldest first."""
    query = (
        select(ConsentEvent)
        .where(ConsentEvent.person_id == person_id)
        .order_by(ConsentEvent.at, ConsentEvent.id)
    )
    return list(await session.scalars(query))


async def adopt(session: AsyncSession, *, source: Person, target: Person) -> None:
    """Two records turned out to be one person (storage.telegram.merge_people): ``source``'s
    history moves to ``target``, and the stricter current state wins."""
    await session.execute(
        update(ConsentEvent).where(ConsentEvent.person_id == source.id).values(person_id=target.id)
    )
    if source.opted_out and not target.opted_out:
        target.consent = source.consent
        target.consent_source = source.consent_source
        target.consent_at = source.consent_at


async def imported(
    session: AsyncSession, person_ids: list[int], state: str, *, at: datetime
) -> None:
    """The first events of people an import created in bulk (their rows already carry
    ``state``, source "import": storage.importer inserts new_person's columns)."""
    if person_ids:
        event = _event(state, "import", None, None, at)
        rows = [
            {"person_id": pid, "state": event.state, "source": event.source, "at": at}
            for pid in person_ids
        ]
        await session.execute(insert(ConsentEvent), rows)
