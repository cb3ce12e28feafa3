"""An operator can see it working: worker heartbeats, /metrics, /readyz."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from bot.clock import FakeClock
from config.settings import Settings
from scheduler.worker import worker_context
from storage.db import Database
from storage.models import WorkerHeartbeat
from storage.monitoring import beat, heartbeats
from tests.fakes import RecordingChannel


async def _heartbeats(db: Database) -> dict[str, WorkerHeartbeat]:
    async with db.session() as s:
        return {h.worker_id: h for h in await heartbeats(s)}


async def test_a_worker_beats_with_its_clock_prunes_the_dead_and_leaves_when_it_stops(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        await beat(
            s, worker_id="dead", host="gone", pid=1, leader=True, now=now - timedelta(hours=2)
        )
        await beat(
            s, worker_id="quiet", host="b", pid=2, leader=False, now=now - timedelta(minutes=5)
        )
    channels = {"sms": RecordingChannel(clock)}
    async with worker_context(db, settings, clock, channels=channels, worker_id="w-7") as worker:
        rows = await _heartbeats(db)
        assert set(rows) == {"quiet", "w-7"}
        me = rows["w-7"]
        assert (me.host, me.pid, me.started_at, me.last_seen) == (
            socket.gethostname(),
            os.getpid(),
            now,
            now,
        )

        clock.advance(seconds=7)
        assert await worker.ensure_leader()
        await worker.heartbeat()
        me = (await _heartbeats(db))["w-7"]
        assert (me.started_at, me.last_seen, me.leader) == (now, now + timedelta(seconds=7), True)
    assert set(await _heartbeats(db)) == {"quiet"}
