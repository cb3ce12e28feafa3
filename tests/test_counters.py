"""The live counters (storage/counters.py) equal the raw-row rollup (storage/rollup.py) after
a randomized sequence of invitations, RSVPs and changes of mind, check-ins, headcounts,
commitments and membership changes, each through the one place it happens; on SQLite and on
PostgreSQL. Drift (rows changed behind the counters' back) is found and repaired."""

from __future__ import annotations

import asyncio
import random
from dataclasses import astuple
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from sqlalchemy import delete, select, update

from bot.cli.root import cli
from bot.cli.runtime import Runtime
from config.clock import FakeClock
from config.settings import Settings
from scheduler import actions
from scheduler.jobs import verify_counters
from storage import counters
from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.models import (
    Action,
    Attendance,
    Headcount,
    Institution,
    Invitation,
    Membership,
    Person,
)
from storage.people import add_membership, remove_membership
from storage.rollup import Rollup, action_rollup
from storage.telegram import merge_people
from tests import factories as f
from tests.conftest import T0


async def invoke(runtime: Runtime, *args: str) -> Result:
    """The CLI runs its own event loop: in a thread, beside the test's."""
    return await asyncio.to_thread(CliRunner().invoke, cli, ["counters", *args], obj=runtime)


def rows(rollup: Rollup) -> list[tuple[object, ...]]:
    every = [*rollup.rows, rollup.no_institution, rollup.unique]
    return [(*astuple(r), r.arrived, r.confirmed) for r in every] + [
        (rollup.totals.arrived, rollup.totals.confirmed)
    ]


async def assert_counted(db: Database, action_ids: list[int]) -> None:
    async with db.session() as s:
        for aid in action_ids:
            action = await s.get_one(Action, aid)
            assert await counters.drift(s, action) == []
            assert rows(await counters.counted_rollup(s, action)) == rows(
                await action_rollup(s, action)
            )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_counters_equal_the_raw_rollup_after_a_random_day(
    db: Database, settings: Settings, clock: FakeClock, seed: int
) -> None:
    rng = random.Random(seed)
    now = clock.now()
    async with db.session() as s:
        insts = [await f.institution(s, name, now) for name in ("Mary", "Noor", "Bethel")]
        people = []
        for n in range(14):
            home = rng.choice([None, *insts])
            people.append(await f.person(s, f"Person {n}", n + 1, now, institution=home))
        acts = [await f.action(s, now, slug=f"act-{k}") for k in range(2)]
        person_ids = [p.id for p in people]
        inst_ids = [i.id for i in insts]
        action_ids = [a.id for a in acts]
    for step in range(60):
        op = rng.choice(["invite", "rsvp", "rsvp", "rsvp", "checkin", "head", "commit", "member"])
        async with db.session() as s:
            aid = rng.choice(action_ids)
            action = await s.get_one(Action, aid)
            if op == "invite":
                iid = rng.choice([None, *inst_ids])
                await actions.invite(s, action, institution_id=iid, settings=settings, now=now)
            elif op == "rsvp":
                invitation = await s.scalar(
                    select(Invitation)
                    .where(Invitation.action_id == aid)
                    .order_by(Invitation.id)
                    .offset(rng.randrange(8))
                    .limit(1)
                )
                if invitation is not None:
                    response = rng.choice(["yes", "no", "maybe"])
                    guests = rng.choice([None, 0, 1, 3])
                    await actions.record_rsvp(
                        s, invitation, response, guests, channel="sms", inbound_id=None, now=now
                    )
            elif op == "checkin":
                await actions.check_in(s, aid, rng.choice(person_ids), source="checkin", now=now)
            elif op == "head":
                await actions.record_headcount(
                    s,
                    action_id=aid,
                    institution_id=rng.choice(inst_ids),
                    number=rng.randrange(40),
                    recorded_by_id=None,
                    channel="sms",
                    now=now,
                )
            elif op == "commit":
                await actions.commit(
                    s,
                    action_id=aid,
                    institution_id=rng.choice(inst_ids),
                    number=rng.randrange(1, 50),
                    set_by_id=None,
                    channel="sms",
                    now=now,
                )
            elif rng.random() < 0.5:
                await add_membership(
                    s, rng.choice(person_ids), rng.choice(inst_ids), role="member", now=now
                )
            else:
                await remove_membership(s, rng.choice(person_ids), rng.choice(inst_ids), now=now)
        if step % 10 == 9:
            await assert_counted(db, action_ids)
    # Two records of one person become one: the counters follow the rows.
    async with db.session() as s:
        source, target = (
            await s.get_one(Person, person_ids[0]),
            await s.get_one(Person, person_ids[1]),
        )
        source.phone = None
        await s.flush()
        await merge_people(s, source=source, target=target, now=now)
    await assert_counted(db, action_ids)


