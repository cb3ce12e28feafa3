"""The sender against the real TwilioSms channel and a fake Twilio API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from scheduler.delivery.channels import Channel, build_sms_channel
from scheduler.delivery.channels.base import OutgoingMessage, SendResult, TransportError
from scheduler.delivery.channels.twilio_sms import TwilioSms
from scheduler.delivery.ratelimit import Limit, reserve
from scheduler.delivery.sender import Sender
from storage.db import Database
from storage.models import DeliveryEvent, OutboxMessage, Person
from storage.outbox import Draft, Envelope, enqueue
from tests import factories as f
from tests.fakes import FakeSleep, RecordingChannel
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, Failure, FakeTwilioApi, Shares

FROM = "+447700900000"
CALLBACK = "https://turnout.example.org/webhooks/twilio/status"


def make_settings(db_url: str, api_url: str = "", **extra: str) -> Settings:
    env = {
        "TURNOUT_DATABASE_URL": db_url,
        "TURNOUT_ALLIANCE_NAME": "Leicester Citizens",
        "TURNOUT_PUBLIC_URL": "https://turnout.example.org",
        "TURNOUT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TURNOUT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TURNOUT_TWILIO_FROM": FROM,
        "TURNOUT_TWILIO_API_URL": api_url or "http://127.0.0.1:9",
    }
    env.update({f"TURNOUT_{k}": v for k, v in extra.items()})
    return Settings.from_env(env, env_file=None)


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi(clock=clock) as fake:
        yield fake


@pytest.fixture
def twilio_settings(db_url: str, api: FakeTwilioApi) -> Settings:
    return make_settings(db_url, api.url)


@pytest.fixture
async def sms(twilio_settings: Settings) -> AsyncIterator[Channel]:
    channel = build_sms_channel(twilio_settings)
    yield channel
    await channel.close()


def make_sender(
    db: Database,
    channels: Mapping[str, Channel],
    clock: FakeClock,
    settings: Settings,
    worker_id: str = "w1",
) -> Sender:
    return Sender(
        db,
        channels,
        clock,
        settings,
        worker_id=worker_id,
        sleep=FakeSleep(clock),
        rng=random.Random(7),
    )


async def queue(
    db: Database,
    clock: FakeClock,
    numbers: range | list[int],
    *,
    kind: str = "bulk",
    template: str = "help",
    timezone: str = "Europe/London",
    expires_at: datetime | None = None,
    not_before: datetime | None = None,
) -> list[int]:
    """One person per number, each with one message in the outbox; returns the row ids."""
    now = clock.now()
    ids = []
    async with db.session() as s:
        for n in numbers:
            person = await s.scalar(select(Person).where(Person.phone == f.phone(n)))
            if person is None:
                person = await f.person(s, f"Resident {n}", n, now, timezone=timezone)
            rows = await enqueue(
                s,
                person,
                Envelope(
                    Draft(template, {}),
                    f"test:{template}:{kind}:{n}",
                    kind=kind,
                    not_before=not_before,
                    expires_at=expires_at,
                ),
                now=now,
                alliance="Leicester Citizens",
            )
            ids += [r.id for r in rows]
    return ids


async def rows(db: Database) -> dict[int, OutboxMessage]:
    async with db.session() as s:
        return {r.id: r for r in await s.scalars(select(OutboxMessage))}


async def person(db: Database, n: int) -> Person:
    async with db.session() as s:
        p = await s.scalar(select(Person).where(Person.phone == f.phone(n)))
    assert p is not None
    return p


async def test_it_posts_the_exact_twilio_payload_and_records_the_send(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    [row_id] = await queue(db, clock, [1])
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)

    assert await sender.send_due() == 1

    [post] = api.posts()
    assert post.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert post.auth_ok
    row = (await rows(db))[row_id]
    assert post.form == {
        "To": "+447700900001",
        "From": FROM,
        "Body": row.body,
        "StatusCallback": CALLBACK,
    }
    assert row.body.startswith("Leicester Citizens texts you")
    [created] = api.messages
    assert (row.status, row.provider, row.provider_id) == ("sent", "twilio", created["sid"])
    assert created["sid"].startswith("SM") and len(created["sid"]) == 34
    assert (row.attempts, row.sent_at, row.lease_owner, row.lease_until) == (
        1,
        clock.now(),
        None,
        None,
    )
    async with db.session() as s:
        events = list(await s.scalars(select(DeliveryEvent)))
    assert [(e.kind, e.status, e.provider_id) for e in events] == [
        ("attempt", "sent", created["sid"])
    ]


async def test_it_sends_through_a_messaging_service_when_the_sender_is_one(
    db: Database, db_url: str, clock: FakeClock, api: FakeTwilioApi
) -> None:
    settings = make_settings(db_url, api.url, TWILIO_FROM="MG" + "a" * 32)
    channel = build_sms_channel(settings)
    await queue(db, clock, [2])
    try:
        await make_sender(db, {"sms": channel}, clock, settings).send_due()
    finally:
        await channel.close()
    [post] = api.posts()
    assert post.form["MessagingServiceSid"] == "MG" + "a" * 32
    assert "From" not in post.form
    assert api.messages[0]["status"] == "accepted"


async def test_it_sends_nothing_to_someone_who_opted_out_after_planning(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    [row_id] = await queue(db, clock, [3])
    async with db.session() as s:
        await s.execute(
            update(Person).where(Person.phone == f.phone(3)).values(consent="opted_out")
        )
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)

    assert await sender.send_due() == 1

    row = (await rows(db))[row_id]
    assert (row.status, row.error_code, row.attempts) == ("cancelled", "opted_out", 0)
    assert api.posts() == []
    assert sender.stats["opted_out"] == 1


async def test_stop_between_planning_and_sending_sends_only_the_stop_confirmation(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    await queue(db, clock, [4], template="help")
    pipeline = InboundPipeline(db, twilio_settings, clock)
    await pipeline.receive(IncomingText("sms", "twilio", "SMstop", f.phone(4), "STOP", FROM))
    # A carrier-side or admin opt-out leaves the invitation queued: the sender still refuses it.
    async with db.session() as s:
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.template == "help")
            .values(status="queued", error_code=None)
        )

    await make_sender(db, {"sms": sms}, clock, twilio_settings).send_due()

    assert [p.form["Body"][:14] for p in api.posts()] == ["We got your ST"]
    by_template = {r.template: r for r in (await rows(db)).values()}
    assert by_template["stop_confirm"].status == "sent"
    assert (by_template["help"].status, by_template["help"].error_code) == (
        "cancelled",
        "opted_out",
    )


@pytest.mark.parametrize(
    ("code", "field", "value"),
    [
        (21610, "consent", "opted_out"),
        (21211, "phone_status", "invalid"),
        (21614, "phone_status", "not_mobile"),
    ],
)
async def test_it_never_retries_a_permanent_error_and_updates_the_person(
    db: Database,
    clock: FakeClock,
    twilio_settings: Settings,
    sms: Channel,
    api: FakeTwilioApi,
    code: int,
    field: str,
    value: str,
) -> None:
    api.permanent[f.phone(5)] = code
    [first] = await queue(db, clock, [5])
    later = clock.now() + timedelta(hours=1)
    [second] = await queue(db, clock, [5], kind="reply", not_before=later)
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)
    await sender.send_due()
    for _ in range(3):
        clock.advance(hours=6)
        await sender.send_due()
        await sender.reconcile()

    assert len(api.posts()) == 1
    got = await rows(db)
    assert (got[first].status, got[first].error_code, got[first].attempts) == (
        "failed",
        str(code),
        1,
    )
    assert got[second].status == "cancelled"
    p = await person(db, 5)
    assert getattr(p, field) == value
    if code == 21610:
        assert p.consent_source == "carrier"


async def test_it_retries_429_and_500_with_backoff_and_then_sends_once(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    api.fail_next(Failure("429"))
    api.fail_next(Failure("500"))
    [row_id] = await queue(db, clock, [6])
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)

    await sender.send_due()
    row = (await rows(db))[row_id]
    assert (row.status, row.error_code, row.attempts) == ("queued", "20429", 1)
    assert clock.now() <= row.not_before <= clock.now() + timedelta(seconds=5)
    assert await sender.send_due() == 0  # not due yet
    for _ in range(2):
        clock.set(max(clock.now(), (await rows(db))[row_id].not_before))
        await sender.send_due()

    row = (await rows(db))[row_id]
    assert (row.status, row.attempts, row.error_code) == ("sent", 3, None)
    assert [p.status for p in api.posts()] == [429, 500, 201]
    assert len(api.messages) == 1
    async with db.session() as s:
        statuses = list(await s.scalars(select(DeliveryEvent.status).order_by(DeliveryEvent.id)))
    assert statuses == ["queued", "queued", "sent"]


async def test_it_gives_up_after_the_maximum_attempts(
    db: Database, db_url: str, clock: FakeClock, api: FakeTwilioApi
) -> None:
    settings = make_settings(db_url, api.url, SEND_MAX_ATTEMPTS="3")
    api.failures = Shares(server_error=1.0)
    [row_id] = await queue(db, clock, [7])
    channel = build_sms_channel(settings)
    sender = make_sender(db, {"sms": channel}, clock, settings)
    try:
        for _ in range(6):
            await sender.send_due()
            clock.advance(hours=1)
    finally:
        await channel.close()
    row = (await rows(db))[row_id]
    assert (row.status, row.attempts, row.error_code) == ("failed", 3, "20500")
    assert len(api.posts()) == 3


def test_backoff_doubles_with_full_jitter_up_to_the_cap_and_honours_retry_after(
    settings: Settings, clock: FakeClock
) -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    sender = Sender(None, {}, clock, settings, worker_id="w", rng=Top())  # type: ignore[arg-type]
    tops = [sender.backoff(n).total_seconds() for n in (1, 2, 3, 4, 12)]
    assert tops == [5, 10, 20, 40, 1800]
    assert sender.backoff(1, retry_after=60).total_seconds() == 60
    jittered = Sender(None, {}, clock, settings, worker_id="w", rng=random.Random(1))  # type: ignore[arg-type]
    draws = {jittered.backoff(3).total_seconds() for _ in range(50)}
    assert len(draws) == 50 and all(0 <= d <= 20 for d in draws)


async def test_a_flaky_provider_still_ends_with_every_message_delivered_once(
    db: Database, clock: FakeClock, twilio_settings: Settings, api: FakeTwilioApi
) -> None:
    api.failures = Shares(
        too_many=0.2, server_error=0.15, timeout=0.1, timeout_creates=0.5, timeout_delay=0.3
    )
    numbers = range(10, 70)
    ids = await queue(db, clock, numbers)
    channel = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, CALLBACK, api_url=api.url, timeout=0.1)
    sender = make_sender(db, {"sms": channel}, clock, twilio_settings)
    try:
        for _ in range(40):
            await sender.send_due(1000)
            got = await rows(db)
            if all(got[i].status == "sent" for i in ids):
                break
            clock.advance(minutes=5)
            await sender.reconcile()
    finally:
        await channel.close()

    got = await rows(db)
    assert {got[i].status for i in ids} == {"sent"}
    for n in numbers:
        [message] = api.created_to(f.phone(n))
        assert any(got[i].provider_id == message["sid"] for i in ids)
    assert api.duplicates() == 0
    # The run did meet every kind of failure, and settled the unknowns both ways.
    assert {p.status for p in api.posts()} >= {0, 429, 500, 201}
    assert sender.stats["retried"] > 0 and sender.stats["unknown"] > 0
    assert sender.stats["reconciled"] > 0 and sender.stats["requeued"] > 0


@pytest.mark.parametrize("created", [True, False])
async def test_a_timeout_is_never_blindly_resent_but_settled_with_the_provider(
    db: Database,
    clock: FakeClock,
    twilio_settings: Settings,
    api: FakeTwilioApi,
    created: bool,
) -> None:
    api.fail_next(Failure("timeout", creates=created, delay=0.3))
    [row_id] = await queue(db, clock, [8])
    channel = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, CALLBACK, api_url=api.url, timeout=0.1)
    sender = make_sender(db, {"sms": channel}, clock, twilio_settings)
    try:
        await sender.send_due()
        row = (await rows(db))[row_id]
        assert (row.status, row.error_code) == ("unknown", "unknown")
        clock.advance(seconds=30)
        await sender.reconcile()  # too soon to ask: the provider's records may lag
        await sender.send_due()
        assert (await rows(db))[row_id].status == "unknown"
        assert len(api.posts()) == 1

        clock.advance(seconds=twilio_settings.send_lease_seconds + 120)
        assert await sender.reconcile() == 1
        await sender.send_due()
    finally:
        await channel.close()

    row = (await rows(db))[row_id]
    [message] = api.created_to(f.phone(8))
    assert (row.status, row.provider_id) == ("sent", message["sid"])
    assert len(api.posts()) == (1 if created else 2)


async def test_a_channel_that_cannot_tell_leaves_an_unknown_row_for_an_organiser(
    db: Database, clock: FakeClock, twilio_settings: Settings
) -> None:
    class Hangs(RecordingChannel):
        async def send(self, message: OutgoingMessage) -> SendResult:
            raise TransportError("read timeout", code="unknown", ambiguous=True)

    [row_id] = await queue(db, clock, [9])
    sender = make_sender(db, {"sms": Hangs()}, clock, twilio_settings)
    await sender.send_due()
    clock.advance(hours=2)
    assert await sender.reconcile() == 0
    await sender.send_due()
    assert (await rows(db))[row_id].status == "unknown"


async def test_a_lease_left_by_a_dead_worker_becomes_unknown(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    [row_id] = await queue(db, clock, [11])
    async with db.session() as s:
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(
                status="sending",
                attempts=1,
                lease_owner="dead",
                lease_until=clock.now() + timedelta(seconds=60),
            )
        )
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)
    assert await sender.reconcile() == 0  # the lease still runs
    clock.advance(seconds=61)
    assert await sender.reconcile() == 1
    assert (await rows(db))[row_id].status == "unknown"
    clock.advance(seconds=120)
    assert await sender.reconcile() == 1  # Twilio has nothing: it never left
    await sender.send_due()
    row = (await rows(db))[row_id]
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(api.messages) == 1


async def test_quiet_hours_hold_bulk_until_morning_but_not_replies(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    clock.set(datetime(2026, 3, 10, 22, 30, tzinfo=UTC))  # 22:30 in London, 18:30 in New York
    [bulk] = await queue(db, clock, [12])
    [reply] = await queue(db, clock, [13], kind="reply")
    [away] = await queue(db, clock, [14], timezone="America/New_York")
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)

    await sender.send_due()

    got = await rows(db)
    assert (got[bulk].status, got[bulk].not_before) == (
        "queued",
        datetime(2026, 3, 11, 9, 0, tzinfo=UTC),
    )
    assert got[reply].status == got[away].status == "sent"
    clock.set(datetime(2026, 3, 11, 8, 59, tzinfo=UTC))
    assert await sender.send_due() == 0
    clock.set(datetime(2026, 3, 11, 9, 0, tzinfo=UTC))
    assert await sender.send_due() == 1
    assert (await rows(db))[bulk].status == "sent"
    assert sender.stats["deferred"] == 1


async def test_quiet_hours_follow_the_clock_change(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    # 29 March 2026: London goes to BST overnight; 09:00 local is 08:00 UTC.
    clock.set(datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    [bulk] = await queue(db, clock, [15])
    await make_sender(db, {"sms": sms}, clock, twilio_settings).send_due()
    assert (await rows(db))[bulk].not_before == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


async def test_a_bulk_message_that_would_arrive_too_late_is_dropped_and_counted(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    clock.set(datetime(2026, 3, 10, 22, 30, tzinfo=UTC))
    [row_id] = await queue(db, clock, [16], expires_at=datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)
    assert await sender.send_due() == 1
    row = (await rows(db))[row_id]
    assert (row.status, row.error_code) == ("cancelled", "too_late")
    assert sender.stats["too_late"] == 1
    assert api.posts() == []


async def test_an_expired_message_is_cancelled_and_counted(
    db: Database, clock: FakeClock, twilio_settings: Settings, sms: Channel, api: FakeTwilioApi
) -> None:
    ids = await queue(db, clock, [17, 18], expires_at=clock.now() + timedelta(minutes=1))
    clock.advance(minutes=1)
    sender = make_sender(db, {"sms": sms}, clock, twilio_settings)
    assert await sender.send_due() == 2
    got = await rows(db)
    assert {(got[i].status, got[i].error_code) for i in ids} == {("cancelled", "expired")}
    assert sender.stats["expired"] == 2
    assert api.posts() == []
    async with db.session() as s:
        cancels = await s.scalar(
            select(func.count()).select_from(DeliveryEvent).where(DeliveryEvent.kind == "cancel")
        )
    assert cancels == 2


async def test_replies_go_ahead_of_bulk(
    db: Database, clock: FakeClock, twilio_settings: Settings
) -> None:
    await queue(db, clock, range(20, 30))
    [reply] = await queue(db, clock, [30], kind="reply")
    channel = RecordingChannel(clock)
    await make_sender(db, {"sms": channel}, clock, twilio_settings).send_due(1)
    assert [m.outbox_id for m in channel.sent] == [reply]


async def test_it_paces_sms_to_the_configured_segments_per_second(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    settings = make_settings(db_url, SMS_RATE_PER_SECOND="5")
    await queue(db, clock, range(31, 51))
    channel = RecordingChannel(clock)
    start = clock.now().timestamp()
    assert await make_sender(db, {"sms": channel}, clock, settings).send_due(100) == 20
    gaps = [b - a for a, b in itertools.pairwise(channel.times)]
    assert len(channel.sent) == 20
    assert min(gaps) >= 0.2 - 1e-6
    assert channel.times[-1] - start == pytest.approx(19 * 0.2)


async def test_two_workers_reserving_at_once_never_exceed_the_shared_rate(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    now = clock.now()
    limit = Limit("sms:+447700900000", rate=10.0)
    dbs = [Database.from_url(db_url), Database.from_url(db_url)]

    async def worker(d: Database, first: int) -> list[datetime]:
        slots = []
        for batch in range(5):
            async with d.session() as s:
                wants = [(first + batch * 4 + i, [limit]) for i in range(4)]
                plan = await reserve(s, wants, now, timedelta(seconds=10))
            slots += plan.slots.values()
        return slots

    try:
        a, b = await asyncio.gather(worker(dbs[0], 0), worker(dbs[1], 1000))
    finally:
        for d in dbs:
            await d.dispose()
    together = sorted(a + b)
    assert len(together) == 40
    gaps = [(y - x).total_seconds() for x, y in itertools.pairwise(together)]
    assert min(gaps) == pytest.approx(0.1)
    assert (together[-1] - now).total_seconds() == pytest.approx(3.9)


async def test_telegram_is_paced_per_chat_and_per_group(
    db: Database, clock: FakeClock, twilio_settings: Settings
) -> None:
    now = clock.now()
    async with db.session() as s:
        for n, chat in [(1, "5001"), (2, "5001"), (3, "5001"), (4, "5002"), (5, "-100777")]:
            s.add(
                OutboxMessage(
                    dedupe_key=f"tg:{n}",
                    channel="telegram",
                    to_address=chat,
                    body=f"hello {n}",
                    kind="reply" if n != 5 else "system",
                    priority=1,
                    not_before=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        s.add(
            OutboxMessage(
                dedupe_key="tg:6",
                channel="telegram",
                to_address="-100777",
                body="hello 6",
                kind="system",
                priority=1,
                not_before=now,
                created_at=now,
                updated_at=now,
            )
        )
    channel = RecordingChannel(clock, name="telegram", provider="telegram")
    sender = make_sender(db, {"telegram": channel}, clock, twilio_settings)
    for _ in range(10):
        await sender.send_due()
        clock.advance(seconds=0.5)
    times: dict[str, list[float]] = {}
    for message, at in zip(channel.sent, channel.times, strict=True):
        times.setdefault(message.to, []).append(at)
    assert len(channel.sent) == 6
    assert [b - a >= 1.0 for a, b in itertools.pairwise(times["5001"])] == [
        True,
        True,
    ]
    assert times["-100777"][1] - times["-100777"][0] >= 3.0
    assert times["5002"][0] - now.timestamp() < 0.5  # one busy chat does not hold up another


async def test_a_telegram_retry_after_holds_every_send_on_that_bot(
    db: Database, clock: FakeClock, twilio_settings: Settings
) -> None:
    class FloodOnce(RecordingChannel):
        flooded = False

        async def send(self, message: OutgoingMessage) -> SendResult:
            if not self.flooded:
                self.flooded = True
                raise TransportError("Flood control exceeded", code="429", retry_after=30)
            return await super().send(message)

    def row(key: str, chat: str) -> OutboxMessage:
        now = clock.now()
        return OutboxMessage(
            dedupe_key=key,
            channel="telegram",
            to_address=chat,
            body=key,
            kind="reply",
            priority=1,
            not_before=now,
            created_at=now,
            updated_at=now,
        )

    start = clock.now()
    async with db.session() as s:
        s.add(row("first", "6001"))
    channel = FloodOnce(clock, name="telegram", provider="telegram")
    sender = make_sender(db, {"telegram": channel}, clock, twilio_settings)
    await sender.send_due()
    async with db.session() as s:
        s.add(row("second", "6002"))
    while await sender.send_due():
        pass
    clock.advance(seconds=40)
    await sender.send_due()

    assert sorted(m.body for m in channel.sent) == ["first", "second"]
    assert min(channel.times) >= start.timestamp() + 30


async def test_bad_credentials_keep_messages_queued_rather_than_failing_them(
    db: Database, db_url: str, clock: FakeClock, api: FakeTwilioApi
) -> None:
    settings = make_settings(db_url, api.url, TWILIO_AUTH_TOKEN="wrong-token")
    [row_id] = await queue(db, clock, [19])
    channel = build_sms_channel(settings)
    try:
        await make_sender(db, {"sms": channel}, clock, settings).send_due()
    finally:
        await channel.close()
    row = (await rows(db))[row_id]
    assert (row.status, row.error_code) == ("queued", "20003")
    assert [p.auth_ok for p in api.posts()] == [False]
