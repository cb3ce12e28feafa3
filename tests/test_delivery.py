"""storage/delivery.py, the one place delivery bookkeeping is written: what a claim reads for a
send, an attempt's outcome with its side effects, and a provider's status callback."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from config.clock import FakeClock
from storage.db import Database
from storage.delivery import (
    Attempt,
    Card,
    Effects,
    load_extras,
    record_attempts,
    record_status,
)
from storage.models import (
    DeliveryEvent,
    OutboxAttachment,
    OutboxMessage,
    Person,
    TelegramGroup,
    TelegramRsvpCard,
)
from tests import factories as f

OLD, NEW = -4001, -1004001


def _row(key: str, to: str, now: datetime, **extra: object) -> OutboxMessage:
    values: dict[str, object] = {
        "dedupe_key": key,
        "channel": "telegram",
        "to_address": to,
        "body": "hello",
        "template": "tg_card",
        "not_before": now,
        "created_at": now,
        "updated_at": now,
    }
    values.update(extra)
    return OutboxMessage(**values)


async def test_a_claim_reads_the_payload_the_file_and_the_card_an_edit_targets(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's", now)
        action = await f.action(s, now)
        card = TelegramRsvpCard(
            chat_id=OLD, message_id=77, action_id=action.id, institution_id=mary.id, created_at=now
        )
        s.add(card)
        await s.flush()
        edit = _row("edit", str(OLD), now, payload={"edit_card": card.id})
        photo = _row("photo", str(OLD), now, template="digest")
        gone = _row("gone", str(OLD), now, payload={"edit_card": card.id + 100})
        sms = _row("sms", "+447700900001", now, channel="sms", payload=None)
        s.add_all([edit, photo, gone, sms])
        await s.flush()
        s.add(
            OutboxAttachment(
                outbox_id=photo.id,
                filename="chart.png",
                content_type="image/png",
                data=b"PNG",
                created_at=now,
            )
        )
        await s.flush()
        extras = await load_extras(s, [edit, photo, gone, sms])
    assert extras[edit.id].card == Card(card.id, OLD, 77)
    assert extras[edit.id].payload == {"edit_card": card.id}
    assert extras[photo.id].attachment is not None
    assert (extras[photo.id].attachment.filename, extras[photo.id].attachment.data) == (
        "chart.png",
        b"PNG",
    )
    assert extras[photo.id].template == "digest"
    assert extras[gone.id].card is None  # the card is gone: the channel says so, permanently
    assert sms.id not in extras  # SMS rows carry nothing beyond address and text


async def test_an_attempt_applies_a_migration_and_the_card_id_it_reports(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's", now)
        action = await f.action(s, now)
        s.add(
            TelegramGroup(
                chat_id=OLD, institution_id=mary.id, linked_at=now, updated_at=now, title="x"
            )
        )
        card = TelegramRsvpCard(
            chat_id=OLD, action_id=action.id, institution_id=mary.id, created_at=now
        )
        s.add(card)
        await s.flush()
        sent = _row("card", str(OLD), now, status="sending", lease_owner="w1")
        queued = _row("later", str(OLD), now)
        s.add_all([sent, queued])
    later = now + timedelta(seconds=1)
    async with db.session() as s:
        await record_attempts(
            s,
            "w1",
            [
                Attempt(
                    outbox_id=sent.id,
                    person_id=None,
                    to_address=str(OLD),
                    status="sent",
                    attempts=1,
                    not_before=now,
                    at=later,
                    provider="telegram",
                    provider_id=f"{NEW}:5",
                    sent_at=later,
                    effects=Effects(migrated_to=NEW, card=Card(card.id, NEW, 5)),
                )
            ],
        )
    async with db.session() as s:
        rows = {r.dedupe_key: r for r in await s.scalars(select(OutboxMessage))}
        group = await s.scalar(select(TelegramGroup))
        stored_card = await s.get(TelegramRsvpCard, card.id)
        events = list(await s.scalars(select(DeliveryEvent)))
    assert (rows["card"].status, rows["card"].to_address) == ("sent", str(NEW))
    assert rows["later"].to_address == str(NEW)  # what was still queued follows the group
    assert group is not None and (group.chat_id, group.migrated_from_chat_id) == (NEW, OLD)
    assert stored_card is not None and (stored_card.chat_id, stored_card.message_id) == (NEW, 5)
    assert [(e.kind, e.status, e.provider_id) for e in events] == [("attempt", "sent", f"{NEW}:5")]


async def test_an_attempt_by_a_worker_that_lost_the_row_changes_nothing_of_the_row(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        row = _row("x", "5001", now, status="unknown", lease_owner="w2")
        s.add(row)
    async with db.session() as s:
        await record_attempts(
            s,
            "w1",
            [
                Attempt(
                    outbox_id=row.id,
                    person_id=None,
                    to_address="5001",
                    status="sent",
                    attempts=1,
                    not_before=now,
                    at=now,
                    provider_id="5001:1",
                )
            ],
        )
    async with db.session() as s:
        stored = await s.get(OutboxMessage, row.id)
    assert stored is not None and (stored.status, stored.lease_owner) == ("unknown", "w2")


async def test_a_status_callback_moves_forward_only_and_records_what_the_error_says(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        row = _row(
            "sms",
            ann.phone or "",
            now,
            channel="sms",
            person_id=ann.id,
            status="sent",
            provider_id="SM" + "a" * 32,
        )
        s.add(row)
    sid = "SM" + "a" * 32
    async with db.session() as s:
        ours = await record_status(
            s, sid, "undelivered", error_code="21610", effect="opted_out", now=now
        )
        late = await record_status(s, sid, "sent", error_code=None, effect=None, now=now)
        other = await record_status(
            s, "SM" + "b" * 32, "sent", error_code=None, effect=None, now=now
        )
    assert (ours, late, other) == (True, True, False)
    async with db.session() as s:
        stored = await s.get(OutboxMessage, row.id)
        person = await s.get(Person, ann.id)
        events = list(await s.scalars(select(DeliveryEvent).order_by(DeliveryEvent.id)))
    assert stored is not None and (stored.status, stored.error_code) == ("undelivered", "21610")
    assert person is not None and (person.consent, person.consent_source) == (
        "opted_out",
        "carrier",
    )
    assert [(e.kind, e.status) for e in events] == [
        ("callback", "undelivered"),
        ("callback", "sent"),
    ]
