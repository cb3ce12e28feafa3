"""An operator can see it working: worker heartbeats, /metrics, /readyz."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from bot.app import create_app
from bot.app_keys import METRICS, wake_outbox
from bot.compose import run_worker, server_extensions
from config.clock import FakeClock
from config.settings import Settings, SettingsError
from scheduler.delivery.channels.twilio_sms import TwilioSms
from scheduler.delivery.sender import Sender
from scheduler.delivery.worker import worker_context
from storage.db import Database
from storage.migrate import script_heads
from storage.models import WorkerHeartbeat
from storage.monitoring import beat, heartbeats
from storage.outbox import Draft, Envelope, enqueue
from tests import factories as f
from tests.fakes import FakeSleep, RecordingChannel
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, Failure, FakeTwilioApi
from tests.test_sender import CALLBACK, FROM, make_settings, queue, rows
from tests.test_workers import wait_for
from tests.twilio_signing import encode, inbound_form, sign


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


# -- /metrics ------------------------------------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(exposition: str) -> Samples:
    """Every sample of a Prometheus text exposition, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


async def scrape(client: TestClient[Any, Any]) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return parse(await resp.text())


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


async def post_signed(
    client: TestClient[Any, Any], settings: Settings, path: str, form: dict[str, str]
) -> int:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(AUTH_TOKEN, settings.public_url + path, form),
    }
    resp = await client.post(path, data=encode(form), headers=headers)
    return resp.status


async def test_metrics_count_what_happened_and_read_the_outbox_and_workers_from_the_database(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 10, 22, 30, tzinfo=UTC))  # quiet hours in London
    async with FakeTwilioApi(clock=clock) as api:
        settings = make_settings(db_url, api.url)
        app = create_app(settings, db=db, clock=clock)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            assert sample(await scrape(client), "turnout_database_up") == 1
            # Inbound: two texts (one of them replayed by Twilio), a forged one, a malformed
            # status callback, and Telegram, which is off.
            for sid, n in (("SM" + "1" * 32, 1), ("SM" + "2" * 32, 2), ("SM" + "1" * 32, 1)):
                form = inbound_form(sid, f.phone(n), "HELP", to=FROM)
                assert await post_signed(client, settings, "/webhooks/twilio/sms", form) == 200
            forged = inbound_form("SM" + "3" * 32, f.phone(3), "YES", to=FROM)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            resp = await client.post(
                "/webhooks/twilio/sms",
                data=encode(forged),
                headers={**headers, "X-Twilio-Signature": "forged"},
            )
            assert resp.status == 403
            status_form = {"MessageSid": "SM" + "4" * 32}
            assert (
                await post_signed(client, settings, "/webhooks/twilio/status", status_form) == 400
            )
            assert (await client.post("/webhooks/telegram", json={"update_id": 1})).status == 404
            assert (await client.get("/webhooks/nothing-here")).status == 404

            # Sends: a bulk message that would arrive too late is dropped; of two replies, one
            # meets a 429 (and waits, queued), the other goes.
            await queue(db, clock, [5], expires_at=datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
            [first, second] = await queue(db, clock, [6, 7], kind="reply")
            api.fail_next(Failure("429"))
            channel = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, CALLBACK, api_url=api.url)
            sender = Sender(
                db,
                {"sms": channel},
                clock,
                settings,
                worker_id="w1",
                sleep=FakeSleep(clock),
                rng=random.Random(7),
                metrics=app[METRICS],
            )
            try:
                await sender.send_due()
            finally:
                await channel.close()
            async with db.session() as s:
                await beat(s, worker_id="w1", host="h", pid=1, leader=True, now=clock.now())
                await beat(s, worker_id="w2", host="h", pid=2, leader=False, now=clock.now())
            clock.advance(seconds=90)
            async with db.session() as s:
                await beat(s, worker_id="w2", host="h", pid=2, leader=False, now=clock.now())

            samples = await scrape(client)
    got = await rows(db)
    assert got[first].status == "queued" and got[second].status == "sent"

    assert sample(samples, "turnout_inbound_messages_total", channel="sms") == 2
    rejected = "turnout_webhook_rejections_total"
    assert sample(samples, rejected, webhook="twilio_sms", reason="signature") == 1
    assert sample(samples, rejected, webhook="twilio_status", reason="malformed") == 1
    assert sample(samples, rejected, webhook="telegram", reason="off") == 1
    assert [k for k in samples if k[0] == rejected and ("webhook", "nothing-here") in k[1]] == []
    sends = "turnout_sends_total"
    assert sample(samples, sends, channel="sms", outcome="retry", error_code="20429") == 1
    assert sample(samples, sends, channel="sms", outcome="sent", error_code="") == 1

    assert sample(samples, "turnout_outbox_messages", status="queued", channel="sms") == 1
    assert sample(samples, "turnout_outbox_messages", status="sending", channel="telegram") == 0
    sent_now = sum(1 for r in got.values() if r.status == "sent" and r.channel == "sms")
    assert sent_now == 3  # the two inline (TwiML) replies and the reply sent by the worker
    recent = "turnout_outbox_recent_messages"
    assert sample(samples, recent, status="sent", channel="sms") == sent_now
    dropped = "turnout_outbox_dropped_messages"
    assert sample(samples, dropped, reason="too_late", channel="sms") == 1
    assert sample(samples, dropped, reason="expired", channel="sms") == 0
    waited = (clock.now() - got[first].not_before).total_seconds()
    assert 85 <= sample(samples, "turnout_outbox_oldest_due_seconds") == waited
    assert sample(samples, "turnout_worker_last_seen_seconds", worker="w1") == 90
    assert sample(samples, "turnout_worker_last_seen_seconds", worker="w2") == 0
    assert sample(samples, "turnout_worker_leader", worker="w1") == 1
    assert sample(samples, "turnout_worker_leader", worker="w2") == 0


