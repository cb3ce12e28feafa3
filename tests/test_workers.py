"""Workers: several on PostgreSQL, one killed mid-run, leadership, start and stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from bot.compose import run_worker
from config.clock import FakeClock, RunningClock
from config.settings import Settings
from scheduler.delivery.channels import build_sms_channel
from scheduler.delivery.worker import LEADER_LOCK_KEY, Worker, worker_context
from storage.db import Database
from storage.models import OutboxMessage
from tests import factories as f
from tests.conftest import T0
from tests.fakes import RecordingChannel
from tests.fakes.twilio_api import FakeTwilioApi
from tests.test_sender import make_sender, make_settings, queue, rows


async def wait_for(predicate: object, seconds: float = 20.0) -> None:
    """Poll a condition another process or task makes true (never a fixed sleep)."""
    assert callable(predicate)
    for _ in range(int(seconds / 0.02)):
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_two_workers_on_postgresql_drain_10000_rows_each_sent_exactly_once(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite runs one worker")
    now = clock.now()
    async with db.session() as s:
        for start in range(0, 10_000, 2_000):
            await s.execute(
                insert(OutboxMessage),
                [
                    {
                        "dedupe_key": f"bulk:{i}",
                        "channel": "sms",
                        "to_address": f"+4477009{i:05d}",
                        "body": f"Invitation {i}",
                        "kind": "bulk",
                        "priority": 5,
                        "not_before": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, start + 2_000)
                ],
            )
    settings = make_settings(db_url, SMS_RATE_PER_SECOND="1000000")
    dbs = [Database.from_url(db_url), Database.from_url(db_url)]
    channels = [RecordingChannel(clock), RecordingChannel(clock)]
    senders = [
        make_sender(d, {"sms": c}, clock, settings, worker_id=f"w{i}")
        for i, (d, c) in enumerate(zip(dbs, channels, strict=True))
    ]

    async def drain(i: int) -> None:
        while await senders[i].send_due(1000):
            pass

    try:
        await asyncio.wait_for(asyncio.gather(drain(0), drain(1)), timeout=60)
    finally:
        for d in dbs:
            await d.dispose()

    counts = channels[0].counts() + channels[1].counts()
    assert len(counts) == 10_000
    assert set(counts.values()) == {1}
    assert all(c.sent for c in channels)  # both took a share
    async with db.session() as s:
        statuses = Counter(
            dict(
                (
                    await s.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                    )
                ).all()
            )
        )
    assert statuses == {"sent": 10_000}


async def test_a_worker_killed_with_sigkill_loses_nothing_and_sends_nothing_twice(
    db: Database, db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    numbers = range(100, 220)
    ids = await queue(db, clock, numbers)
    async with FakeTwilioApi(clock=clock) as api:
        settings = make_settings(db_url, api.url, SMS_RATE_PER_SECOND="40")
        env = {
            **os.environ,
            "TURNOUT_DATABASE_URL": db_url,
            "TURNOUT_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
            "TURNOUT_TWILIO_AUTH_TOKEN": settings.twilio_auth_token.get(),
            "TURNOUT_TWILIO_FROM": settings.twilio_from,
            "TURNOUT_TWILIO_API_URL": api.url,
            "TURNOUT_SMS_RATE_PER_SECOND": "40",
            "TURNOUT_LOG_LEVEL": "WARNING",
            # The worker's clock starts where the test's stands (10:00 in London, not quiet
            # hours), whatever the hour the suite runs at.
            "TURNOUT_NOW": clock.now().isoformat(),
        }
        # `turnout worker`, as deployed (away from any .env in the checkout).
        code = "from bot.cli import main; main()"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, "worker", env=env, cwd=tmp_path
        )
        sending = asyncio.ensure_future(api.wait_for_messages(20))
        exited = asyncio.ensure_future(proc.wait())
        try:
            await asyncio.wait({sending, exited}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
            assert sending.done(), (
                f"the worker sent {len(api.messages)} messages (exit code {proc.returncode})"
            )
        finally:
            sending.cancel()
            if proc.returncode is None:
                os.kill(proc.pid, signal.SIGKILL)
            await exited
        assert proc.returncode == -signal.SIGKILL
        at_kill = Counter(r.status for r in (await rows(db)).values())
        assert at_kill["sending"] > 0, at_kill  # it died holding claimed rows
        assert at_kill["sent"] + at_kill["sending"] + at_kill["queued"] == len(ids)

        # An hour later (well past the lease and the settling time), another worker settles
        # what the dead one left, then sends the rest.
        assert settings.send_lease_seconds + settings.reconcile_after_seconds < 3600
        clock.set(clock.now() + timedelta(hours=1))
        channel = build_sms_channel(settings)
        sender = make_sender(db, {"sms": channel}, clock, settings, worker_id="second")
        try:
            settled = await sender.reconcile()
            assert settled > 0
            assert await sender.reconcile() >= 0
            while await sender.send_due(1000):
                pass
        finally:
            await channel.close()

        got = await rows(db)
        assert {got[i].status for i in ids} == {"sent"}
        for n in numbers:
            [message] = api.created_to(f.phone(n))
            assert message["sid"] in {got[i].provider_id for i in ids}
        assert api.duplicates() == 0
        assert len(api.messages) == len(ids)
        assert sender.stats["lease_expired"] == at_kill["sending"]


async def test_periodic_jobs_run_on_one_leader_and_another_takes_over_when_it_dies(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    dbs = [Database.from_url(db_url), Database.from_url(db_url)]
    runs: list[str] = []
    workers = []
    for i, d in enumerate(dbs):
        sender = make_sender(d, {"sms": RecordingChannel(clock)}, clock, settings, f"w{i}")
        worker = Worker(d, sender, settings)

        async def job(name: str = f"w{i}") -> None:
            runs.append(name)

        worker.add_periodic("plan", job, seconds=60)
        workers.append(worker)
    try:
        assert await workers[0].run_periodic("plan")
        assert not await workers[1].run_periodic("plan")
        assert runs == ["w0"]
        if db.is_sqlite:
            await workers[0].stop(grace=1)  # the process lock goes with the leader
            assert await workers[1].run_periodic("plan")
            assert runs == ["w0", "w1"]
            return
        # The leader's process dies: PostgreSQL ends its session and frees the lock.
        async with db.session() as s:
            await s.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = :key AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": LEADER_LOCK_KEY},
            )
        assert await workers[1].run_periodic("plan")
        assert not await workers[0].run_periodic("plan")  # steps down, cannot take it back
        assert runs == ["w0", "w1"]
    finally:
        for w in workers:
            await w.stop(grace=1)
        for d in dbs:
            await d.dispose()


def test_add_periodic_takes_an_interval_or_a_cron(settings: Settings, clock: FakeClock) -> None:
    sender = make_sender(None, {}, clock, settings)  # type: ignore[arg-type]
    worker = Worker(None, sender, settings)  # type: ignore[arg-type]

    async def job() -> None:
        return None

    worker.add_periodic("digest", job, cron={"hour": 8, "minute": 0})
    with pytest.raises(ValueError, match="exactly one"):
        worker.add_periodic("both", job, seconds=5, cron={"hour": 8})
    with pytest.raises(ValueError, match="already registered"):
        worker.add_periodic("digest", job, seconds=5)


async def test_a_job_marked_run_at_start_runs_at_once_and_never_twice_at_the_same_time(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    sender = make_sender(db, {"sms": RecordingChannel(clock)}, clock, settings, "w0")
    worker = Worker(db, sender, settings, send_interval=3600)
    runs: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def plan() -> None:
        runs.append("plan")
        started.set()
        await release.wait()

    worker.add_periodic("plan", plan, seconds=3600, run_at_start=True)
    worker.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=10)  # no tick needed: at once
        await worker._run_leader_job("plan")  # the metronome's tick while it still runs
        assert runs == ["plan"]
        release.set()
    finally:
        await worker.stop(grace=5)
    assert runs == ["plan"]


async def test_a_started_worker_sends_what_is_due_and_stops_cleanly(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    ids = await queue(db, clock, [1, 2, 3])
    channel = RecordingChannel()
    # Real time passes in the worker (its metronome, the send slots), from T0.
    running = RunningClock(T0)
    async with worker_context(db, settings, running, channels={"sms": channel}) as worker:
        await asyncio.wait_for(channel.wait_for_sent(3), timeout=20)
        worker.wake()
    got = await rows(db)
    assert {got[i].status for i in ids} == {"sent"}
    assert sorted(channel.counts().values()) == [1, 1, 1]


async def test_run_worker_sends_through_the_sandbox_until_told_to_stop(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    [row_id] = await queue(db, clock, [4])
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(db, settings, clock=RunningClock(T0), stop=stop))

    async def delivered() -> bool:
        return (await rows(db))[row_id].status == "delivered"

    try:
        await wait_for(delivered)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert (await rows(db))[row_id].provider == "sandbox"
