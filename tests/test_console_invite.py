"""Inviting a segment from the console: the form, the preview (nothing queued), the
confirmation (queued once, audited, a second submit queues nothing), bad input, CSRF, and a
leader's segment kept to their institutions."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.models import Invitation, OutboxMessage
from tests import factories as f
from tests.console import Alliance, alliance, signed_in


async def setup(db: Database, clock: FakeClock) -> Alliance:
    people = await alliance(db, clock.now())
    async with db.session() as s:
        await f.action(s, clock.now())
    return people


async def invitations(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(
            await s.scalars(select(OutboxMessage).where(OutboxMessage.template == "invite"))
        )


async def test_preview_then_confirm_queues_each_invitation_once(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await setup(db, clock)
    browser = await signed_in(web, console_settings, db, "07700 900011")
    page = await browser.get("/actions/assembly/invite")
    assert page.status == 200 and "Who to invite" in page.text
    assert "St Mary&#39;s Church" in page.text and "Al-Noor Mosque" in page.text
    form = {"segment": "institutions", "institution": str(people.mary.id)}
    page = await browser.post("/actions/assembly/invite", form)
    assert page.status == 200, page.text
    assert "Nothing has been queued yet" in page.text
    assert "<dt>By SMS</dt><dd>2</dd>" in page.text
    assert "Estimated cost: <strong>0.08</strong> (at 0.04 a segment)" in page.text
    assert "2 go out now." in page.text
    assert "you&#39;re invited to Accountability Assembly" in page.text
    assert await invitations(db) == []
    confirm = page.csrf
    page = await browser.post("/actions/assembly/invite/confirm", form)
    assert page.status == 200 and "2 invitations queued" in page.text
    assert {r.person_id for r in await invitations(db)} == {people.ann.id, people.grace.id}
    page = await browser.post("/actions/assembly/invite/confirm", form, csrf=confirm)
    assert page.status == 200 and "0 invitations queued" in page.text
    assert len(await invitations(db)) == 2
    async with db.session() as s:
        log = await entries(s, action="invitations_queued")
    assert [e.details["queued"] for e in log] == [0, 2]
    assert log[0].details["segment"] == "institutions"


async def test_the_preview_shows_who_is_left_out_and_the_quiet_hours(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await setup(db, clock)
    async with db.session() as s:
        mo = await s.get(type(people.mo), people.mo.id)
        assert mo is not None
        mo.consent = "opted_out"
    clock.advance(hours=12)  # 22:00 in London
    browser = await signed_in(web, console_settings, db, "07700 900011")
    await browser.get("/actions/assembly/invite")
    page = await browser.post("/actions/assembly/invite", {"segment": "everyone"})
    assert "Opted out (replied STOP): 1" in page.text
    assert "0 go out now. 4 wait for the end of the person's quiet hours" in page.text
    assert "Wed 11 Mar 09:00" in page.text


async def test_bad_choices_are_refused_with_the_reason_and_nothing_queued(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await setup(db, clock)
    browser = await signed_in(web, console_settings, db, "07700 900011")
    await browser.get("/actions/assembly/invite")
    for form, message in [
        ({}, "Pick who to invite"),
        ({"segment": "party"}, "Pick who to invite"),
        ({"segment": "institutions"}, "Pick at least one institution"),
        ({"segment": "institutions", "institution": "x"}, "Pick institutions from the list"),
        ({"segment": "institutions", "institution": "999"}, "not on record"),
        ({"segment": "institutions", "institution": "99999999999"}, "from the list"),
        ({"segment": "replied", "other_action": "4294967296", "reply": "yes"}, "other action"),
        ({"segment": "replied", "reply": "yes"}, "Pick the other action"),
        ({"segment": "theme"}, "Pick a listening theme"),
        ({"segment": "theme", "theme": "12"}, "not on record"),
    ]:
        page = await browser.post("/actions/assembly/invite", form)
        assert page.status == 400, form
        assert message in page.text, (form, page.text)
        page = await browser.post("/actions/assembly/invite/confirm", form)
        assert page.status == 400, form
        await browser.get("/actions/assembly/invite")
    assert await invitations(db) == []
    assert (await browser.get("/actions/nothing/invite")).status == 404


async def test_without_the_csrf_token_nothing_is_queued(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await setup(db, clock)
    browser = await signed_in(web, console_settings, db, "07700 900011")
    page = await browser.post("/actions/assembly/invite/confirm", {"segment": "everyone"}, csrf="")
    assert page.status == 403
    assert await invitations(db) == []


async def test_a_leader_invites_only_their_institutions_people(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await setup(db, clock)
    browser = await signed_in(web, console_settings, db, "07700 900001")  # Ann, St Mary's
    page = await browser.get("/actions/assembly/invite")
    assert "Al-Noor" not in page.text and "Only people in your institutions" in page.text
    page = await browser.post("/actions/assembly/invite", {"segment": "everyone"})
    assert "<dt>Invitations to send</dt><dd>2</dd>" in page.text
    page = await browser.post("/actions/assembly/invite/confirm", {"segment": "everyone"})
    assert page.status == 200
    async with db.session() as s:
        invited = set(await s.scalars(select(Invitation.person_id)))
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) >= 2
    assert invited == {people.ann.id, people.grace.id}
