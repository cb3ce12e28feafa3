"""Leader links: a leader's own page for one action and institution (no account), through the
aiohttp test client. It shows their institution only and no phone number; it stops working once
revoked or expired; a nudge is queued at most once a day per person, never to someone who said
STOP, held in quiet hours; the headcount is recorded; everything is audited. Organisers make
and revoke links on /actions/SLUG/leaders."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import cli
from bot.cli.runtime import Runtime
from config.clock import FakeClock
from config.settings import Settings
from scheduler.leader_links import make_link
from storage.audit import Actor, entries
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Action, Headcount, OutboxMessage, Person
from tests.conftest import T0
from tests.console import Alliance, Browser, numbers


async def link_for(
    db: Database, settings: Settings, who: Person, now: datetime, institution: str = ""
) -> str:
    async with db.session() as s:
        action = await s.scalar(select(Action))
        assert action is not None
        leader = await s.get_one(Person, who.id)
        made = await make_link(
            s,
            settings,
            action=action,
            leader=leader,
            institution=institution,
            actor=Actor.operator(),
            now=now,
        )
    return made.url.removeprefix(settings.public_url)


async def nudges(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.template == "leader_check")
                .order_by(OutboxMessage.id)
            )
        )


async def setup(db: Database, settings: Settings, clock: FakeClock) -> tuple[Alliance, str]:
    people = await numbers(db, clock.now())
    return people, await link_for(db, settings, people.ann, clock.now())


async def test_a_link_shows_its_own_institution_only_and_no_phone_numbers(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    _people, path = await setup(db, console_settings, clock)
    page = await Browser(web, console_settings).get(path)
    assert page.status == 200, page.text
    html = page.text
    assert "St Mary&#39;s Church" in html and "Accountability Assembly" in html
    assert "Grace Okafor" in html and "Ann Patel" in html
    assert "Coming (+2)" in html and "Not replied" in html
    for other in ("Al-Noor", "Fatima", "Mohammed", "Tom Hughes"):
        assert other not in html
    assert "+44" not in html and "07700" not in html and "447700" not in html
    assert page.headers["Cache-Control"] == "no-store"


async def test_a_link_stops_working_once_revoked_or_expired(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, path = await setup(db, console_settings, clock)
    browser = Browser(web, console_settings)
    assert (await browser.get(path)).status == 200
    await browser.sign_in(db, "07700 900011")  # Ruth, the organiser
    page = await browser.get("/actions/assembly/leaders")
    assert "Ann Patel" in page.text and "Works" in page.text
    link_id = page.text.split("/leaders/")[1].split("/revoke")[0]
    page = await browser.post(f"/actions/assembly/leaders/{link_id}/revoke")
    assert page.status == 200 and "The link no longer works" in page.text
    gone = await Browser(web, console_settings).get(path)
    assert gone.status == 404 and "This link does not work" in gone.text
    # A posted form on a revoked link changes nothing either.
    posted = await Browser(web, console_settings).post(
        path + "/headcount", {"headcount": "5"}, csrf="x" * 43
    )
    assert posted.status in (403, 404)
    # Another link, then past its end: expired.
    second = await link_for(db, console_settings, people.ann, clock.now())
    assert (await Browser(web, console_settings).get(second)).status == 200
    clock.advance(days=10)
    assert (await Browser(web, console_settings).get(second)).status == 404
    assert (await Browser(web, console_settings).get("/leader/" + "a" * 43)).status == 404
    async with db.session() as s:
        done = [e.action for e in await entries(s)]
    assert "leader_link_revoked" in done and done.count("leader_link_created") == 2


async def test_a_nudge_is_queued_once_a_day_per_person_naming_the_leader(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, path = await setup(db, console_settings, clock)
    browser = Browser(web, console_settings)
    await browser.get(path)
    page = await browser.post(f"{path}/nudge/{people.ann.id}")
    assert page.status == 200 and "we have asked Ann if they are coming" in page.text
    rows = await nudges(db)
    assert len(rows) == 1
    assert rows[0].person_id == people.ann.id and rows[0].status == "queued"
    assert rows[0].body.startswith("Ann from St Mary's Church asked us to check: are you coming")
    page = await browser.post(f"{path}/nudge/{people.ann.id}")
    assert "already had a nudge today" in page.text
    assert len(await nudges(db)) == 1
    clock.advance(days=1)
    await browser.post(f"{path}/nudge/{people.ann.id}")
    assert len(await nudges(db)) == 2
    # Someone of another institution is not on this link's list.
    page = await browser.post(f"{path}/nudge/{people.mo.id}")
    assert page.status == 400
    assert len(await nudges(db)) == 2
    async with db.session() as s:
        outcomes = [e.details["outcome"] for e in await entries(s, action="leader_nudge")]
    assert sorted(outcomes) == ["already", "queued", "queued"]


async def test_no_nudge_to_someone_who_said_stop_and_one_held_in_quiet_hours(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, path = await setup(db, console_settings, clock)
    async with db.session() as s:
        (await s.get_one(Person, people.ann.id)).consent = "opted_out"
    browser = Browser(web, console_settings)
    page = await browser.get(path)
    assert "No texts (said STOP)" in page.text
    page = await browser.post(f"{path}/nudge/{people.ann.id}")
    assert "asked for no more texts" in page.text
    assert await nudges(db) == []
    # 22:30 in London (GMT in March): held until 09:00 the next morning.
    clock.set(datetime(2026, 3, 10, 22, 30, tzinfo=UTC))
    async with db.session() as s:
        (await s.get_one(Person, people.ann.id)).consent = "opted_in"
    await browser.get(path)
    page = await browser.post(f"{path}/nudge/{people.ann.id}")
    assert "when their quiet hours end" in page.text
    [row] = await nudges(db)
    assert row.not_before == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)


async def test_the_headcount_is_recorded_and_bad_input_is_a_clear_400(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, path = await setup(db, console_settings, clock)
    browser = Browser(web, console_settings)
    await browser.get(path)
    page = await browser.post(f"{path}/headcount", {"headcount": "lots"})
    assert page.status == 400 and "whole number" in page.text
    page = await browser.post(f"{path}/headcount", {"headcount": "37"})
    assert page.status == 200 and "Headcount saved" in page.text
    assert "<strong>37</strong>" in page.text
    async with db.session() as s:
        [count] = list(await s.scalars(select(Headcount)))
        assert (count.number, count.institution_id, count.recorded_by_id) == (
            37,
            people.mary.id,
            people.ann.id,
        )
        assert [e.action for e in await entries(s, action="headcount_recorded")]


async def test_an_organiser_makes_a_link_on_the_console_and_a_leader_may_not(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    organiser = Browser(web, console_settings)
    await organiser.sign_in(db, "07700 900011")
    page = await organiser.get("/actions/assembly/leaders")
    assert "Fatima Hussain, Al-Noor Mosque" in page.text
    page = await organiser.post("/actions/assembly/leaders", {"leader": "nonsense"})
    assert page.status == 400 and "Choose a leader" in page.text
    page = await organiser.post(
        "/actions/assembly/leaders", {"leader": f"{people.fatima.id}:{people.noor.id}"}
    )
    assert page.status == 200 and "shown only once" in page.text
    url = page.text.split('<p><a href="')[1].split('"')[0]
    assert url.startswith(console_settings.public_url + "/leader/")
    mine = await Browser(web, console_settings).get(url.removeprefix(console_settings.public_url))
    assert "Mohammed Khan" in mine.text and "Grace" not in mine.text
    assert (await organiser.get("/actions/nothing-here/leaders")).status == 404
    await organiser.post("/sign-out")  # the test client has one cookie jar: one browser
    await organiser.sign_in(db, "07700 900001")  # Ann, a leader
    assert (await organiser.get("/actions/assembly/leaders")).status == 403


def test_leaders_link_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {
        "TURNOUT_DATABASE_URL": url,
        "TURNOUT_ALLIANCE_NAME": "Leicester Citizens",
        "TURNOUT_PUBLIC_URL": "https://turnout.example.org",
    }
    clock = FakeClock(T0)

    def turnout(*args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(cli, list(args), env=env, obj=Runtime(clock=clock))
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    async def seed() -> None:
        db = Database.from_url(url)
        await upgrade(db.engine)
        await numbers(db, T0)
        await db.dispose()

    asyncio.run(seed())
    out = turnout("leaders", "link", "assembly", "07700 900001")
    assert "for Ann Patel (St Mary's Church)" in out
    assert "https://turnout.example.org/leader/" in out
    assert "nobody has the number" in turnout(
        "leaders", "link", "assembly", "07700900999", ok=False
    )
    assert "leads no institution" in turnout("leaders", "link", "assembly", "07700900005", ok=False)
    assert "works" in turnout("leaders", "links", "assembly")
    assert "no longer works" in turnout("leaders", "revoke", "1")
    assert "revoked" in turnout("leaders", "links", "assembly")
    assert "no link 9" in turnout("leaders", "revoke", "9", ok=False)
