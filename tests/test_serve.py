"""`turnout serve` as assembled: the app with its extensions (the in-process worker), on the
sandbox channel: a queued invitation goes out, and a webhook's wake-up reaches the worker."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.app_keys import OUTBOX_WAKERS, wake_outbox
from bot.compose import server_extensions
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import Draft, Envelope, enqueue
from tests import factories as f


async def _status(db: Database, row_id: int) -> str:
    async with db.session() as s:
        status = await s.scalar(select(OutboxMessage.status).where(OutboxMessage.id == row_id))
    assert status is not None
    return status


async def test_the_server_runs_the_worker_in_process_and_it_sends_the_outbox(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    assert settings.sms_provider == "sandbox" and settings.run_worker_in_server
    app = create_app(settings, db=db, clock=clock, extensions=server_extensions(settings))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/healthz")).status == 200
        assert len(app[OUTBOX_WAKERS]) == 1
        now = clock.now()
        async with db.session() as s:
            ann = await f.person(s, "Ann Patel", 1, now)
            (row,) = await enqueue(
                s, ann, Envelope(Draft("help", {}), "t:1"), now=now, alliance="Leicester Citizens"
            )
        wake_outbox(app)
        # Waiting for the worker's task to run, not for time to pass: bounded, and the wake-up
        # makes it immediate.
        for _ in range(200):
            if await _status(db, row.id) not in ("queued", "sending"):
                break
            await asyncio.sleep(0.01)
        assert await _status(db, row.id) == "delivered"
    assert app[OUTBOX_WAKERS] == []