async def test_drift_is_found_and_repaired_by_the_cli(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        ann = await f.person(s, "Ann", 1, now, institution=mary)
        bob = await f.person(s, "Bob", 2, now)
        action = await f.action(s, now)
        for p in (ann, bob):
            invitation = await f.invite(s, action, p, now)
            await counters.invited(s, action.id, [p.id], now)
            await actions.record_rsvp(
                s, invitation, "yes", 1, channel="sms", inbound_id=None, now=now
            )
        await actions.check_in(s, action.id, ann.id, source="checkin", now=now)
    await assert_counted(db, [action.id])
    async with db.session() as s:  # behind the counters' back
        await s.execute(update(Invitation).where(Invitation.person_id == bob.id).values(guests=4))
        await s.execute(delete(Attendance))
    runtime = Runtime(settings=settings, clock=FakeClock(now + timedelta(hours=1)))
    result = await invoke(runtime, "verify")
    assert result.exit_code == 1, result.output
    assert "assembly: 4 counters differ" in result.output
    assert "St Mary's Church attended: counted 1, should be 0" in result.output
    assert "No institution guests: counted 1, should be 4" in result.output
    result = await invoke(runtime, "verify", "--repair")
    assert result.exit_code == 0, result.output
    assert "repaired" in result.output
    await assert_counted(db, [action.id])
    result = await invoke(runtime, "verify")
    assert result.exit_code == 0 and "all counters match" in result.output.lower()
    async with db.session() as s:
        assert await s.scalar(select(Institution.id)) == mary.id


async def test_the_migration_counts_what_is_already_on_record(tmp_path: Path) -> None:
    """Actions recorded before the counters existed get theirs from their rows."""
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    before = ScriptDirectory.from_config(alembic_config()).get_revision("0012")
    assert before is not None and isinstance(before.down_revision, str)
    await upgrade(db.engine, before.down_revision)
    now = FakeClock(T0).now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        noor = await f.institution(s, "Al-Noor Mosque", now)
        ann = await f.person(s, "Ann", 1, now, institution=mary)
        s.add(Membership(person_id=ann.id, institution_id=noor.id, role="member", created_at=now))
        bob = await f.person(s, "Bob", 2, now)
        cat = await f.person(s, "Cat", 3, now, institution=noor)
        action = await f.action(s, now)
        for p, response, guests in ((ann, "yes", 2), (bob, "maybe", 0), (cat, None, 0)):
            invitation = await f.invite(s, action, p, now)
            invitation.response, invitation.guests = response, guests
        s.add(Attendance(action_id=action.id, person_id=ann.id, source="checkin", at=now))
        for number in (12, 15):
            s.add(
                Headcount(
                    action_id=action.id,
                    institution_id=noor.id,
                    number=number,
                    channel="sms",
                    at=now,
                )
            )
            await s.flush()
    await upgrade(db.engine)
    try:
        async with db.session() as s:
            action = await s.get_one(Action, action.id)
            assert await counters.drift(s, action) == []
            counted = await counters.counted_rollup(s, action)
            assert counted.row_for(noor.id).arrived == 15
            assert counted.unique.guests == 2
    finally:
        await db.dispose()


async def test_the_nightly_job_repairs_drift_and_says_so(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann", 1, now)
        action = await f.action(s, now)
        await f.invite(s, action, ann, now)  # behind the counters' back
    assert await verify_counters(db, clock) == 2  # no institution and everyone: invited
    assert "counters: 2 differed from the rows and were repaired" in caplog.text
    await assert_counted(db, [action.id])
    assert await verify_counters(db, clock) == 0
