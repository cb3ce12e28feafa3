"""Texts handled side by side (the webhook benchmark found this one on PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import InboundMessage, Person
from tests import factories as f


async def test_a_new_number_created_by_a_text_handled_alongside_is_used_not_failed(
    db: Database, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two first texts from one number: the other one's transaction created the person after
    # this one looked and found no one (on PostgreSQL both run at once).
    async with db.session() as s:
        await f.person(s, "", 1, clock.now())
    real = InboundPipeline.find_person
    looked: list[str] = []

    async def found_no_one_at_first(
        self: InboundPipeline, session: AsyncSession, inbound: InboundMessage
    ) -> Person | None:
        looked.append(inbound.sender)
        return None if len(looked) == 1 else await real(self, session, inbound)

    monkeypatch.setattr(InboundPipeline, "find_person", found_no_one_at_first)
    pipeline = InboundPipeline(db, settings, clock)

    result = await pipeline.receive(
        IncomingText("sms", "twilio", "SM2", f.phone(1), "Is this the assembly?")
    )

    assert [r.template for r in result.replies] == ["inbox_ack"]
    async with db.session() as s:
        inbound = await s.scalar(select(InboundMessage))
        people = await s.scalar(select(func.count()).select_from(Person))
    assert inbound is not None and inbound.error is None and inbound.handled_at is not None
    assert people == 1
