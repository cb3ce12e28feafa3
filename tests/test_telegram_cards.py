"""RSVP cards: /rsvp posts a card with buttons, taps by linked members are their RSVP (the same
record as an SMS reply) and the card's counts are edited in place; strangers are sent to link;
every tap is answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import Invitation, OutboxMessage, RsvpEvent, TelegramRsvpCard
from tests import factories as f
from tests.fakes.telegram_updates import Harness, harness
from tests.fakes.telegram_world import GROUP_A, World, build_world


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    return await build_world(db, clock, starts_in=timedelta(days=7))


async def post_card(tg: Harness, world: World, text: str = "/rsvp") -> TelegramRsvpCard:
    await tg.send(tg.updates.text(world.users["leader_a"], world.group_a, text))
    await tg.drain()
    async with tg.db.session() as s:
        card = await s.scalar(select(TelegramRsvpCard).order_by(TelegramRsvpCard.id.desc()))
    assert card is not None and card.message_id is not None
    return card


async def tap(
    tg: Harness, world: World, who: str, card: TelegramRsvpCard, choice: str
) -> dict[str, Any]:
    assert card.message_id is not None
    update = tg.updates.tap(
        world.users[who], world.group_a, card.message_id, f"c:{card.id}:{choice}"
    )
    answer = await tg.send(update)
    assert answer is not None
    return answer


async def invitation(db: Database, world: World, who: str) -> Invitation:
    async with db.session() as s:
        inv = await s.scalar(
            select(Invitation)
            .where(Invitation.person_id == world.people[who].id)
            .where(Invitation.action_id == world.action.id)
        )
    assert inv is not None
    return inv


async def test_a_leader_posts_a_card_with_four_buttons_for_the_action(
    tg: Harness, world: World
) -> None:
    card = await post_card(tg, world)
    (sent,) = tg.api.sent("sendMessage", chat_id=GROUP_A)
    assert sent.text.startswith("Accountability Assembly (assembly)")
    assert "St Mary's Church: yes 0 + 0 guests, maybe 0, no 0" in sent.text
    buttons = [b for row in sent.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["Yes", "Maybe", "No", "+1 guest"]
    assert [b["callback_data"] for b in buttons] == [f"c:{card.id}:{c}" for c in "ymng"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    assert card.message_id == 1001 and card.chat_id == GROUP_A


async def test_taps_are_rsvps_and_the_card_counts_update_in_place(
    tg: Harness, db: Database, world: World
) -> None:
    card = await post_card(tg, world)

    answer = await tap(tg, world, "member", card, "y")
    assert answer["method"] == "answerCallbackQuery"
    assert answer["text"] == "You're coming to Accountability Assembly. Thank you!"
    await tap(tg, world, "member", card, "g")
    await tg.drain()
    await tap(tg, world, "leader_a", card, "m")
    await tg.drain()

    ann = await invitation(db, world, "member")
    assert (ann.response, ann.guests, ann.channel) == ("yes", 1, "telegram")
    grace = await invitation(db, world, "leader_a")
    assert grace.response == "maybe"
    async with db.session() as s:
        events = list(await s.scalars(select(RsvpEvent).order_by(RsvpEvent.id)))
    assert [(e.response, e.guests, e.channel) for e in events] == [
        ("yes", 0, "telegram"),
        ("yes", 1, "telegram"),
        ("maybe", 0, "telegram"),
    ]
    edits = tg.api.sent("editMessageText", chat_id=GROUP_A)
    assert all(e.params["message_id"] == card.message_id for e in edits)
    assert "yes 1 + 1 guests, maybe 1, no 0" in edits[-1].text
    assert edits[-1].params["reply_markup"]["inline_keyboard"][1][0]["text"] == "+1 guest"
    # Nothing new was posted: the one card was edited.
    assert len(tg.api.sent("sendMessage", chat_id=GROUP_A)) == 1


async def test_a_burst_of_taps_costs_one_edit_with_the_final_counts(
    tg: Harness, db: Database, world: World
) -> None:
    card = await post_card(tg, world)
    for who, choice in (("member", "y"), ("leader_a", "y"), ("organiser", "n"), ("member", "g")):
        await tap(tg, world, who, card, choice)
    await tg.drain()
    (edit,) = tg.api.sent("editMessageText", chat_id=GROUP_A)
    assert "yes 2 + 1 guests, maybe 0, no 1" in edit.text
    async with db.session() as s:
        superseded = await s.scalars(
            select(OutboxMessage.error_code).where(OutboxMessage.status == "cancelled")
        )
        assert list(superseded) == ["superseded"] * 3


async def test_a_stranger_who_taps_is_invited_to_link_privately_and_nothing_is_recorded(
    tg: Harness, db: Database, world: World
) -> None:
    card = await post_card(tg, world)
    answer = await tap(tg, world, "stranger", card, "y")
    assert answer["url"] == "https://t.me/turnout_test_bot?start=link"
    assert "link your Telegram" in answer["text"]
    async with db.session() as s:
        assert list(await s.scalars(select(RsvpEvent))) == []
    await tg.drain()
    assert tg.api.sent("editMessageText") == []
    # The link opens a private chat with /start link: the contact button is offered there.
    stranger = world.users["stranger"]
    await tg.send(tg.updates.text(stranger, world.dm("stranger"), "/start link"))
    await tg.drain()
    (welcome,) = tg.api.sent("sendMessage", chat_id=stranger["id"])
    assert welcome.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True


@pytest.mark.parametrize(
    "data",
    [
        "c:99999:y",
        "a:99999:n",
        "rsvp:yes",
        "x" * 64,
        "c:999999999999:y",  # past a 32-bit key
        "a:٣:y",  # a digit, but not ASCII
        "c:\x00:y",
    ],
)
async def test_every_tap_is_answered_even_on_a_stale_or_unknown_button(
    tg: Harness, world: World, data: str
) -> None:
    update = tg.updates.tap(world.users["member"], world.group_a, 42, data)
    answer = await tg.send(update)
    assert answer is not None and answer["method"] == "answerCallbackQuery"
    assert answer["callback_query_id"] == update["callback_query"]["id"]
    assert answer["text"] == "This button no longer works."


async def test_a_card_tapped_in_another_chat_is_stale(tg: Harness, world: World) -> None:
    card = await post_card(tg, world)
    assert card.message_id is not None
    update = tg.updates.tap(
        world.users["leader_b"], world.group_b, card.message_id, f"c:{card.id}:y"
    )
    answer = await tg.send(update)
    assert answer is not None and answer["text"] == "This button no longer works."


async def test_taps_after_the_action_has_ended_are_refused(
    tg: Harness, db: Database, world: World, clock: FakeClock
) -> None:
    card = await post_card(tg, world)
    clock.advance(days=8)
    answer = await tap(tg, world, "member", card, "y")
    assert answer["text"] == "Replies for Accountability Assembly have closed."
    assert (await invitation(db, world, "member")).response is None


async def test_with_two_actions_coming_up_the_card_needs_the_short_name(
    tg: Harness, db: Database, world: World, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.action(
            s, clock.now(), slug="housing-march", title="Housing March", starts_in=timedelta(days=9)
        )
    update = tg.updates.text(world.users["leader_a"], world.group_a, "/rsvp")
    await tg.send(update)
    await tg.drain()
    assert tg.texts(GROUP_A)[-1] == (
        "More than one action is coming up: add its short name, e.g. /rsvp assembly. "
        "Coming up: assembly, housing-march."
    )
    await post_card(tg, world, "/rsvp housing-march")
    assert tg.texts(GROUP_A)[-1].startswith("Housing March (housing-march)")


async def test_in_private_rsvp_shows_the_invitation_with_buttons_and_a_tap_confirms(
    tg: Harness, db: Database, world: World
) -> None:
    member = world.users["member"]
    await tg.send(tg.updates.text(member, world.dm("member"), "/rsvp"))
    await tg.drain()
    (shown,) = tg.api.sent("sendMessage", chat_id=member["id"])
    data = shown.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert data == f"a:{world.action.id}:y"

    answer = await tg.send(tg.updates.tap(member, world.dm("member"), 1001, data))
    assert answer is not None and answer["text"].startswith("You're coming")
    assert (await invitation(db, world, "member")).response == "yes"
    await tg.drain()
    assert tg.texts(member["id"])[-1].startswith("Thanks Ann, you're coming to Accountability")


async def test_the_yes_button_and_yes_keep_the_guests_and_yes_0_clears_them(
    tg: Harness, db: Database, world: World
) -> None:
    """A plain YES by any route keeps the guests already given: the card's Yes button, /yes
    in a private chat; /yes 0 sets none."""
    card = await post_card(tg, world)
    await tap(tg, world, "member", card, "g")
    await tap(tg, world, "member", card, "g")
    assert (await invitation(db, world, "member")).guests == 2
    answer = await tap(tg, world, "member", card, "y")
    assert answer["text"] == "You're coming to Accountability Assembly with 2 more. Thank you!"
    assert (await invitation(db, world, "member")).guests == 2

    member = world.users["member"]
    await tg.send(tg.updates.text(member, world.dm("member"), "/yes"))
    await tg.drain()
    inv = await invitation(db, world, "member")
    assert (inv.response, inv.guests) == ("yes", 2)
    assert "with 2 more" in tg.texts(member["id"])[-1]
    await tg.send(tg.updates.text(member, world.dm("member"), "/yes 0"))
    await tg.drain()
    inv = await invitation(db, world, "member")
    assert (inv.response, inv.guests) == ("yes", 0)
    assert "with 2 more" not in tg.texts(member["id"])[-1]
    async with db.session() as s:
        events = [(e.response, e.guests) for e in await s.scalars(select(RsvpEvent))]
    assert events == [("yes", 1), ("yes", 2), ("yes", 2), ("yes", 2), ("yes", 0)]
