"""The audit log: one way in, reads newest first, no message text or phone numbers in it, and
on PostgreSQL a trigger that refuses any change but the erasure of an actor."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from config.clock import FakeClock
from storage.audit import Actor, entries, record
from storage.db import Database
from storage.models import AuditEntry, Person
from tests import factories as f


async def test_entries_are_read_newest_first_and_narrowed(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        ruth = await f.person(s, "Ruth Adeyemi", 11, now)
        await record(s, Actor.operator(), "organiser_added", "person", ruth.id, at=now)
        await record(
            s,
            Actor.of(ruth, "web"),
            "sign_in_succeeded",
            "console_session",
            1,
            at=now,
            details={"method": "code"},
        )
    async with db.session() as s:
        newest, oldest = await entries(s)
        assert (newest.action, newest.actor_person_id, newest.actor_label, newest.via) == (
            "sign_in_succeeded",
            ruth.id,
            "Ruth Adeyemi",
            "web",
        )
        assert newest.details == {"method": "code"} and newest.at == now
        assert (oldest.actor_person_id, oldest.actor_label, oldest.via) == (
            None,
            "operator (command line)",
            "cli",
        )
        assert [e.id for e in await entries(s, subject_type="person")] == [oldest.id]
        assert [e.id for e in await entries(s, actor_person_id=ruth.id)] == [newest.id]
        assert [e.id for e in await entries(s, before_id=newest.id)] == [oldest.id]


@pytest.mark.parametrize(
    "details",
    [
        {"to": "+447700900123"},
        {"numbers": ["07700 900123"]},
        {"text": "The damp in our flat is making the kids ill and the council will not come"},
        {"nested": {"a": 1}},
    ],
)
async def test_details_never_hold_phone_numbers_or_message_text(
    db: Database, clock: FakeClock, details: dict[str, object]
) -> None:
    async with db.session() as s:
        with pytest.raises(ValueError, match="audit detail"):
            await record(s, Actor.operator(), "x", "person", 1, at=clock.now(), details=details)


async def test_an_unknown_door_is_refused(db: Database, clock: FakeClock) -> None:
    async with db.session() as s:
        with pytest.raises(ValueError, match="door"):
            await record(s, Actor("fax", "someone"), "x", "person", 1, at=clock.now())


async def test_postgresql_refuses_updates_and_deletes_but_lets_an_actor_be_erased(
    db: Database, clock: FakeClock
) -> None:
    if db.is_sqlite:
        pytest.skip("the append-only trigger is PostgreSQL's")
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, clock.now())
        entry = await record(
            s, Actor.of(ann, "web"), "signed_out", "console_session", 3, at=clock.now()
        )
    for statement in (
        update(AuditEntry).where(AuditEntry.id == entry.id).values(action="nothing"),
        delete(AuditEntry).where(AuditEntry.id == entry.id),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.session() as s:
                await s.execute(statement)
    async with db.session() as s:
        await s.execute(delete(Person).where(Person.id == ann.id))
    async with db.session() as s:
        (kept,) = await entries(s)
        assert (kept.actor_person_id, kept.action) == (None, "signed_out")
        assert await s.scalar(text("SELECT count(*) FROM audit_log")) == 1
