"""Today reads the digest with its rollups from the live counters, batched for every upcoming
action (build_digest(counted=True)): it must give exactly what the raw-row digest gives (the
rollup's rows, the change since the snapshot, the institutions gone quiet), for an organiser
and for leaders of one institution or several. And Today's numbers, kept per version of the
numbers and minute, are rendered again after a change or when the minute turns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from config.clock import FakeClock
from config.settings import Settings
from scheduler.actions import record_rsvp
from scheduler.digest.build import Digest, build_digest
from storage import counters
from storage.db import Database
from storage.models import Institution, Invitation
from tests import factories as f
from tests.console import Browser, console_settings_for, numbers


def shape(digest: Digest) -> list[Any]:
    return [
        (
            item.action.id,
            [vars(r) for r in item.rollup.rows],
            vars(item.rollup.no_institution),
            vars(item.rollup.totals),
            vars(item.rollup.unique),
            item.change,
            item.since,
            [r.institution_id for r in item.idle],
            item.started,
        )
        for item in digest.actions
    ] + [digest.inbox_open, digest.failed_messages]


@pytest.mark.parametrize("scope", ["organiser", "mary", "both"])
async def test_the_counted_digest_equals_the_raw_one(
    db: Database, db_url: str, clock: FakeClock, scope: str
) -> None:
    now = clock.now()
    people = await numbers(db, now)
    async with db.session() as s:  # a second action, already started (no quiet list)
        started = await f.action(s, now, slug="started", starts_in=-timedelta(hours=1))
        await f.invite(s, started, people.grace, now - timedelta(days=5))
    async with db.session() as s:
        await counters.verify_all(s, now, repair_them=True)
    ids = {
        "organiser": None,
        "mary": frozenset({people.mary.id}),
        "both": frozenset({people.mary.id, people.noor.id}),
    }[scope]
    settings = console_settings_for(db_url)
    async with db.session() as s:
        raw = await build_digest(s, settings, now, institution_ids=ids)
        counted = await build_digest(s, settings, now, institution_ids=ids, counted=True)
    assert len(counted.actions) == 2
    assert any(item.idle for item in counted.actions) or scope == "mary"
    assert shape(counted) == shape(raw)


async def test_today_renders_its_numbers_again_after_a_change_or_a_minute(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = Browser(web, console_settings)
    first = (await browser.sign_in(db, "07700 900011")).text
    assert "St Mary&#39;s Church" in first
    # Renamed by hand: no number moved, so the numbers kept for this version stand...
    async with db.session() as s:
        await s.execute(
            update(Institution)
            .where(Institution.id == people.mary.id)
            .values(name="St Mary's Parish")
        )
    assert "St Mary&#39;s Church" in (await browser.get("/")).text
    # ...until the minute turns.
    clock.advance(minutes=1)
    assert "St Mary&#39;s Parish" in (await browser.get("/")).text
    # A YES through the use case moves the version: shown at once, within the minute.
    async with db.session() as s:
        invitation = await s.scalar(select(Invitation).where(Invitation.person_id == people.ann.id))
        assert invitation is not None
        await record_rsvp(s, invitation, "yes", 0, channel="sms", inbound_id=None, now=clock.now())
    html = (await browser.get("/")).text
    mary = html[html.index("St Mary&#39;s Parish") :]
    assert "6 short of the commitment" in mary[: mary.index("</li>")]
