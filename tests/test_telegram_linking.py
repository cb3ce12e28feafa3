"""Linking people and groups: a shared contact must be the sender's own; one-time codes are
one-time and expire; a Telegram-only record merges into the person it turns out to be."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from config.clock import FakeClock
from config.messages import render
from config.segments import count_segments, is_gsm7
from config.settings import Settings
from storage.db import Database
from storage.models import (
    InboundMessage,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
    TelegramCodeAttempt,
    TelegramGroup,
    TelegramLinkCode,
)
from storage.telegram import (
    CODE_ATTEMPTS,
    CodeRefused,
    create_link_code,
    merge_people,
    redeem_link_code,
)
from tests import factories as f
from tests.fakes.telegram_updates import Harness, group, harness, private, user

ANN = user(5001, "Ann", "Patel")
MALLORY = user(5002, "Mallory", "Jones")
GROUP = group(-4001, "St Mary's")


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


async def templates(db: Database, update: dict[str, Any]) -> list[str]:
    async with db.session() as s:
        rows = await s.scalars(
            select(OutboxMessage.template)
            .where(OutboxMessage.dedupe_key.like(f"tg:{update['update_id']}:%"))
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def person_by_user(db: Database, uid: int) -> Person | None:
    async with db.session() as s:
        return await s.scalar(select(Person).where(Person.telegram_user_id == uid))


async def test_start_offers_a_contact_button(tg: Harness, db: Database) -> None:
    update = tg.updates.text(ANN, private(ANN), "/start")
    await tg.send(update)
    await tg.drain()
    (call,) = tg.api.sent("sendMessage", chat_id=ANN["id"])
    button = call.params["reply_markup"]["keyboard"][0][0]
    assert button == {"text": "Share my phone number", "request_contact": True}
    assert await person_by_user(db, ANN["id"]) is None  # nobody is created by /start


async def test_sharing_your_own_contact_links_you_to_your_record(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        await f.person(s, "Ann Patel", 1, clock.now(), institution=mary)
    # Telegram sends numbers without the +.
    update = tg.updates.contact(ANN, "447700900001", contact_user_id=ANN["id"])
    await tg.send(update)
    assert await templates(db, update) == ["tg_linked"]
    person = await person_by_user(db, ANN["id"])
    assert person is not None and person.phone == f.phone(1) and person.name == "Ann Patel"
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Person)) == 1
    await tg.drain()
    (call,) = tg.api.sent("sendMessage", chat_id=ANN["id"])
    assert call.params["reply_markup"] == {"remove_keyboard": True}
    assert "Thanks Ann" in call.text


async def test_someone_elses_contact_links_nothing(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, clock.now())
    # Mallory forwards Ann's contact card (its user_id is Ann's), then one with no user_id.
    for contact_user_id in (ANN["id"], None):
        update = tg.updates.contact(
            MALLORY, "+447700900001", contact_user_id=contact_user_id, first="Ann"
        )
        await tg.send(update)
        assert await templates(db, update) == ["tg_contact_not_own"]
    assert await person_by_user(db, MALLORY["id"]) is None
    async with db.session() as s:
        ann = await s.scalar(select(Person).where(Person.phone == f.phone(1)))
    assert ann is not None and ann.telegram_user_id is None


async def test_a_typed_phone_number_is_never_trusted(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, clock.now())
    await tg.send(tg.updates.text(MALLORY, private(MALLORY), "+447700900001"))
    await tg.send(tg.updates.text(MALLORY, private(MALLORY), "/link +447700900001"))
    async with db.session() as s:
        ann = await s.scalar(select(Person).where(Person.phone == f.phone(1)))
    assert ann is not None and ann.telegram_user_id is None


async def test_a_telegram_only_record_merges_into_the_person_when_they_share_their_contact(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        action = await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary)
        await f.invite(s, action, ann, now)
    # Ann wrote to the bot before linking: a Telegram-only person was created.
    await tg.send(tg.updates.text(ANN, private(ANN), "Is this the alliance bot?"))
    early = await person_by_user(db, ANN["id"])
    assert early is not None and early.phone is None and early.id != ann.id

    await tg.send(tg.updates.contact(ANN, "447700900001", contact_user_id=ANN["id"]))
    linked = await person_by_user(db, ANN["id"])
    assert linked is not None and linked.id == ann.id
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Person)) == 1
        inbound = list(await s.scalars(select(InboundMessage)))
    assert inbound and all(m.person_id == ann.id for m in inbound)

    # One person across SMS and Telegram: YES on Telegram is the same RSVP.
    await tg.send(tg.updates.text(ANN, private(ANN), "YES"))
    async with db.session() as s:
        invitation = await s.scalar(select(Invitation).where(Invitation.person_id == ann.id))
    assert invitation is not None and invitation.response == "yes"
    assert invitation.channel == "telegram"


async def test_a_stop_given_on_telegram_survives_the_merge(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        early = Person(
            name="",
            phone=None,
            language="en",
            timezone="Europe/London",
            consent="opted_out",
            consent_source="telegram",
            consent_at=now,
            telegram_user_id=5001,
            telegram_status="ok",
            created_at=now,
        )
        s.add(early)
        await s.flush()
        await merge_people(s, source=early, target=ann, now=now)
        assert ann.consent == "opted_out"


async def test_a_person_code_links_through_the_deep_link_once(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, clock.now())
        code, _ = await create_link_code(s, kind="person", person_id=ann.id, now=clock.now())
    first = tg.updates.text(ANN, private(ANN), f"/start {code}")
    await tg.send(first)
    assert await templates(db, first) == ["tg_linked"]
    linked = await person_by_user(db, ANN["id"])
    assert linked is not None and linked.id == ann.id

    # The same code again, by anyone: refused, and nothing moves.
    again = tg.updates.text(MALLORY, private(MALLORY), f"/link {code.lower()}")
    await tg.send(again)
    assert await templates(db, again) == ["tg_code_used"]
    assert await person_by_user(db, MALLORY["id"]) is None


@pytest.mark.parametrize(
    ("case", "expected"),
    [("unknown", "tg_code_unknown"), ("expired", "tg_code_expired"), ("used", "tg_code_used")],
)
async def test_a_group_code_links_the_group_only_when_fresh_and_unused(
    tg: Harness, db: Database, clock: FakeClock, case: str, expected: str
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        code, row = await create_link_code(
            s, kind="group", institution_id=mary.id, now=clock.now(), ttl=timedelta(hours=48)
        )
        if case == "used":
            row.used_at = clock.now()
    if case == "unknown":
        code = "ZZZZ9999"
    if case == "expired":
        clock.advance(hours=48, seconds=1)
    update = tg.updates.text(MALLORY, GROUP, f"/link@turnout_test_bot {code}")
    await tg.send(update)
    assert await templates(db, update) == [expected]
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(TelegramGroup)) == 0


async def test_a_group_code_links_the_group_and_cannot_be_used_twice(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        mosque = await f.institution(s, "Al-Madina Mosque", clock.now())
        code, _ = await create_link_code(s, kind="group", institution_id=mary.id, now=clock.now())
    update = tg.updates.text(ANN, GROUP, f"/link {code}")
    await tg.send(update)
    assert await templates(db, update) == ["tg_group_linked"]
    other = group(-4002, "Somewhere else")
    reuse = tg.updates.text(MALLORY, other, f"/link {code}")
    await tg.send(reuse)
    assert await templates(db, reuse) == ["tg_code_used"]
    async with db.session() as s:
        groups = list(await s.scalars(select(TelegramGroup)))
        used = await s.scalar(select(TelegramLinkCode))
    assert [(g.chat_id, g.institution_id) for g in groups] == [(-4001, mary.id)]
    assert mosque.id != mary.id
    assert used is not None and used.used_in_chat_id == -4001 and used.used_by_user_id == 5001
    await tg.drain()
    assert "linked to St Mary's Church" in tg.texts(-4001)[0]


async def test_a_code_used_in_the_wrong_kind_of_chat_is_refused_and_kept(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        ann = await f.person(s, "Ann Patel", 1, clock.now())
        group_code, _ = await create_link_code(
            s, kind="group", institution_id=mary.id, now=clock.now()
        )
        person_code, _ = await create_link_code(s, kind="person", person_id=ann.id, now=clock.now())
    in_dm = tg.updates.text(ANN, private(ANN), f"/link {group_code}")
    in_group = tg.updates.text(ANN, GROUP, f"/link {person_code}")
    await tg.send(in_dm)
    await tg.send(in_group)
    assert await templates(db, in_dm) == ["tg_code_for_group"]
    assert await templates(db, in_group) == ["tg_code_for_person"]
    async with db.session() as s:
        unused = await s.scalar(
            select(func.count())
            .select_from(TelegramLinkCode)
            .where(TelegramLinkCode.used_at.is_(None))
        )
    assert unused == 2


async def test_an_unlinked_group_gets_a_short_explanation_and_nothing_else(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        leader = await f.person(s, "Grace Okafor", 2, clock.now(), institution=mary, role="leader")
        leader.telegram_user_id = ANN["id"]
        await f.action(s, clock.now())
    added = tg.updates.bot_added(ANN, GROUP)
    await tg.send(added)
    assert await templates(db, added) == ["tg_group_unlinked"]
    for text in ("/turnout", "/chase", "/commit 40", "/rsvp", "/help"):
        update = tg.updates.text(ANN, GROUP, text)
        await tg.send(update)
        assert await templates(db, update) == ["tg_group_unlinked"], text


async def test_an_organiser_makes_link_codes_in_private_and_a_leader_only_for_their_people(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Madina Mosque", now)
        org = await f.person(s, "Olu Adeyemi", 1, now, institution=mary, role="organiser")
        org.telegram_user_id = 9001
        lead = await f.person(s, "Grace Okafor", 2, now, institution=mary, role="leader")
        lead.telegram_user_id = 9002
        await f.person(s, "Ann Patel", 3, now, institution=mary)
        await f.person(s, "Yusuf Khan", 4, now, institution=mosque)
    olu, grace = user(9001, "Olu"), user(9002, "Grace")
    cases = [
        (olu, "/linkcode mosque", "tg_linkcode_group"),
        (olu, "/linkcode 07700 900004", "tg_linkcode_person"),
        (grace, "/linkcode 07700 900003", "tg_linkcode_person"),
        (grace, "/linkcode 07700 900004", "tg_linkcode_no_person"),  # not her institution's
        (grace, "/linkcode mosque", "tg_organisers_only"),
        (olu, "/linkcode", "tg_linkcode_usage"),
    ]
    for who, text, expected in cases:
        update = tg.updates.text(who, private(who), text)
        await tg.send(update)
        assert await templates(db, update) == [expected], text
    async with db.session() as s:
        codes = list(await s.scalars(select(TelegramLinkCode).order_by(TelegramLinkCode.id)))
    assert [(c.kind, c.institution_id) for c in codes] == [
        ("group", mosque.id),
        ("person", None),
        ("person", None),
    ]
    await tg.drain()
    (given,) = [t for t in tg.api.texts(9002) if t.startswith("Code for Ann Patel: ")]
    code = given.split(": ")[1].split()[0]
    assert "https://t.me/turnout_test_bot?start=" + code in given
    # The code works once, for whoever Grace gave it to.
    newcomer = user(5003, "Ann")
    await tg.send(tg.updates.text(newcomer, private(newcomer), f"/start {code}"))
    linked = await person_by_user(db, 5003)
    assert linked is not None and linked.name == "Ann Patel"
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 4


async def test_a_group_the_bot_left_is_inactive_until_the_bot_is_added_back(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        code, _ = await create_link_code(s, kind="group", institution_id=mary.id, now=clock.now())
    await tg.send(tg.updates.text(ANN, GROUP, f"/link {code}"))
    await tg.send(tg.updates.bot_removed(ANN, GROUP))
    async with db.session() as s:
        stored = await s.scalar(select(TelegramGroup))
    assert stored is not None and stored.status == "removed"
    added = tg.updates.bot_added(ANN, GROUP)
    await tg.send(added)
    assert await templates(db, added) == []
    async with db.session() as s:
        stored = await s.scalar(select(TelegramGroup))
    assert stored is not None and stored.status == "active" and stored.institution_id == mary.id


# -- wrong codes: limited per chat and per Telegram user -------------------------------------


def _user(n: int) -> dict[str, Any]:
    return user(6000 + n, f"Guesser{n}")


async def _group_code(db: Database, clock: FakeClock) -> str:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        code, _ = await create_link_code(s, kind="group", institution_id=mary.id, now=clock.now())
    return code


async def _linked_groups(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(TelegramGroup)) or 0)


async def test_five_wrong_codes_in_a_group_pause_codes_there_for_everyone(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    code = await _group_code(db, clock)
    for n in range(CODE_ATTEMPTS):
        update = tg.updates.text(_user(n), GROUP, f"/link WRONG{n:03d}")
        await tg.send(update)
        assert await templates(db, update) == ["tg_code_unknown"]
    # The right code, from someone who never tried: the group has tried too many.
    right = tg.updates.text(ANN, GROUP, f"/link {code}")
    await tg.send(right)
    assert await templates(db, right) == ["tg_code_wait"]
    assert await _linked_groups(db) == 0
    await tg.drain()
    assert tg.texts(-4001)[-1] == (
        "Too many codes have been tried here. Please wait 15 minutes, then try again."
    )
    # Another group is not held up by this one.
    elsewhere = tg.updates.text(_user(9), group(-4002, "Mosque"), "/link WRONG999")
    await tg.send(elsewhere)
    assert await templates(db, elsewhere) == ["tg_code_unknown"]

    clock.advance(minutes=15)
    again = tg.updates.text(ANN, GROUP, f"/link {code}")
    await tg.send(again)
    assert await templates(db, again) == ["tg_group_linked"]


async def test_five_wrong_codes_from_one_user_pause_them_in_every_chat(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    code = await _group_code(db, clock)
    chats = [private(MALLORY), *(group(-4100 - n, f"Group {n}") for n in range(4))]
    for chat in chats:
        update = tg.updates.text(MALLORY, chat, "/link WRONG000")
        await tg.send(update)
        assert await templates(db, update) == ["tg_code_unknown"]
    fresh = tg.updates.text(MALLORY, GROUP, f"/link {code}")
    await tg.send(fresh)
    assert await templates(db, fresh) == ["tg_code_wait"]
    async with db.session() as s:
        unused = await s.scalar(select(TelegramLinkCode.used_at))
    assert unused is None  # the right code was not looked at, and still works
    ok = tg.updates.text(ANN, GROUP, f"/link {code}")
    await tg.send(ok)
    assert await templates(db, ok) == ["tg_group_linked"]


async def test_the_window_slides_and_a_right_code_costs_nothing(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async def attempt(text: str) -> list[str]:
        update = tg.updates.text(MALLORY, private(MALLORY), text)
        await tg.send(update)
        return await templates(db, update)

    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, clock.now())
        code, _ = await create_link_code(s, kind="person", person_id=ann.id, now=clock.now())
    start = clock.now()
    # Minutes 0, 4, 8, 12: four wrong codes; minute 13: the right one (gives its slots back).
    for minute in (0, 4, 8, 12):
        clock.set(start + timedelta(minutes=minute))
        assert await attempt("/link WRONG000") == ["tg_code_unknown"]
    clock.set(start + timedelta(minutes=13))
    assert await attempt(f"/link {code}") == ["tg_linked"]
    clock.set(start + timedelta(minutes=14))
    assert await attempt("/link WRONG000") == ["tg_code_unknown"]  # the fifth wrong one
    assert await attempt("/link WRONG000") == ["tg_code_wait"]
    # Minute 15: the attempt of minute 0 has left the window, one more may be tried.
    clock.set(start + timedelta(minutes=15))
    assert await attempt("/link WRONG000") == ["tg_code_unknown"]
    assert await attempt("/link WRONG000") == ["tg_code_wait"]
    clock.set(start + timedelta(minutes=19))
    assert await attempt("/link WRONG000") == ["tg_code_unknown"]  # minute 4's slot is free


async def test_a_code_never_appears_in_the_logs(
    tg: Harness, db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, clock.now())
        person_code, _ = await create_link_code(s, kind="person", person_id=ann.id, now=clock.now())
    group_code = await _group_code(db, clock)
    wrong = "WRNG2345"
    texts = [
        (MALLORY, private(MALLORY), f"/link {wrong}"),  # unknown
        (MALLORY, GROUP, f"/link {person_code}"),  # the wrong kind of chat
        (MALLORY, private(MALLORY), f"/link {group_code}"),
        *((MALLORY, private(MALLORY), f"/link {wrong}") for _ in range(CODE_ATTEMPTS)),  # limited
        (ANN, private(ANN), f"/start {person_code}"),  # linked
        (ANN, GROUP, f"/link {group_code.lower()}"),  # linked
    ]
    for who, chat, text in texts:
        await tg.send(tg.updates.text(who, chat, text))
    await tg.drain()
    logged = caplog.text.upper()
    assert "LINK CODES PAUSED" in logged and "LINKED WITH A CODE" in logged
    assert [c for c in (wrong, person_code, group_code) if c in logged] == []


@pytest.mark.parametrize("language", ["en", "cy", "pl"])
def test_the_wait_is_one_gsm7_segment_in_every_language(language: str) -> None:
    text = render("tg_code_wait", language, minutes=15)
    assert is_gsm7(text) and count_segments(text) == 1, text


async def test_two_workers_racing_for_the_last_attempt_get_one(
    db: Database, clock: FakeClock
) -> None:
    for n in range(CODE_ATTEMPTS - 1):
        async with db.session() as s:
            refused = await redeem_link_code(
                s, "WRONG000", kind="group", user_id=6000 + n, chat_id=-4001, now=clock.now()
            )
        assert refused == CodeRefused("unknown")

    async def attempt(uid: int) -> str:
        async with db.session() as s:
            result = await redeem_link_code(
                s, "WRONG000", kind="group", user_id=uid, chat_id=-4001, now=clock.now()
            )
            assert isinstance(result, CodeRefused)
            return result.reason

    reasons = await asyncio.gather(*(attempt(7000 + n) for n in range(4)))
    assert sorted(reasons) == ["limited", "limited", "limited", "unknown"]
    async with db.session() as s:
        held = await s.scalar(
            select(func.count())
            .select_from(TelegramCodeAttempt)
            .where(TelegramCodeAttempt.key == "chat:-4001")
        )
    assert held == CODE_ATTEMPTS
