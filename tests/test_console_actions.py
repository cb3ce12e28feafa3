"""The console's action pages: the list, creating and editing an action, rescheduling and
cancelling after a preview, the reminder ladder, commitments, the attendee list and its CSV;
each write audited, each refused without its CSRF token, a leader kept to their institutions."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.web.keys import HUB
from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.models import Action, ActionReminder, Commitment, OutboxMessage
from tests import factories as f
from tests.console import Browser, alliance, numbers, signed_in
from tests.test_console_today import bar, card, next_state, text_in

RUTH, ANN = "07700 900011", "07700 900001"

NEW = {
    "title": "Housing March",
    "kind": "action",
    "slug": "housing-march",
    "starts_at": "2026-03-20T18:30",
    "ends_at": "2026-03-20T20:30",
    "place": "Town Hall Square",
    "bring": "",
    "target": "200",
}


async def organiser(web: TestClient[Any, Any], db: Database, settings: Settings) -> Browser:
    return await signed_in(web, settings, db, RUTH)


async def audit_actions(db: Database) -> list[str]:
    async with db.session() as s:
        return [e.action for e in await entries(s)]


async def outbox(db: Database, template: str) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(
            await s.scalars(select(OutboxMessage).where(OutboxMessage.template == template))
        )


async def test_the_list_shows_upcoming_actions_and_links_each(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    page = await browser.get("/actions")
    assert page.status == 200
    assert '<a href="/actions/assembly">Accountability Assembly</a>' in page.text
    assert "Create an action" in page.text
    assert 'href="/actions" aria-current="page"' in page.text  # the nav entry


async def test_an_organiser_creates_an_action_and_it_is_audited(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await organiser(web, db, console_settings)
    await browser.get("/actions/new")
    page = await browser.post("/actions/new", NEW)
    assert page.status == 200, page.text
    assert page.url.endswith("/actions/housing-march?done=created")
    assert "The action is created" in page.text and "Town Hall Square" in page.text
    async with db.session() as s:
        action = await s.scalar(select(Action).where(Action.slug == "housing-march"))
    assert action is not None and action.target == 200 and action.kind == "action"
    assert action.starts_at.hour == 18  # 18:30 in London is 18:30 UTC in March
    assert "action_created" in await audit_actions(db)


async def test_bad_input_keeps_what_was_typed_and_says_what_is_wrong(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await organiser(web, db, console_settings)
    await browser.get("/actions/new")
    cases = [
        ({"starts_at": "next tuesday"}, "Enter when it starts"),
        ({"ends_at": "2026-03-20T17:00"}, "The action must end after it starts"),
        ({"starts_at": "2026-03-01T18:30", "ends_at": "2026-03-01T19:30"}, "In the past"),
        ({"slug": "Not A Slug!"}, "Must be 2 to 32 characters"),
        ({"slug": "new"}, "taken by the console"),
        ({"title": ""}, "The title is empty"),
        ({"target": "lots"}, "Enter the target as a whole number"),
        ({"kind": "party"}, "Unknown kind"),
    ]
    for change, message in cases:
        page = await browser.post("/actions/new", {**NEW, **change})
        assert page.status == 400, change
        assert message.lower() in page.text.lower(), (change, page.text)
        assert "There is a problem" in page.text
        assert 'value="Town Hall Square"' in page.text
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Action)) == 0
    assert (await browser.post("/actions/new", NEW)).status == 200
    await browser.get("/actions/new")
    page = await browser.post("/actions/new", NEW)
    assert page.status == 400 and 'href="#slug"' in page.text and "already exists" in page.text


async def test_forms_without_the_csrf_token_change_nothing(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    for path, data in [
        ("/actions/new", NEW),
        ("/actions/assembly/cancel", {"confirm": "yes"}),
        ("/actions/assembly/reminders", {"step": "nudge", "state": "off"}),
        ("/actions/assembly/commitments", {"institution": "1", "number": "3"}),
    ]:
        page = await browser.post(path, data, csrf="")
        assert page.status == 403, path
    async with db.session() as s:
        action = await s.scalar(select(Action).where(Action.slug == "assembly"))
        assert action is not None and action.status == "scheduled"
        assert await s.scalar(select(func.count()).select_from(ActionReminder)) == 0


async def test_a_leader_cannot_create_edit_move_or_cancel(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ANN)
    page = await browser.get("/actions")
    assert "Create an action" not in page.text
    for path in ("/actions/new", "/actions/assembly/edit", "/actions/assembly/cancel"):
        assert (await browser.get(path)).status == 403, path
    await browser.get("/actions/assembly")
    page = await browser.post("/actions/assembly/cancel", {"confirm": "yes"})
    assert page.status == 403
    assert "Only organisers can do this" in page.text


async def test_edit_changes_the_details_and_records_which(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    page = await browser.get("/actions/assembly/edit")
    assert 'value="Accountability Assembly"' in page.text
    page = await browser.post(
        "/actions/assembly/edit",
        {"title": "People's Assembly", "kind": "assembly", "bring": "A friend", "target": ""},
    )
    assert page.status == 200 and "Your changes are saved" in page.text
    assert "People&#39;s Assembly" in page.text and "A friend" in page.text
    async with db.session() as s:
        log = await entries(s, action="action_edited")
    assert log[0].details == {"fields": ["title", "bring"]}
    page = await browser.get("/actions/assembly/edit")
    page = await browser.post(
        "/actions/assembly/edit", {"title": "x" * 81, "kind": "assembly", "bring": "", "target": ""}
    )
    assert page.status == 400 and "keep it to 80" in page.text


async def test_the_action_page_shows_numbers_attendees_and_the_ladder(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    page = await browser.get("/actions/assembly")
    assert page.status == 200
    html = page.text
    assert "De Montfort Hall" in html and 'data-live="/actions/assembly/live"' in html
    assert "10 short of the commitment" in html or "7 short of the commitment" in html
    for name in ("Grace Okafor", "Ann Patel", "Mohammed Khan", "Tom Hughes"):
        assert name in html
    assert "Still coming?" in html and "Thank you" in html and "Switch off" in html
    page = await browser.get("/actions/assembly?reply=yes")
    assert "Grace Okafor" in page.text and "Tom Hughes" not in page.text
    assert (await browser.get("/actions/assembly?reply=perhaps")).status == 400
    assert (await browser.get("/actions/no-such-thing")).status == 404
    assert "+44" not in html and "07700" not in html


async def test_a_leader_sees_only_their_people_and_numbers(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ANN)
    page = await browser.get("/actions/assembly")
    assert page.status == 200
    assert "Grace Okafor" in page.text and "Ann Patel" in page.text
    for other in ("Mohammed", "Fatima", "Tom Hughes", "Al-Noor", "No institution", "Switch off"):
        assert other not in page.text, other
    async with web.get("/actions/assembly/attendees.csv") as resp:
        body = await resp.text()
    assert "phone" not in body.splitlines()[0] and "Mohammed" not in body and "+44" not in body


async def test_reschedule_previews_the_notice_then_tells_the_yes_people(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    await browser.get("/actions/assembly/reschedule")
    form = {"starts_at": "2026-03-18T19:00", "ends_at": "2026-03-18T21:00", "place": "The Y"}
    page = await browser.post("/actions/assembly/reschedule", form)
    assert page.status == 200
    assert "Move the action?" in page.text and "Nothing has been sent yet" in page.text
    assert "has moved to" in page.text and "The Y" in page.text
    assert "Move it and tell 1 people" in page.text  # Grace said yes
    assert await outbox(db, "action_moved") == []  # the preview wrote nothing
    async with db.session() as s:
        action = await s.scalar(select(Action).where(Action.slug == "assembly"))
        assert action is not None and action.revision == 0 and action.place == "De Montfort Hall"
    page = await browser.post("/actions/assembly/reschedule", {**form, "confirm": "yes"})
    assert page.status == 200 and "The action is moved" in page.text
    assert len(await outbox(db, "action_moved")) == 1
    assert "action_rescheduled" in await audit_actions(db)
    page = await browser.post("/actions/assembly/reschedule", {**form, "starts_at": "soon"})
    assert page.status == 400 and "Enter when it starts" in page.text


async def test_cancel_previews_then_cancels_once(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    page = await browser.get("/actions/assembly/cancel")
    assert page.status == 200 and "is cancelled" in page.text
    assert "Cancel the action and tell 1 people" in page.text
    page = await browser.post("/actions/assembly/cancel", {"confirm": "yes"})
    assert page.status == 200 and "The action is cancelled" in page.text
    assert len(await outbox(db, "action_cancelled")) == 1
    page = await browser.post("/actions/assembly/cancel", {"confirm": "yes"}, csrf=page.csrf)
    assert page.status == 400 and "it is cancelled" in page.text
    assert len(await outbox(db, "action_cancelled")) == 1


async def test_a_reminder_step_is_switched_off_and_on(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    await browser.get("/actions/assembly")
    page = await browser.post("/actions/assembly/reminders", {"step": "nudge", "state": "off"})
    assert page.status == 200 and "The reminder is changed" in page.text
    async with db.session() as s:
        row = await s.scalar(select(ActionReminder))
        assert row is not None and row.kind == "nudge" and row.offset_minutes is None
    assert "Switch on<span" in page.text
    page = await browser.post("/actions/assembly/reminders", {"step": "nudge", "state": "on"})
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ActionReminder)) == 0
        log = await entries(s, action="reminder_step_set")
    assert [e.details["state"] for e in log] == ["on", "off"]
    page = await browser.post("/actions/assembly/reminders", {"step": "party", "state": "on"})
    assert page.status == 400


async def test_commitments_by_an_organiser_and_by_a_leader_for_their_own_only(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = await organiser(web, db, console_settings)
    await browser.get("/actions/assembly")
    page = await browser.post(
        "/actions/assembly/commitments", {"institution": str(people.noor.id), "number": "12"}
    )
    assert page.status == 200 and "The commitment is saved" in page.text
    assert "12 short of the commitment" in page.text
    for bad in ("", "-3", "lots", "1000001"):
        page = await browser.post(
            "/actions/assembly/commitments", {"institution": str(people.noor.id), "number": bad}
        )
        assert page.status == 400, bad
    for institution in ("", "x", "99999999999", "2147483647"):
        page = await browser.post(
            "/actions/assembly/commitments", {"institution": institution, "number": "1"}
        )
        assert page.status == 400, institution
    await browser.post("/sign-out")  # the same cookie jar: now Ann signs in
    ann = await signed_in(web, console_settings, db, ANN)
    await ann.get("/actions/assembly")
    page = await ann.post(
        "/actions/assembly/commitments", {"institution": str(people.noor.id), "number": "1"}
    )
    assert page.status == 403
    page = await ann.post(
        "/actions/assembly/commitments", {"institution": str(people.mary.id), "number": "20"}
    )
    assert page.status == 200
    async with db.session() as s:
        pledged = {c.institution_id: c.number for c in await s.scalars(select(Commitment))}
        log = await entries(s, action="commitment_set")
    assert pledged == {people.mary.id: 20, people.noor.id: 12}
    assert [e.actor_person_id for e in log] == [people.ann.id, people.ruth.id]


async def test_the_csv_export_is_formula_safe_filtered_and_audited(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        grace = await s.get(type(people.grace), people.grace.id)
        assert grace is not None
        grace.name = "=HYPERLINK(1)"
    await organiser(web, db, console_settings)
    async with web.get("/actions/assembly/attendees.csv?reply=yes") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        body = await resp.text()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:2] == ["name", "phone"]
    assert (
        rows[1][0] == "'=HYPERLINK(1)" and rows[1][1] == "'+447700900005"
    )  # safe_cell guards a leading +
    assert len(rows) == 2
    async with db.session() as s:
        log = await entries(s, action="attendees_exported")
    assert log[0].details == {"rows": 1, "reply": "yes", "phones": True}


async def test_the_action_stream_moves_with_a_text_and_keeps_a_leader_to_their_rows(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    await Browser(web, console_settings).sign_in(db, ANN)
    web.app[HUB].interval = 3600  # no polling: only the pipeline's poke can move it
    async with web.get("/actions/assembly/live") as resp:
        assert resp.status == 200
        first = await asyncio.wait_for(next_state(resp), 5)
        assert bar(card(first, "St Mary&#39;s Church"), "Confirmed") == 3
        assert "Al-Noor" not in first and "<html" not in first
        await text_in(web, console_settings, f.phone(1), "YES")  # Ann herself
        second = await asyncio.wait_for(next_state(resp), 5)
    assert bar(card(second, "St Mary&#39;s Church"), "Confirmed") == 4
    async with web.get("/actions/nothing/live") as resp:
        assert resp.status == 404