async def test_the_server_counts_its_in_process_workers_sends_and_shows_its_heartbeat(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    app = create_app(settings, db=db, clock=clock, extensions=server_extensions(settings))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        now = clock.now()
        async with db.session() as s:
            ann = await f.person(s, "Ann Patel", 1, now)
            (row,) = await enqueue(
                s, ann, Envelope(Draft("help", {}), "t:1"), now=now, alliance="Leicester Citizens"
            )
        wake_outbox(app)

        async def delivered() -> bool:
            return (await rows(db))[row.id].status == "delivered"

        await wait_for(delivered)
        samples = await scrape(client)
        # The in-process worker's heartbeat makes the server ready.
        resp = await client.get("/readyz")
        assert resp.status == 200, await resp.text()
    sends = "turnout_sends_total"
    assert sample(samples, sends, channel="sms", outcome="delivered", error_code="") == 1
    workers = [k for k in samples if k[0] == "turnout_worker_last_seen_seconds"]
    assert len(workers) == 1


async def test_a_too_large_request_is_counted_and_the_database_being_down_is_shown(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    gone = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/turnout.db")

    async def big(_request: web.Request) -> web.Response:
        raise web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2)

    app = create_app(settings, db=gone, clock=clock)
    app.router.add_post("/webhooks/big", big)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            assert (await client.post("/webhooks/big", data=b"xx")).status == 413
            samples = await scrape(client)
    finally:
        await gone.dispose()
    assert sample(samples, "turnout_database_up") == 0
    rejected = "turnout_webhook_rejections_total"
    assert sample(samples, rejected, webhook="big", reason="too_large") == 1
    assert not [k for k in samples if k[0] == "turnout_outbox_messages"]


async def test_a_separate_worker_serves_its_own_metrics_on_the_metrics_port(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(db_url, METRICS_PORT=str(port))
    settings = dataclasses.replace(settings, twilio_account_sid="", twilio_from="")
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(db, settings, clock=clock, stop=stop))
    url = f"http://127.0.0.1:{port}/metrics"
    seen: list[Samples] = []
    try:
        async with ClientSession() as session:

            async def served() -> bool:
                try:
                    async with session.get(url) as resp:
                        if resp.status != 200:
                            return False
                        seen.append(parse(await resp.text()))
                except OSError:
                    return False
                return any(k[0] == "turnout_worker_last_seen_seconds" for k in seen[-1])

            await wait_for(served)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    samples = seen[-1]
    assert sample(samples, "turnout_database_up") == 1
    [(_, labels)] = [k for k in samples if k[0] == "turnout_worker_last_seen_seconds"]
    assert dict(labels)["worker"].startswith(socket.gethostname()[:40])
    assert await _heartbeats(db) == {}


# -- /readyz -------------------------------------------------------------------------------------


async def ready(app: web.Application) -> tuple[int, dict[str, Any]]:
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/readyz")
        body: dict[str, Any] = await resp.json()
        return resp.status, body


async def test_ready_when_the_database_answers_is_migrated_and_a_worker_beat_recently(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        await beat(s, worker_id="w1", host="h", pid=1, leader=True, now=clock.now())
    clock.advance(seconds=settings.ready_worker_seconds)
    status, body = await ready(create_app(settings, db=db, clock=clock))
    assert (status, body) == (
        200,
        {
            "status": "ready",
            "failed": [],
            "checks": {"database": "ok", "migrations": "ok", "worker": "ok"},
        },
    )


async def test_not_ready_without_a_recent_worker_heartbeat(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    app = create_app(settings, db=db, clock=clock)
    status, body = await ready(app)
    assert (status, body["failed"]) == (503, ["worker"])
    assert body["checks"]["worker"] == "no worker heartbeat: is a worker running?"

    async with db.session() as s:
        await beat(s, worker_id="w1", host="h", pid=1, leader=True, now=clock.now())
    clock.advance(seconds=61)
    status, body = await ready(create_app(settings, db=db, clock=clock))
    assert (status, body["status"], body["failed"]) == (503, "not ready", ["worker"])
    assert body["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "worker": "last heartbeat 61 s ago (limit 60 s)",
    }

    unchecked = dataclasses.replace(settings, ready_worker_seconds=0)
    status, body = await ready(create_app(unchecked, db=db, clock=clock))
    assert (status, body["checks"]["worker"]) == (200, "not checked")


async def test_not_ready_when_the_database_is_behind_the_migrations(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        await beat(s, worker_id="w1", host="h", pid=1, leader=True, now=clock.now())
    [head] = script_heads()
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    try:
        status, body = await ready(create_app(settings, db=db, clock=clock))
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
    assert (status, body["failed"]) == (503, ["migrations"])
    assert body["checks"]["migrations"] == (
        f"database at 0006, this code needs {head}: run `turnout db upgrade`"
    )
    assert body["checks"]["worker"] == "ok"


async def test_not_ready_when_the_database_does_not_answer(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    gone = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/turnout.db")
    try:
        status, body = await ready(create_app(settings, db=gone, clock=clock))
    finally:
        await gone.dispose()
    assert (status, body["failed"]) == (503, ["database"])
    assert body["checks"] == {
        "database": "did not answer (OperationalError)",
        "migrations": "not checked",
        "worker": "not checked",
    }


def test_ready_worker_seconds_is_a_setting() -> None:
    env = {"TURNOUT_READY_WORKER_SECONDS": "15", "TURNOUT_METRICS_PORT": "9464"}
    settings = Settings.from_env(env, env_file=None)
    assert (settings.ready_worker_seconds, settings.metrics_port) == (15, 9464)
    assert Settings.from_env({}, env_file=None).ready_worker_seconds == 60
    with pytest.raises(SettingsError, match="TURNOUT_READY_WORKER_SECONDS"):
        Settings.from_env({"TURNOUT_READY_WORKER_SECONDS": "soon"}, env_file=None)
    with pytest.raises(SettingsError, match="TURNOUT_METRICS_PORT"):
        Settings.from_env({"TURNOUT_METRICS_PORT": "70000"}, env_file=None)
