"""TelegramChannel against the fake Bot API, through the real sender: errors classified in the
channel (Forbidden, ChatMigrated, RetryAfter, BadRequest), the stored state they change, and
what an outbox row's payload asks for."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.warnings import PTBDeprecationWarning

from config.clock import FakeClock
from config.settings import Settings
from scheduler.delivery.channels.base import OutgoingMessage, TransportError
from scheduler.delivery.channels.telegram import build_telegram_channel, classify
from storage.db import Database
from storage.delivery import load_extras
from storage.models import OutboxMessage, Person, TelegramGroup, TelegramRsvpCard
from storage.telegram import group_for_chat
from tests import factories as f
from tests.fakes.telegram_updates import Harness, group, harness, private, user
from tests.fakes.telegram_world import World, build_world

BASIC = group(-4001, "St Mary's")
SUPER = -1004001


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    w = await build_world(db, clock)
    async with db.session() as s:
        row = await s.scalar(select(TelegramGroup).where(TelegramGroup.chat_id == -1001))
        assert row is not None
        row.chat_id = BASIC["id"]  # a basic group, not yet a supergroup
    return w


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_chat_migrated_moves_the_group_to_its_new_id_and_resends_once(
    tg: Harness, db: Database, world: World
) -> None:
    leader = world.users["leader_a"]
    await tg.send(tg.updates.text(leader, BASIC, "/rsvp"))
    await tg.send(tg.updates.text(leader, BASIC, "/turnout"))
    tg.api.migrate(BASIC["id"], SUPER)
    await tg.drain()

    calls = [(c.method, c.chat_id, c.status) for c in tg.api.calls if c.method == "sendMessage"]
    # The first message found out (400, then resent to the new id); the second was already
    # readdressed, so it went straight to the supergroup.
    assert calls == [
        ("sendMessage", BASIC["id"], 400),
        ("sendMessage", SUPER, 200),
        ("sendMessage", SUPER, 200),
    ]
    assert [(r.status, r.to_address) for r in await rows(db)] == [
        ("sent", str(SUPER)),
        ("sent", str(SUPER)),
    ]
    async with db.session() as s:
        moved = await group_for_chat(s, SUPER)
        card = await s.scalar(select(TelegramRsvpCard))
    assert moved is not None and moved.migrated_from_chat_id == BASIC["id"]
    assert moved.institution_id == world.mary.id
    assert card is not None and card.chat_id == SUPER and card.message_id is not None
    # The group carries on under its new id.
    new_chat = group(SUPER, "St Mary's")
    await tg.send(tg.updates.text(leader, new_chat, "/chase"))
    await tg.drain()
    assert "not replied yet" in tg.texts(SUPER)[-1]


async def test_a_migration_service_message_updates_the_stored_group_too(
    tg: Harness, db: Database, world: World
) -> None:
    await tg.send(tg.updates.migrated(world.users["leader_a"], BASIC, SUPER))
    async with db.session() as s:
        assert await group_for_chat(s, BASIC["id"]) is None
        moved = await group_for_chat(s, SUPER)
    assert moved is not None and moved.institution_id == world.mary.id


async def test_chat_migrated_twice_fails_instead_of_chasing_forever(
    tg: Harness, db: Database, world: World
) -> None:
    await tg.send(tg.updates.text(world.users["leader_a"], BASIC, "/turnout"))
    tg.api.migrate(BASIC["id"], SUPER)
    tg.api.migrate(SUPER, -1009999)
    await tg.drain()
    sends = [c for c in tg.api.calls if c.method == "sendMessage"]
    assert len(sends) == 2
    (row,) = await rows(db)
    assert (row.status, row.error_code, row.attempts) == ("failed", "migrated", 1)


async def test_forbidden_marks_the_person_blocked_and_stops_messages_until_they_write_again(
    tg: Harness, db: Database, world: World
) -> None:
    member = world.users["member"]
    tg.api.block(member["id"])
    await tg.send(tg.updates.text(member, world.dm("member"), "/help"))
    await tg.drain()
    (row,) = await rows(db)
    assert (row.status, row.error_code) == ("failed", "403")
    async with db.session() as s:
        ann = await s.get(Person, world.people["member"].id)
    assert ann is not None and ann.telegram_status == "blocked"
    # Unblocked: writing to the bot again makes them reachable, and the answer goes out.
    tg.api.blocked.clear()
    await tg.send(tg.updates.text(member, world.dm("member"), "HELP"))
    await tg.drain()
    async with db.session() as s:
        ann = await s.get(Person, world.people["member"].id)
    assert ann is not None and ann.telegram_status == "ok"
    assert [r.status for r in await rows(db)] == ["failed", "sent"]


async def test_forbidden_in_a_group_marks_the_group_removed(
    tg: Harness, db: Database, world: World
) -> None:
    await tg.send(tg.updates.text(world.users["leader_a"], BASIC, "/turnout"))
    tg.api.fail_next("forbidden", chat_id=BASIC["id"])
    await tg.drain()
    async with db.session() as s:
        assert await group_for_chat(s, BASIC["id"]) is None
        stored = await s.scalar(select(TelegramGroup).where(TelegramGroup.chat_id == BASIC["id"]))
    assert stored is not None and stored.status == "removed"


async def test_retry_after_is_honoured(
    tg: Harness, db: Database, world: World, clock: FakeClock
) -> None:
    member = world.users["member"]
    await tg.send(tg.updates.text(member, world.dm("member"), "/help"))
    tg.api.fail_next("retry_after", retry_after=7)
    start = clock.now()
    await tg.drain()
    attempts = [c for c in tg.api.calls if c.method == "sendMessage"]
    assert [c.status for c in attempts] == [429, 200]
    (row,) = await rows(db)
    assert row.status == "sent" and row.attempts == 2
    assert clock.now() - start >= timedelta(seconds=7)


async def test_a_bad_request_is_permanent(tg: Harness, db: Database, world: World) -> None:
    await tg.send(tg.updates.text(world.users["member"], world.dm("member"), "/help"))
    tg.api.fail_next("bad_request")
    await tg.drain()
    (row,) = await rows(db)
    assert (row.status, row.error_code, row.attempts) == ("failed", "400", 1)


async def test_an_edit_that_changes_nothing_counts_as_done(
    tg: Harness, db: Database, world: World
) -> None:
    leader = world.users["leader_a"]
    await tg.send(tg.updates.text(leader, BASIC, "/rsvp"))
    await tg.drain()
    async with db.session() as s:
        card = await s.scalar(select(TelegramRsvpCard))
    assert card is not None and card.message_id is not None
    tg.api.fail_next("not_modified", method="editMessageText")
    await tg.send(tg.updates.tap(leader, BASIC, card.message_id, f"c:{card.id}:n"))
    await tg.drain()
    assert [r.status for r in await rows(db) if r.status != "sent"] == []


async def test_an_edit_queued_before_its_card_went_out_waits_for_it(
    db: Database, settings: Settings, clock: FakeClock, tg: Harness, world: World
) -> None:
    async with db.session() as s:
        card = TelegramRsvpCard(
            chat_id=BASIC["id"],
            action_id=world.action.id,
            institution_id=world.mary.id,
            created_at=clock.now(),
        )
        s.add(card)
        await s.flush()
        row = OutboxMessage(
            dedupe_key="edit-early",
            channel="telegram",
            to_address=str(BASIC["id"]),
            body="counts",
            template="tg_card",
            payload={"edit_card": card.id},
            not_before=clock.now(),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        s.add(row)
    # The claim reads the row's extras (storage.delivery.load_extras): the card, not sent yet.
    async with db.session() as s:
        claimed = await s.get(OutboxMessage, row.id)
        assert claimed is not None
        extras = (await load_extras(s, [claimed]))[row.id]
    assert extras.card is not None and extras.card.message_id is None
    message = OutgoingMessage(
        row.id, str(BASIC["id"]), "counts", extras.payload, extras.template, card=extras.card
    )
    channel = build_telegram_channel(tg.settings)
    try:
        with pytest.raises(TransportError) as raised:
            await channel.send(message)
    finally:
        await channel.close()
    assert not raised.value.permanent and raised.value.code == "card_pending"


def test_errors_are_classified_for_the_sender() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # PTB's own, on construction
        flood = RetryAfter(12)
    retry = classify(flood, 5001, idempotent=False)
    assert (retry.permanent, retry.retry_after) == (False, 12.0)
    blocked = classify(Forbidden("Forbidden: bot was blocked by the user"), 5001, idempotent=False)
    assert (blocked.permanent, blocked.effect) == (True, "blocked")
    kicked = classify(Forbidden("Forbidden: bot was kicked"), -4001, idempotent=False)
    assert (kicked.permanent, kicked.effect) == (True, None)
    assert classify(BadRequest("Bad Request: chat not found"), 1, idempotent=False).permanent
    # A timeout after the request left may have sent it: never blindly resend a new message...
    late = TimedOut()
    late.__cause__ = httpx.ReadTimeout("read")
    assert classify(late, 1, idempotent=False).ambiguous
    # ...but an edit can safely be repeated, and a refused connection sent nothing.
    assert not classify(late, 1, idempotent=True).ambiguous
    refused = NetworkError("httpx.ConnectError")
    refused.__cause__ = httpx.ConnectError("refused")
    outcome = classify(refused, 1, idempotent=False)
    assert not outcome.ambiguous and not outcome.permanent


async def test_a_photo_row_is_sent_with_send_photo_and_its_caption(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    from storage.models import OutboxAttachment

    now = clock.now()
    async with db.session() as s:
        org = await f.person(s, "Olu Adeyemi", 1, now)
        org.telegram_user_id = 9001
        row = OutboxMessage(
            dedupe_key="chart",
            channel="telegram",
            person_id=org.id,
            to_address="9001",
            body="Accountability Assembly: committed vs confirmed, Tue 10 Mar",
            template="digest_chart",
            not_before=now,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        await s.flush()
        s.add(
            OutboxAttachment(
                outbox_id=row.id,
                filename="chart.png",
                content_type="image/png",
                data=b"\x89PNG fake",
                created_at=now,
            )
        )
    await tg.drain()
    (photo,) = tg.api.sent("sendPhoto", chat_id=9001)
    assert photo.files["photo"] == b"\x89PNG fake"
    assert photo.params["caption"].startswith("Accountability Assembly: committed")
    (sent,) = await rows(db)
    assert sent.status == "sent" and sent.provider_id == "9001:1001"


async def test_the_unlinked_are_answered_at_their_chat_without_a_person(
    tg: Harness, db: Database
) -> None:
    sam = user(5009, "Sam")
    await tg.send(tg.updates.text(sam, private(sam), "/turnout"))
    await tg.drain()
    (row,) = await rows(db)
    assert (row.person_id, row.to_address, row.status) == (None, "5009", "sent")
