"""The Sending page: the outbox in words (why a message waits, the provider's error), cancelling
what has not gone (audited, with its intro), a leader's rows only and no phone numbers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.models import DeliveryEvent, OutboxMessage
from tests import factories as f
from tests.console import Alliance, alliance, signed_in


def row(key: str, person_id: int, now: datetime, **extra: Any) -> OutboxMessage:
    values: dict[str, Any] = {
        "dedupe_key": key,
        "channel": "sms",
        "person_id": person_id,
        "to_address": f.phone(person_id),
        "body": f"Message {key}",
        "template": "invite",
        "kind": "bulk",
        "status": "queued",
        "not_before": now,
        "created_at": now,
        "updated_at": now,
        **extra,
    }
    return OutboxMessage(**values)


async def setup(db: Database, now: datetime) -> Alliance:
    people = await alliance(db, now)
    async with db.session() as s:
        s.add_all(
            [
                row("grace:intro", people.grace.id, now, template="intro", body="Who we are"),
                row("grace", people.grace.id, now, not_before=now + timedelta(hours=13)),
                row("mo", people.mo.id, now, body="For Mo"),
                row(
                    "grace-failed",
                    people.grace.id,
                    now,
                    status="failed",
                    provider="twilio",
                    error_code="30003",
                ),
                row("mo-late", people.mo.id, now, status="cancelled", error_code="too_late"),
                row("ann-sent", people.ann.id, now, status="delivered", sent_at=now),
            ]
        )
    return people


async def test_an_organiser_sees_every_row_in_words(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await setup(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    clock.advance(hours=12)  # 22:00 in London: bulk messages are held
    page = await browser.get("/sending")
    assert page.status == 200
    assert 'href="/sending" aria-current="page"' in page.text
    assert "Waiting (4)" in page.text  # Grace's two, Mo's, and Ruth's own sign-in code
    assert "A sign-in code (not shown)" in page.text
    assert "Queued: held until 09:00, quiet hours" in page.text
    assert "For Mo" in page.text
    page = await browser.get("/sending?show=failed")
    assert "Failed: the phone is switched off or out of reach (Twilio 30003)" in page.text
    page = await browser.get("/sending?show=cancelled")
    assert "Not sent: quiet hours would have held it until it was no use" in page.text
    page = await browser.get("/sending?show=delivered")
    assert "Delivered, " in page.text and "A sign-in code" not in page.text
    assert "+44" not in page.text and "07700" not in page.text
    assert (await browser.get("/sending?show=everything")).status == 400


async def test_the_sign_in_code_is_never_shown(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    for view in ("waiting", "sent", "delivered"):
        page = await browser.get(f"/sending?show={view}")
        assert "sign-in code. It expires" not in page.text


async def test_cancel_a_queued_message_and_its_intro(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await setup(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    async with db.session() as s:
        grace = await s.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == "grace"))
        sent = await s.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == "ann-sent"))
    assert grace is not None and sent is not None
    await browser.get("/sending")
    page = await browser.post(f"/sending/{grace.id}/cancel")
    assert page.status == 200 and "The message is cancelled" in page.text
    page = await browser.post(f"/sending/{sent.id}/cancel")
    assert "has already gone" in page.text
    async with db.session() as s:
        status = {
            r.dedupe_key: (r.status, r.error_code)
            for r in await s.scalars(
                select(OutboxMessage).where(OutboxMessage.person_id.is_not(None))
            )
        }
        events = list(await s.scalars(select(DeliveryEvent)))
        log = await entries(s, action="outbox_cancelled")
    assert status["grace"] == ("cancelled", "console")
    assert status["grace:intro"] == ("cancelled", "console")
    assert status["mo"] == ("queued", None) and status["ann-sent"][0] == "delivered"
    assert len(events) == 2
    assert [(e.subject_id, e.actor_person_id) for e in log] == [(grace.id, people.ruth.id)]
    assert (await browser.post("/sending/abc/cancel")).status == 404
    page = await browser.post("/sending/123456789012345/cancel")  # beyond a 32-bit id
    assert page.status == 400
    page = await browser.post(f"/sending/{grace.id}/cancel", csrf="")
    assert page.status == 403


async def test_a_leader_sees_and_cancels_only_their_peoples_messages(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await setup(db, clock.now())
    browser = await signed_in(
        web, console_settings, db, "07700 900001"
    )  # Ann, St Mary's: Grace and herself
    page = await browser.get("/sending")
    assert "Waiting (3)" in page.text and "Grace Okafor" in page.text  # and her own code
    assert "Mohammed" not in page.text and "For Mo" not in page.text
    assert "+44" not in page.text and "07700" not in page.text
    async with db.session() as s:
        mo = await s.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == "mo"))
    assert mo is not None
    page = await browser.post(f"/sending/{mo.id}/cancel")
    assert "was not cancelled" in page.text
    async with db.session() as s:
        again = await s.get(OutboxMessage, mo.id)
        assert again is not None and again.status == "queued"
