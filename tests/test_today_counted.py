"""Today reads the digest with its rollups from the live counters, batched for every upcoming
action (build_digest(counted=True)): it must give exactly what the raw-row digest gives (the
rollup's rows, the change since the snapshot, the institutions gone quiet), for an organiser
and for leaders of one institution or several."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from config.clock import FakeClock
from scheduler.digest.build import Digest, build_digest
from storage import counters
from storage.db import Database
from tests import factories as f
from tests.console import console_settings_for, numbers


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
