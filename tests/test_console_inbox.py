"""The inbox: conversations by person, newest first, with Today's open count; a reply through
the outbox under the outbound policy (STOP, quiet hours, never twice); mark done; assign to a
leader; attach to a listening question; a leader's scope; audit; CSRF."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.listening import create_campaign
from storage.listening_themes import load_theme_specs
from storage.models import (
    InboundMessage,
    InboxAssignment,
    ListeningAnswer,
    OutboxMessage,
    Person,
)
from tests.console import Alliance, Browser, numbers, signed_in

ORGANISER, ANN = "07700 900011", "07700 900001"


async def message_of(db: Database, person_id: int | None) -> int:
    async with db.session() as s:
        found = await s.scalar(
            select(InboundMessage.id).where(
                InboundMessage.person_id == person_id
                if person_id is not None
                else InboundMessage.person_id.is_(None)
            )
        )
    assert found is not None
    return found


async def at_graces_text(
    web: TestClient[Any, Any], db: Database, settings: Settings, clock: FakeClock
) -> tuple[Alliance, int, Browser]:
    """The console's people (tests.console.numbers), Grace's text, an organiser signed in."""
    people = await numbers(db, clock.now())
    grace = await message_of(db, people.grace.id)
    return people, grace, await signed_in(web, settings, db, ORGANISER)


def open_count(html: str) -> int:
    found = re.search(r"<h1>Inbox <span class=\"h1__sub\">(\d+) open</span>", html)
    assert found, html
    return int(found.group(1))


async def replies(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.template == "console_reply")
                .order_by(OutboxMessage.id)
            )
        )


async def test_an_organiser_sees_every_conversation_and_todays_count(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = Browser(web, console_settings)
    today = await browser.sign_in(db, ORGANISER)
    assert "<dt>Open in the inbox</dt>\n" in today.text or "Open in the inbox" in today.text
    page = await browser.get("/inbox")
    assert page.status == 200
    assert open_count(page.text) == 3
    for name in ("Grace Okafor", "Mohammed Khan", "Unknown sender"):
        assert name in page.text
    assert "The damp in our flat" in page.text
    stranger = await message_of(db, None)
    page = await browser.get(f"/inbox/{stranger}")
    assert page.status == 200 and "From +447700900999, not anyone on record" in page.text
    assert "Send reply" not in page.text  # nobody on record to reply to


async def test_a_leader_sees_only_their_peoples_texts_and_no_numbers(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ANN)
    page = await browser.get("/inbox")
    assert open_count(page.text) == 1
    assert "Grace Okafor" in page.text
    assert "Mohammed" not in page.text and "Unknown sender" not in page.text
    assert (await browser.get(f"/inbox/{await message_of(db, people.mo.id)}")).status == 404
    assert (await browser.get(f"/inbox/{await message_of(db, None)}")).status == 404
    page = await browser.get(f"/inbox/{await message_of(db, people.grace.id)}")
    assert page.status == 200 and "+44" not in page.text and "07700" not in page.text
    mo = await message_of(db, people.mo.id)
    assert (await browser.post(f"/inbox/{mo}/done")).status == 404
    assert (await browser.post(f"/inbox/{mo}/reply", {"reply": "Hi"})).status == 404


async def test_a_reply_goes_through_the_outbox_once_and_is_audited(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    _people, grace, browser = await at_graces_text(web, db, console_settings, clock)
    await browser.get(f"/inbox/{grace}")
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "Sorry to hear. Can we call?"})
    assert page.status == 200 and "goes out now" in page.text
    assert "Sorry to hear. Can we call?" in page.text  # in the thread
    rows = await replies(db)
    assert [(r.body, r.kind, r.channel, r.status, r.in_reply_to_id) for r in rows] == [
        ("Sorry to hear. Can we call?", "reply", "sms", "queued", grace)
    ]
    assert rows[0].to_address == "+447700900005" and rows[0].not_before == clock.now()
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "Sorry to hear. Can we call?"})
    assert "already sent to this text" in page.text
    assert len(await replies(db)) == 1
    async with db.session() as s:
        audited = await entries(s, action="inbox_replied")
    assert [(e.subject_id, e.details["channel"], e.details["held"]) for e in audited] == [
        (grace, "sms", False)
    ]
    assert "Sorry" not in str(audited[0].details)


async def test_a_reply_in_quiet_hours_waits_for_the_morning(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    _people, grace, browser = await at_graces_text(web, db, console_settings, clock)
    clock.advance(hours=12)  # 22:00 in London
    await browser.get(f"/inbox/{grace}")
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "We will call tomorrow."})
    assert "waits until 09:00 their time" in page.text
    (row,) = await replies(db)
    assert row.not_before == clock.now() + timedelta(hours=11)


async def test_no_reply_to_someone_who_said_stop_and_none_empty_or_too_long(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, grace, browser = await at_graces_text(web, db, console_settings, clock)
    await browser.get(f"/inbox/{grace}")
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "   "})
    assert page.status == 400 and "Write a reply" in page.text
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "x" * 700})
    assert page.status == 400 and "612 characters or fewer" in page.text
    assert "x" * 700 in page.text  # what was typed is kept
    async with db.session() as s:
        (await s.get_one(Person, people.grace.id)).consent = "opted_out"
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "Hello"})
    assert page.status == 400 and "They replied STOP" in page.text
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "Hello"}, csrf="forged")
    assert page.status == 403
    assert await replies(db) == []


async def test_mark_done_empties_the_conversation_and_todays_count_follows(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    _people, grace, browser = await at_graces_text(web, db, console_settings, clock)
    await browser.get(f"/inbox/{grace}")
    page = await browser.post(f"/inbox/{grace}/done")
    assert page.status == 200 and "Marked 1 text done." in page.text
    assert open_count(page.text) == 2 and "Grace Okafor" not in page.text
    today = await browser.get("/")
    assert re.search(r"<dt>Open in the inbox</dt>\s*<dd>2</dd>", today.text)
    async with db.session() as s:
        assert (await s.get_one(InboundMessage, grace)).inbox_status == "done"
        assert [e.subject_id for e in await entries(s, action="inbox_done")] == [grace]
    page = await browser.get(f"/inbox/{grace}")
    page = await browser.post(f"/inbox/{grace}/reopen")
    assert "Back in the inbox." in page.text


async def test_assign_to_a_leader_of_their_institution_who_then_finds_it(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, grace, browser = await at_graces_text(web, db, console_settings, clock)
    page = await browser.get(f"/inbox/{grace}")
    assert f'<option value="{people.ann.id}">Ann Patel</option>' in page.text
    assert "Fatima" not in page.text  # leads Al-Noor, not Grace's institution
    page = await browser.post(f"/inbox/{grace}/assign", {"assignee": str(people.fatima.id)})
    assert page.status == 400 and "Choose someone from the list" in page.text
    page = await browser.post(f"/inbox/{grace}/assign", {"assignee": str(people.ann.id)})
    assert page.status == 200 and "Assigned." in page.text and "assigned to Ann Patel" in page.text
    async with db.session() as s:
        row = await s.get_one(InboxAssignment, grace)
        assert row.assigned_to_id == people.ann.id
        assert (await entries(s, action="inbox_assigned"))[0].details["to"] == people.ann.id
    page = await browser.post(f"/inbox/{grace}/assign", {"assignee": "abc"})
    assert page.status == 400
    ann = Browser(web, console_settings)
    ann.client.session.cookie_jar.clear()
    await ann.sign_in(db, ANN)
    page = await ann.get("/inbox?mine=1")
    assert "Grace Okafor" in page.text and "Assigned to Ann Patel" in page.text


async def test_attach_a_text_to_a_listening_question(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        campaign = await create_campaign(
            s,
            slug="city-listens",
            title="City Listens",
            questions=[{"en": "What is the biggest issue facing you and your family?"}],
            now=clock.now() - timedelta(days=1),
            themes=load_theme_specs(),
        )
        campaign_id = campaign.id
    grace = await message_of(db, people.grace.id)
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get(f"/inbox/{grace}")
    value = re.search(rf'<option value="({campaign_id}:\d+)">City Listens, question 1', page.text)
    assert value, page.text
    page = await browser.post(f"/inbox/{grace}/attach", {"target": value.group(1)})
    assert page.status == 200 and "Grace Okafor" not in page.text
    async with db.session() as s:
        answer = await s.scalar(select(ListeningAnswer).where(ListeningAnswer.inbound_id == grace))
        assert answer is not None and answer.source == "inbox"
        assert answer.question_id == int(value.group(1).split(":")[1])
        assert (await entries(s, action="inbox_attached"))[0].details["answer"] == answer.id
    await browser.get(f"/inbox/{grace}")
    page = await browser.post(f"/inbox/{grace}/attach", {"target": value.group(1)})
    assert page.status == 400 and "already answer" in page.text
    for bad in ("x", "99999", f"{campaign_id}:99999", "1:2:3", "99999999999", "1:99999999999"):
        page = await browser.post(f"/inbox/{grace}/attach", {"target": bad})
        assert page.status == 400, bad


async def test_no_reply_to_someone_who_cannot_be_reached(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        (await s.get_one(Person, people.grace.id)).phone_status = "invalid"
    grace = await message_of(db, people.grace.id)
    browser = await signed_in(web, console_settings, db, ORGANISER)
    await browser.get(f"/inbox/{grace}")
    page = await browser.post(f"/inbox/{grace}/reply", {"reply": "Hello"})
    assert page.status == 400 and "They cannot be reached" in page.text
    assert await replies(db) == []
