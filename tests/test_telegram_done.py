"""Issue 3, "Done when", end to end: a leader links a group, sets a commitment, posts an RSVP
card that members tap, sees the counts in /turnout and the non-responders in /chase, and an
organiser's /digest shows every institution, with no phone number ever in a group message.

Everything goes through the real webhook (real Update JSON), the real handlers, the outbox, the
real sender and TelegramChannel, to the fake Bot API; the database is checked along the way."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import Commitment, Invitation, Person, TelegramGroup, TelegramRsvpCard
from tests import factories as f
from tests.fakes.telegram_updates import Harness, group, harness, private, user

PHONE = re.compile(r"\+?\d{10,}")
GROUP = group(-5001, "St Mary's turnout team")


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


async def test_a_leader_runs_turnout_from_the_group_and_the_organiser_sees_everyone(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Madina Mosque", now)
        action = await f.action(s, now, starts_in=timedelta(days=5))
        olu = await f.person(s, "Olu Adeyemi", 1, now, institution=mosque, role="organiser")
        olu.telegram_user_id = 9001
        grace = await f.person(s, "Grace Okafor", 2, now, institution=mary, role="leader")
        grace.telegram_user_id = 9002
        residents = [
            await f.person(s, name, n, now, institution=mary)
            for n, name in ((3, "Ann Patel"), (4, "Bola Ade"), (5, "Chen Wei"), (6, "Dee Rowe"))
        ]
        yusuf = await f.person(s, "Yusuf Khan", 7, now, institution=mosque)
        for p in [grace, *residents, yusuf]:
            await f.invite(s, action, p, now)
    olu_u, grace_u = user(9001, "Olu", "Adeyemi"), user(9002, "Grace", "Okafor")
    ann_u, bola_u = user(7003, "Ann", "Patel"), user(7004, "Bola", "Ade")

    # The organiser makes a code for St Mary's group in a private chat...
    await tg.send(tg.updates.text(olu_u, private(olu_u), "/linkcode St Mary"))
    await tg.drain()
    code = re.findall(r"/link (\w+)", tg.texts(9001)[-1])[0]
    # ...and Grace links the group with it (Telegram adds @botname in groups).
    await tg.send(tg.updates.text(grace_u, GROUP, f"/link@turnout_test_bot {code}"))
    async with db.session() as s:
        linked = await s.scalar(select(TelegramGroup))
    assert linked is not None and (linked.chat_id, linked.institution_id) == (-5001, mary.id)

    # Grace sets the commitment.
    await tg.send(tg.updates.text(grace_u, GROUP, "/commit 40"))
    async with db.session() as s:
        commitment = await s.scalar(select(Commitment))
    assert commitment is not None and (commitment.number, commitment.set_by_id) == (40, grace.id)

    # Ann links by sharing her contact; Bola with a code Grace gives her.
    await tg.send(tg.updates.contact(ann_u, "447700900003", contact_user_id=7003))
    await tg.send(tg.updates.text(grace_u, private(grace_u), "/linkcode 07700 900004"))
    await tg.drain()
    bola_code = re.findall(r"/link (\w+)", tg.texts(9002)[-1])[0]
    await tg.send(tg.updates.text(bola_u, private(bola_u), f"/start {bola_code}"))

    # The card, and the taps: Ann yes, Bola yes with a guest, Grace maybe.
    await tg.send(tg.updates.text(grace_u, GROUP, "/rsvp"))
    await tg.drain()
    card = tg.api.sent("sendMessage", chat_id=-5001)[-1]
    async with db.session() as s:
        message_id = await s.scalar(select(TelegramRsvpCard.message_id))
    assert message_id is not None
    data = [
        b["callback_data"] for row in card.params["reply_markup"]["inline_keyboard"] for b in row
    ]
    yes, maybe, _no, guest = data
    for who, choice in ((ann_u, yes), (bola_u, yes), (bola_u, guest), (grace_u, maybe)):
        answer = await tg.send(tg.updates.tap(who, GROUP, message_id, choice))
        assert answer is not None and answer["method"] == "answerCallbackQuery"
    await tg.drain()
    edit = tg.api.sent("editMessageText", chat_id=-5001)[-1]
    assert "St Mary's Church: yes 2 + 1 guests, maybe 1, no 0" in edit.text
    async with db.session() as s:
        answered = {
            name: (response, guests)
            for name, response, guests in await s.execute(
                select(Person.name, Invitation.response, Invitation.guests)
                .join(Invitation, Invitation.person_id == Person.id)
                .where(Invitation.response.is_not(None))
            )
        }
    assert answered == {
        "Ann Patel": ("yes", 0),
        "Bola Ade": ("yes", 1),
        "Grace Okafor": ("maybe", 0),
    }

    # /turnout: the numbers and the gap; /chase: the two who have not replied, by name.
    await tg.send(tg.updates.text(grace_u, GROUP, "/turnout"))
    await tg.send(tg.updates.text(grace_u, GROUP, "/chase"))
    await tg.drain()
    turnout, chase = tg.texts(-5001)[-2:]
    assert "Committed: 40\nYes: 2 + 1 guests = 3\nMaybe: 1\nNo: 0\nNot replied: 2" in turnout
    assert "37 more needed to reach the commitment of 40." in turnout
    assert (
        chase == "St Mary's Church, Accountability Assembly: 2 not replied yet\nChen Wei\nDee Rowe"
    )

    # The organiser's digest, in private: every institution.
    await tg.send(tg.updates.text(olu_u, private(olu_u), "/digest"))
    await tg.drain()
    digest = [t for t in tg.texts(9001) if "<pre>" in t][-1]
    assert "St Mary's Church" in digest and "Al-Madina Mosque" in digest
    assert tg.api.sent("sendPhoto", chat_id=9001)

    # Nothing the group ever saw carries a phone number.
    group_texts = tg.texts(-5001)
    assert len(group_texts) >= 5
    assert [t for t in group_texts if PHONE.search(t)] == []
