"""Door check-in (bot/web/door.py, scheduler/door.py): a steward finds a name and taps Here; a
walk-in is recorded and checked in; a number already on record is that person (nobody is
created twice); bad input is a 400 with the form kept; every change is audited; the boards'
counters follow."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from config.clock import FakeClock
from config.settings import Settings
from storage import counters
from storage.db import Database
from storage.models import Attendance, AuditEntry, Membership, Person
from tests import factories as f
from tests.console import Browser
from tests.test_board import Assembly, assembly, make_link


async def arrived(db: Database, a: Assembly) -> tuple[int, int, int]:
    """Arrived in total, at St Mary's and in no institution (from the counters, as the board)."""
    async with db.session() as s:
        assert await counters.drift(s, a.action) == []
        rollup = await counters.counted_rollup(s, a.action)
        return (
            rollup.totals.arrived,
            rollup.row_for(a.people.mary.id).arrived,
            rollup.no_institution.arrived,
        )


async def people_count(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Person)) or 0)


async def test_a_steward_finds_a_name_and_taps_here(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    token = await make_link(db, a.action, "steward", clock)
    steward = Browser(web, console_settings)
    page = await steward.get(f"/steward/{token}/door?q=GRACE")
    assert "Grace Okafor" in page.text and "<strong>Here</strong>" in page.text  # already
    page = await steward.get(f"/steward/{token}/door?q=ann")
    assert "Ann Patel" in page.text and "St Mary&#39;s Church" in page.text
    assert "+44" not in page.text and "07700" not in page.text
    assert await arrived(db, a) == (5, 1, 0)
    page = await steward.post(f"/steward/{token}/door/here", {"person": str(a.people.ann.id)})
    assert page.status == 200 and "Ann Patel is checked in." in page.text
    assert await arrived(db, a) == (6, 2, 0)
    page = await steward.post(f"/steward/{token}/door/here", {"person": str(a.people.ann.id)})
    assert "Ann Patel was already checked in." in page.text
    assert await arrived(db, a) == (6, 2, 0)
    for bad in ("", "x", "99999", "1" * 20, "١"):
        page = await steward.post(f"/steward/{token}/door/here", {"person": bad})
        assert page.status == 400, bad
        await steward.get(f"/steward/{token}/door")
    page = await steward.get(f"/steward/{token}/door?q=nobody-by-this-name")
    assert "Nobody called" in page.text
    async with db.session() as s:
        entries = list(await s.scalars(select(AuditEntry).where(AuditEntry.action.like("door%"))))
    assert [(e.action, e.subject_id) for e in entries] == [("door_checked_in", a.people.ann.id)]
    assert entries[0].actor_label.startswith("steward link #")


async def test_a_walk_in_whose_number_is_known_is_that_person(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    token = await make_link(db, a.action, "steward", clock)
    steward = Browser(web, console_settings)
    before = await people_count(db)
    await steward.get(f"/steward/{token}/door")
    page = await steward.post(
        f"/steward/{token}/door/walk-in",
        {
            "name": "Mo Khan",
            "institution": str(a.people.mary.id),
            "phone": "07700 900002",  # Mohammed Khan's, of Al-Noor
            "consent": "yes",
            "language": "en",
        },
    )
    assert page.status == 200, page.text
    assert "Mohammed Khan was already on record" in page.text
    assert await people_count(db) == before
    async with db.session() as s:
        here = await s.scalar(select(Attendance).where(Attendance.person_id == a.people.mo.id))
        assert here is not None and here.source == "door"
        homes = set(
            await s.scalars(
                select(Membership.institution_id).where(Membership.person_id == a.people.mo.id)
            )
        )
        assert homes == {a.people.noor.id, a.people.mary.id}
        mo = await s.get_one(Person, a.people.mo.id)
        assert mo.name == "Mohammed Khan"  # the name on record stands
    # Counted in both his institutions, as the rollup counts him.
    assert await arrived(db, a) == (6, 2, 0)


async def test_a_new_walk_in_is_recorded_and_checked_in(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    token = await make_link(db, a.action, "steward", clock)
    steward = Browser(web, console_settings)
    before = await people_count(db)
    await steward.get(f"/steward/{token}/door")
    page = await steward.post(
        f"/steward/{token}/door/walk-in",
        {"name": "  Kemi   Adebayo ", "institution": "none", "phone": "", "language": "cy"},
    )
    assert "Kemi Adebayo is recorded and checked in." in page.text
    assert await arrived(db, a) == (6, 1, 1)
    await steward.get(f"/steward/{token}/door")
    page = await steward.post(
        f"/steward/{token}/door/walk-in",
        {
            "name": "Sam Lee",
            "institution": str(a.people.mary.id),
            "phone": "07700 900050",
            "consent": "yes",
            "language": "pl",
        },
    )
    assert "Sam Lee is recorded and checked in." in page.text
    assert await people_count(db) == before + 2
    async with db.session() as s:
        kemi = await s.scalar(select(Person).where(Person.name == "Kemi Adebayo"))
        sam = await s.scalar(select(Person).where(Person.phone == f.phone(50)))
        assert kemi is not None and kemi.phone is None and kemi.language == "cy"
        assert sam is not None and sam.consent == "opted_in" and sam.consent_source == "door"
        assert sam.language == "pl"
        actions = list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["door_walk_in", "door_walk_in"]
    assert await arrived(db, a) == (7, 2, 1)


async def test_bad_walk_in_input_is_a_400_with_the_form_kept(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    token = await make_link(db, a.action, "steward", clock)
    steward = Browser(web, console_settings)
    before = await people_count(db)
    cases = [
        ({"name": "", "institution": "none", "language": "en"}, "Enter their name"),
        (
            {"name": "Jo", "phone": "07700 900060", "institution": "none", "language": "en"},
            "Tick the box if they agree",
        ),
        ({"name": "Jo", "phone": "12", "institution": "none", "language": "en"}, "mobile number"),
        ({"name": "Jo", "institution": "abc", "language": "en"}, "Choose an institution"),
        ({"name": "Jo", "institution": "99999", "language": "en"}, "Choose an institution"),
        ({"name": "Jo", "institution": "none", "language": "xx"}, "Choose a language"),
    ]
    for form, message in cases:
        await steward.get(f"/steward/{token}/door")
        page = await steward.post(f"/steward/{token}/door/walk-in", form)
        assert page.status == 400, form
        assert message in page.text and "There is a problem" in page.text
        if form["name"]:
            assert 'value="Jo"' in page.text
    assert await people_count(db) == before
    page = await steward.post(f"/steward/{token}/door/walk-in", {"name": "Jo"}, csrf="forged")
    assert page.status == 403


async def test_an_organiser_checks_in_from_the_console(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    organiser = Browser(web, console_settings)
    await organiser.sign_in(db, "07700 900011")
    page = await organiser.get(f"/actions/{a.action.slug}/door?q=ann")
    assert page.status == 200 and "Ann Patel" in page.text
    page = await organiser.post(
        f"/actions/{a.action.slug}/door/here", {"person": str(a.people.ann.id)}
    )
    assert "Ann Patel is checked in." in page.text
    async with db.session() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "door_checked_in"))
        assert entry is not None and entry.actor_person_id == a.people.ruth.id
    assert (await organiser.get("/actions/no-such/door")).status == 404


async def test_a_leader_may_not_use_the_console_door(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    leader = Browser(web, console_settings)
    await leader.sign_in(db, "07700 900001")
    assert (await leader.get(f"/actions/{a.action.slug}/door")).status == 403
