"""People: search and filters, a person's timeline, editing, the CSV export; a leader's scope
(only their institutions' people, never a phone number); audit entries; bad input is a 400."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.models import InboundMessage, Invitation, Membership, OutboxMessage, Person, RsvpEvent
from tests import factories as f
from tests.console import numbers, signed_in

ORGANISER, ANN = "07700 900011", "07700 900001"


async def test_an_organiser_finds_people_by_name_and_number_with_their_numbers_shown(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get("/people")
    assert page.status == 200
    for name in ("Ann Patel", "Grace Okafor", "Fatima Hussain", "Mohammed Khan", "Tom Hughes"):
        assert name in page.text
    assert "+447700900005" in page.text
    page = await browser.get("/people?q=grace")
    assert "Grace Okafor" in page.text and "Ann Patel" not in page.text
    assert "1 person" in page.text
    page = await browser.get("/people?q=07700+900002")  # Mo, by number
    assert "Mohammed Khan" in page.text and "Grace Okafor" not in page.text


async def test_filters_by_institution_language_consent_and_reply_state(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        mo = await s.get_one(Person, people.mo.id)
        mo.language, mo.consent = "pl", "opted_out"
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get(f"/people?institution={people.noor.id}")
    assert "Fatima Hussain" in page.text and "Mohammed Khan" in page.text
    assert "Grace Okafor" not in page.text
    page = await browser.get("/people?language=pl&consent=opted_out")
    assert "Mohammed Khan" in page.text and "Fatima" not in page.text
    assert "Opted out (STOP)" in page.text
    page = await browser.get("/people")
    action_id = page.text.split('name="action"')[1].split('<option value="')[2].split('"')[0]
    page = await browser.get(f"/people?action={action_id}&reply=waiting")
    for name in ("Ann Patel", "Fatima Hussain", "Mohammed Khan"):
        assert name in page.text
    assert "Grace Okafor" not in page.text and "Tom Hughes" not in page.text
    page = await browser.get(f"/people?action={action_id}&reply=yes")
    assert "Grace Okafor" in page.text and "Ann Patel" not in page.text
    page = await browser.get(f"/people?action={action_id}&reply=not_invited")
    assert "Ruth Adeyemi" in page.text and "Grace Okafor" not in page.text


async def test_people_are_paginated(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    async with db.session() as s:
        for n in range(60):
            await f.person(s, f"Zed Person {n:02d}", 100 + n, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get("/people")
    assert "66 people" in page.text and "page 1 of 2" in page.text
    assert (
        "Zed Person 43" in page.text
        and "Zed Person 44" not in page.text
        and "Next page" in page.text
    )
    page = await browser.get("/people?page=2")
    assert "Zed Person 59" in page.text and "Previous page" in page.text


async def test_a_leader_sees_only_their_institutions_people_and_no_numbers(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ANN)
    page = await browser.get("/people")
    assert page.status == 200
    assert "Grace Okafor" in page.text and "Ann Patel" in page.text
    for other in ("Mohammed", "Fatima", "Tom Hughes", "Ruth", "Al-Noor"):
        assert other not in page.text
    assert "+44" not in page.text and "07700" not in page.text
    assert "Import people" not in page.text
    page = await browser.get("/people?q=07700900005")  # Grace's number: no hit for a leader
    assert "Grace Okafor" not in page.text
    page = await browser.get(f"/people/{people.mo.id}")
    assert page.status == 404 and "Mohammed" not in page.text
    page = await browser.get(f"/people/{people.grace.id}")
    assert page.status == 200 and "Grace Okafor" in page.text
    assert "+44" not in page.text and "07700" not in page.text
    page = await browser.get(f"/people?institution={people.noor.id}")
    assert page.status == 400
    async with web.get("/people/export.csv") as resp:
        body = await resp.text()
    assert body.splitlines()[0] == "name,language,consent,institutions"
    assert "Grace Okafor" in body and "Mohammed" not in body and "+44" not in body


async def test_a_persons_timeline_shows_texts_with_status_rsvps_and_is_audited(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    now = clock.now()
    async with db.session() as s:
        s.add(
            OutboxMessage(
                dedupe_key="t:1",
                channel="sms",
                person_id=people.mo.id,
                to_address=f.phone(2),
                body="Will you come to the assembly?",
                status="failed",
                error_code="21610",
                error_message="unsubscribed",
                not_before=now - timedelta(hours=3),
                created_at=now - timedelta(hours=3),
                updated_at=now,
            )
        )
        s.add(
            OutboxMessage(
                dedupe_key="signin:9",
                channel="sms",
                person_id=people.mo.id,
                to_address=f.phone(2),
                body="Your code is 123456",
                template="signin_code",
                status="sent",
                not_before=now,
                created_at=now,
                updated_at=now,
            )
        )
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get(f"/people/{people.mo.id}")
    assert page.status == 200
    html = page.text
    assert "Mohammed Khan" in html and "+447700900002" in html
    assert "The damp in our flat is making the kids ill" in html and "In the inbox" in html
    assert "Will you come to the assembly?" in html and "Failed" in html and "21610" in html
    assert "Invited to Accountability Assembly" in html
    assert "123456" not in html and "sign-in code (not shown)" in html
    assert "1 open text in the inbox" in html
    assert html.index("sign-in code") < html.index("The damp")  # newest first
    async with db.session() as s:
        seen = await entries(s, action="person_viewed")
    assert [(e.subject_id, e.actor_label) for e in seen] == [(people.mo.id, "Ruth Adeyemi")]


async def test_an_rsvp_shows_on_the_timeline(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        inv = await s.scalar(select(Invitation).where(Invitation.person_id == people.grace.id))
        assert inv is not None
        s.add(
            RsvpEvent(invitation_id=inv.id, response="yes", guests=2, channel="sms", at=clock.now())
        )
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get(f"/people/{people.grace.id}")
    assert "RSVP yes to Accountability Assembly, bringing 2 more" in page.text


async def test_editing_a_person_saves_through_the_use_case_and_is_audited(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get(f"/people/{people.mo.id}/edit")
    assert page.status == 200 and 'value="Mohammed Khan"' in page.text
    page = await browser.post(
        f"/people/{people.mo.id}/edit",
        {"name": "  Mohammed   Ali Khan ", "language": "cy", "institution": str(people.mary.id)},
    )
    assert page.status == 200 and "Saved." in page.text
    async with db.session() as s:
        mo = await s.get_one(Person, people.mo.id)
        held = set(
            await s.scalars(select(Membership.institution_id).where(Membership.person_id == mo.id))
        )
        edits = await entries(s, action="person_edited")
    assert (mo.name, mo.language, held) == ("Mohammed Ali Khan", "cy", {people.mary.id})
    assert edits[0].subject_id == mo.id
    assert edits[0].details == {
        "fields": ["name", "language", "institutions"],
        "added": [people.mary.id],
        "removed": [people.noor.id],
    }


async def test_a_bad_edit_is_refused_with_the_reason_and_nothing_changes(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    await browser.get(f"/people/{people.mo.id}/edit")
    page = await browser.post(f"/people/{people.mo.id}/edit", {"name": " ", "language": "xx"})
    assert page.status == 400
    assert "Enter the person&#39;s name" in page.text
    assert "Choose a language from the list" in page.text
    page = await browser.post(
        f"/people/{people.mo.id}/edit", {"name": "Mo", "language": "en", "institution": "x1"}
    )
    assert page.status == 400
    page = await browser.post(
        f"/people/{people.mo.id}/edit", {"name": "Mo", "language": "en"}, csrf="forged"
    )
    assert page.status == 403
    async with db.session() as s:
        assert (await s.get_one(Person, people.mo.id)).name == "Mohammed Khan"
        assert await entries(s, action="person_edited") == []


async def test_a_leader_edits_only_their_own_institutions_memberships(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:  # Grace is in both St Mary's and Al-Noor
        s.add(
            Membership(
                person_id=people.grace.id,
                institution_id=people.noor.id,
                role="member",
                created_at=clock.now(),
            )
        )
    browser = await signed_in(web, console_settings, db, ANN)
    page = await browser.get(f"/people/{people.grace.id}/edit")
    assert "Al-Noor" not in page.text
    page = await browser.post(
        f"/people/{people.grace.id}/edit",
        {"name": "Grace Okafor", "language": "en", "institution": str(people.noor.id)},
    )
    assert page.status == 400 and "Choose institutions from the list" in page.text
    page = await browser.post(f"/people/{people.mo.id}/edit", {"name": "X", "language": "en"})
    assert page.status == 404
    async with db.session() as s:
        assert (await s.get_one(Person, people.mo.id)).name == "Mohammed Khan"
        held = set(
            await s.scalars(
                select(Membership.institution_id).where(Membership.person_id == people.grace.id)
            )
        )
    assert held == {people.mary.id, people.noor.id}


async def test_the_export_is_formula_safe_filtered_and_audited(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        (await s.get_one(Person, people.mo.id)).name = "=HYPERLINK(1)"
    await signed_in(web, console_settings, db, ORGANISER)
    async with web.get("/people/export.csv") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in resp.headers["Content-Disposition"]
        body = await resp.text()
    lines = body.splitlines()
    assert lines[0] == "name,phone,language,consent,institutions"
    assert "'=HYPERLINK(1),'+447700900002,en,opted_in,Al-Noor Mosque" in lines
    assert len(lines) == 7
    async with web.get(f"/people/export.csv?institution={people.mary.id}") as resp:
        body = await resp.text()
    assert len(body.splitlines()) == 3
    async with db.session() as s:
        exported = await entries(s, action="people_exported")
    assert [e.details["rows"] for e in exported] == [2, 6]


async def test_bad_parameters_are_a_400_never_a_500(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    for query in (
        "page=abc",
        "page=%C2%B2",
        "institution=-1",
        "language=xx",
        "consent=maybe",
        "reply=yes",
        "action=1&reply=perhaps",
        "q=" + "a" * 300,
    ):
        page = await browser.get("/people?" + query)
        assert page.status == 400, query
        assert "Nothing was changed" in page.text
    assert (await browser.get("/people/99999")).status == 404
    assert (await browser.get("/people/99999/edit")).status == 404


async def test_a_number_inside_a_text_is_hidden_from_a_leader_not_an_organiser(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        s.add(
            InboundMessage(
                channel="sms",
                provider="sandbox",
                provider_id="SMnumber",
                sender=f.phone(5),
                body="Please call my son on 07700 900777 instead",
                person_id=people.grace.id,
                received_at=clock.now(),
                inbox_status="open",
            )
        )
    browser = await signed_in(web, console_settings, db, ANN)
    for path in (f"/people/{people.grace.id}", "/inbox"):
        page = await browser.get(path)
        assert "Please call my son on [number hidden] instead" in page.text, path
        assert "900777" not in page.text
    web.session.cookie_jar.clear()
    await browser.sign_in(db, ORGANISER)
    page = await browser.get(f"/people/{people.grace.id}")
    assert "Please call my son on 07700 900777 instead" in page.text


async def test_ids_past_what_a_column_holds_are_not_found_never_a_database_error(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    huge = "99999999999"
    for path in (f"/people/{huge}", f"/people/{huge}/edit", f"/inbox/{huge}"):
        assert (await browser.get(path)).status == 404, path
    await browser.get("/people")
    page = await browser.post(f"/inbox/{huge}/done")
    assert page.status == 404
    for query in (f"institution={huge}", f"action={huge}&reply=yes"):
        assert (await browser.get("/people?" + query)).status == 400, query
