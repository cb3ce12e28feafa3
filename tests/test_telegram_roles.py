"""Who may do what, from our records (never Telegram's admin status), and what may never reach
a group: the matrix (organiser, leader of A, leader of B, member, stranger) x (each command),
asserting both the answer and the database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import Commitment, Headcount, OutboxMessage, TelegramRsvpCard
from tests.fakes.telegram_updates import Harness, harness
from tests.fakes.telegram_world import GROUP_A, GROUP_B, World, build_world

PHONE = re.compile(r"\+?\d{10,}")
WHO = ["organiser", "leader_a", "leader_b", "member", "stranger"]
# command -> (text, success template, refusal for a known person who may not)
GROUP_COMMANDS = {
    "commit": ("/commit 40", "tg_commit_set"),
    "turnout": ("/turnout", "tg_turnout"),
    "chase": ("/chase", "tg_chase"),
    "rsvp": ("/rsvp", "tg_card"),
    "count": ("/count 37", "tg_count_set"),
}
MAY_LEAD_A = {"organiser", "leader_a"}


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    return await build_world(db, clock)


async def replies(db: Database, update: dict[str, Any]) -> list[OutboxMessage]:
    async with db.session() as s:
        rows = await s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like(f"tg:{update['update_id']}:%"))
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def effects(db: Database) -> dict[str, int]:
    async with db.session() as s:
        return {
            name: int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("commitments", Commitment),
                ("headcounts", Headcount),
                ("cards", TelegramRsvpCard),
            )
        }


@pytest.mark.parametrize("command", sorted(GROUP_COMMANDS))
@pytest.mark.parametrize("who", WHO)
async def test_in_a_group_only_its_leaders_and_organisers_may_use_leader_commands(
    tg: Harness, db: Database, world: World, who: str, command: str
) -> None:
    text, success = GROUP_COMMANDS[command]
    # Telegram adds @botname in groups when several bots are present.
    first, *rest = text.split()
    update = tg.updates.text(
        world.users[who], world.group_a, " ".join([f"{first}@turnout_test_bot", *rest])
    )
    await tg.send(update)

    rows = await replies(db, update)
    done = await effects(db)
    if who in MAY_LEAD_A:
        assert [r.template for r in rows] == [success]
        expected = {"commit": "commitments", "count": "headcounts", "rsvp": "cards"}.get(command)
        assert {k: v for k, v in done.items() if v} == ({expected: 1} if expected else {})
    else:
        refusal = "tg_who_are_you" if who == "stranger" else "tg_leaders_only"
        assert [r.template for r in rows] == [refusal]
        assert done == {"commitments": 0, "headcounts": 0, "cards": 0}
        if refusal == "tg_leaders_only":
            # Told politely who can: St Mary's leader, by name.
            assert "Grace Okafor" in rows[0].body
    assert all(r.to_address == str(GROUP_A) and r.person_id is None for r in rows)


@pytest.mark.parametrize("who", WHO)
async def test_the_digest_goes_to_organisers_only_and_only_in_private(
    tg: Harness, db: Database, world: World, who: str
) -> None:
    in_group = tg.updates.text(world.users[who], world.group_a, "/digest")
    await tg.send(in_group)
    assert [r.template for r in await replies(db, in_group)] == ["tg_private_only"]

    in_private = tg.updates.text(world.users[who], world.dm(who), "/digest")
    await tg.send(in_private)
    templates = [r.template for r in await replies(db, in_private)]
    expected = {
        "organiser": ["digest"],
        "stranger": ["tg_welcome"],
    }.get(who, ["tg_organisers_only"])
    assert templates == expected


async def test_an_organisers_digest_shows_every_institution_with_its_chart(
    tg: Harness, db: Database, world: World
) -> None:
    await tg.send(tg.updates.text(world.users["leader_a"], world.group_a, "/commit 40"))
    await tg.send(tg.updates.text(world.users["leader_b"], world.group_b, "/commit 25"))
    update = tg.updates.text(world.users["organiser"], world.dm("organiser"), "/digest")
    await tg.send(update)
    rows = await replies(db, update)
    assert [r.template for r in rows] == ["digest", "digest_chart"]
    assert "St Mary's Church" in rows[0].body and "Al-Madina Mosque" in rows[0].body
    await tg.drain()
    organiser = world.users["organiser"]["id"]
    messages = tg.api.sent("sendMessage", chat_id=organiser)
    assert messages[-1].params["parse_mode"] == "HTML"
    assert messages[-1].text.startswith("<pre>")
    photos = tg.api.sent("sendPhoto", chat_id=organiser)
    assert len(photos) == 1 and photos[0].files["photo"].startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("who", "sees", "never"),
    [
        ("leader_a", ["Bola Ade", "Ann Patel"], ["Yusuf Khan"]),
        ("leader_b", ["Yusuf Khan"], ["Bola Ade", "Ann Patel", "Grace Okafor"]),
    ],
)
async def test_a_leader_chasing_in_private_sees_only_their_own_people(
    tg: Harness, db: Database, world: World, who: str, sees: list[str], never: list[str]
) -> None:
    update = tg.updates.text(world.users[who], world.dm(who), "/chase")
    await tg.send(update)
    rows = await replies(db, update)
    assert [r.template for r in rows] == ["tg_chase"]
    assert all(name in rows[0].body for name in sees)
    assert not any(name in rows[0].body for name in never)


@pytest.mark.parametrize("who", ["member", "stranger"])
async def test_members_and_strangers_cannot_chase_in_private(
    tg: Harness, db: Database, world: World, who: str
) -> None:
    update = tg.updates.text(world.users[who], world.dm(who), "/chase")
    await tg.send(update)
    templates = [r.template for r in await replies(db, update)]
    assert templates == (["tg_welcome"] if who == "stranger" else ["tg_leaders_only_dm"])


async def test_telegram_admin_status_grants_nothing(
    tg: Harness, db: Database, world: World
) -> None:
    """Group admins are not leaders: the member below is an admin of the group in Telegram,
    which the bot never asks about."""
    update = tg.updates.text(world.users["member"], world.group_a, "/commit 99")
    update["message"]["sender_chat"] = None
    await tg.send(update)
    assert [r.template for r in await replies(db, update)] == ["tg_leaders_only"]
    assert not [c for c in tg.api.calls if c.method.startswith("getChat")]


async def test_no_phone_number_ever_reaches_a_group(
    tg: Harness, db: Database, world: World
) -> None:
    """Every command by everyone in both groups, then everything sent to groups is read."""
    for who in WHO:
        for chat in (world.group_a, world.group_b):
            for text, _ in GROUP_COMMANDS.values():
                await tg.send(tg.updates.text(world.users[who], chat, text))
            for extra in ("/digest", "/help", "/start", "/actions", "/linkcode 07700 900004"):
                await tg.send(tg.updates.text(world.users[who], chat, extra))
    await tg.drain()

    group_texts = tg.texts(GROUP_A) + tg.texts(GROUP_B)
    assert group_texts
    assert [t for t in group_texts if PHONE.search(t)] == []
    phones = {p.phone for p in world.people.values()}
    assert not any(phone and phone[1:] in t for t in group_texts for phone in phones)
    # The St Mary's chase reached its group, names only (the number-for-a-name hidden); the
    # mosque's group never saw a St Mary's name.
    chase_a = [t for t in tg.texts(GROUP_A) if "not replied yet" in t]
    assert chase_a and "Bola Ade" in chase_a[0] and "[number hidden]" in chase_a[0]
    assert not any("Bola Ade" in t or "Ann Patel" in t for t in tg.texts(GROUP_B))


async def test_a_command_addressed_to_another_bot_is_not_ours(
    tg: Harness, db: Database, world: World
) -> None:
    update = tg.updates.text(world.users["leader_a"], world.group_a, "/turnout@some_other_bot")
    await tg.send(update)
    assert await replies(db, update) == []


@pytest.mark.parametrize("number", ["²", "9" * 25, "40\x00", "-5"])
async def test_a_leaders_number_that_is_not_one_sets_nothing_and_breaks_nothing(
    tg: Harness, db: Database, world: World, number: str
) -> None:
    for command in ("/commit", "/count"):
        # tg.send fails the test if a handler raised.
        await tg.send(
            tg.updates.text(world.users["leader_a"], world.group_a, f"{command} {number}")
        )
    assert (await effects(db))["commitments"] == 0
