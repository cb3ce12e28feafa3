"""One conversation engine for every channel: the same command by SMS (a signed Twilio webhook)
and by Telegram (a real Update from a private chat) is the same intent, answered by the same
handler with the same neutral replies (template and placeholders), rendered per channel (the
Telegram wording where it differs: config.messages.TELEGRAM_WORDS), with the same effect."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.base import Context
from config.clock import FakeClock
from config.messages import channel_template, render
from config.settings import Settings
from storage.db import Database
from storage.listening import create_campaign
from storage.listening_themes import load_theme_specs
from storage.models import (
    Attendance,
    Commitment,
    Headcount,
    Invitation,
    ListeningAnswer,
    OutboxMessage,
    Person,
    RsvpEvent,
)
from tests import factories as f
from tests.fakes.telegram_updates import Harness, harness
from tests.fakes.telegram_world import World, build_world
from tests.twilio_signing import encode, inbound_form, sign

SMS = "/webhooks/twilio/sms"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_sid = itertools.count(1)

Effect = Callable[[AsyncSession, World], Awaitable[Any]]


async def _nothing(_s: AsyncSession, _w: World) -> Any:
    return await _s.scalar(select(func.count()).select_from(Commitment))


async def _commitment(s: AsyncSession, _w: World) -> Any:
    return await s.scalar(select(Commitment.number))


async def _headcount(s: AsyncSession, _w: World) -> Any:
    return await s.scalar(select(Headcount.number))


async def _answer(s: AsyncSession, w: World) -> Any:
    invitation = await s.scalar(
        select(Invitation).where(Invitation.person_id == w.people["member"].id)
    )
    assert invitation is not None
    return invitation.response, invitation.guests


async def _here(s: AsyncSession, w: World) -> Any:
    return await s.scalar(
        select(func.count())
        .select_from(Attendance)
        .where(Attendance.person_id == w.people["member"].id)
    )


async def _consent(s: AsyncSession, w: World) -> Any:
    return await s.scalar(select(Person.consent).where(Person.id == w.people["member"].id))


async def _language(s: AsyncSession, w: World) -> Any:
    return await s.scalar(select(Person.language).where(Person.id == w.people["member"].id))


async def _logged(s: AsyncSession, _w: World) -> Any:
    return await s.scalar(
        select(func.count())
        .select_from(ListeningAnswer)
        .where(ListeningAnswer.source == "face_to_face")
    )


async def _undo_commit(s: AsyncSession, _w: World) -> None:
    await s.execute(delete(Commitment))


async def _undo_headcount(s: AsyncSession, _w: World) -> None:
    await s.execute(delete(Headcount))


async def _undo_answer(s: AsyncSession, _w: World) -> None:
    await s.execute(delete(RsvpEvent))
    await s.execute(update(Invitation).values(response=None, guests=0, responded_at=None))


async def _undo_here(s: AsyncSession, _w: World) -> None:
    await s.execute(delete(Attendance))


async def _undo_consent(s: AsyncSession, w: World) -> None:
    await s.execute(
        update(Person).where(Person.id == w.people["member"].id).values(consent="opted_in")
    )


async def _undo_language(s: AsyncSession, w: World) -> None:
    await s.execute(update(Person).where(Person.id == w.people["member"].id).values(language="en"))


async def _undo_log(s: AsyncSession, _w: World) -> None:
    await s.execute(delete(ListeningAnswer))


@dataclass(frozen=True)
class Case:
    sms: str
    telegram: str
    who: str  # leader_a (Grace, a leader of St Mary's) or member (Ann)
    replies: list[str]  # the handler's replies: what they mean (the SMS template's key)
    effect: Effect
    expected: Any
    undo: Callable[[AsyncSession, World], Awaitable[None]] | None = None


CASES = {
    "COMMIT": Case("COMMIT 40", "/commit 40", "leader_a", ["commit_set"], _commitment, 40),
    "TURNOUT": Case("TURNOUT", "/turnout", "leader_a", ["count"], _nothing, 0),
    "COUNT (the numbers)": Case("COUNT", "/count", "leader_a", ["count"], _nothing, 0),
    "COUNT 37 (a headcount)": Case(
        "COUNT 37", "/count 37", "leader_a", ["count_set"], _headcount, 37, _undo_headcount
    ),
    "CHASE": Case("CHASE", "/chase", "leader_a", ["chase"], _nothing, 0),
    "RSVP (an answer)": Case(
        "YES 2", "/yes 2", "member", ["rsvp_yes_guests"], _answer, ("yes", 2), _undo_answer
    ),
    "RSVP (the question)": Case("RSVP", "/rsvp", "member", ["rsvp_card"], _answer, (None, 0)),
    "HERE": Case("HERE", "/here", "member", ["checkin_ok"], _here, 1, _undo_here),
    "STOP": Case("STOP", "/stop", "member", ["stop_confirm"], _consent, "opted_out", _undo_consent),
    "HELP": Case("HELP", "/help", "leader_a", ["help", "help_leader"], _nothing, 0),
    "LANG": Case("LANG CY", "/lang cy", "member", ["lang_set"], _language, "cy", _undo_language),
    "LOG": Case(
        "LOG DOORSTEP 07700 900150 YES: the bins are never emptied",
        "/log DOORSTEP 07700 900150 YES: the bins are never emptied",
        "leader_a",
        ["listening_log_ok"],
        _logged,
        1,
        _undo_log,
    ),
}


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    """St Mary's (Grace leads, Ann is a member, both linked on Telegram), an action under way
    within the hour (so HERE and COUNT 37 work, and COMMIT has an action), and a listening
    campaign open for LOG."""
    built = await build_world(db, clock)
    async with db.session() as s:
        await create_campaign(
            s,
            slug="city-listens",
            title="City Listens",
            questions=[{"en": "What is the biggest issue?"}],
            now=clock.now(),
            themes=load_theme_specs(),
        )
    return built


@contextmanager
def neutral_replies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every reply a handler makes, as it makes it (before any channel renders it)."""
    made: list[tuple[str, dict[str, Any]]] = []
    original = Context.reply

    def spy(self: Context, template: str, **kwargs: Any) -> None:
        params = {k: v for k, v in kwargs.items() if k not in ("buttons", "attachment", "card")}
        made.append((template, params))
        original(self, template, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(Context, "reply", spy)
        yield made


async def rows_after(db: Database, last_id: int) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(
            await s.scalars(
                select(OutboxMessage).where(OutboxMessage.id > last_id).order_by(OutboxMessage.id)
            )
        )


async def last_outbox_id(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.max(OutboxMessage.id))) or 0)


async def by_sms(tg: Harness, world: World, who: str, text: str) -> None:
    phone = world.people[who].phone
    assert phone is not None
    form = inbound_form(f"SM{next(_sid):032d}", phone, text)
    signature = sign(tg.settings.webhook_auth_token.get(), tg.settings.public_url + SMS, form)
    resp = await tg.client.post(
        SMS, data=encode(form), headers={**FORM, "X-Twilio-Signature": signature}
    )
    assert resp.status == 200, await resp.text()


async def by_telegram(tg: Harness, world: World, who: str, text: str) -> None:
    await tg.send(tg.updates.text(world.users[who], world.dm(who), text))


@pytest.mark.parametrize("command", list(CASES))
async def test_the_same_command_by_sms_and_by_telegram_means_the_same(
    tg: Harness, db: Database, world: World, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    case = CASES[command]
    said: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    effects: dict[str, Any] = {}
    rendered: dict[str, list[OutboxMessage]] = {}
    for channel, send, text in (
        ("sms", by_sms, case.sms),
        ("telegram", by_telegram, case.telegram),
    ):
        before = await last_outbox_id(db)
        with neutral_replies(monkeypatch) as made:
            await send(tg, world, case.who, text)
        said[channel] = made
        rendered[channel] = await rows_after(db, before)
        async with db.session() as s:
            effects[channel] = await case.effect(s, world)
            if case.undo is not None:
                await case.undo(s, world)

    # The same handler said the same things, with the same placeholders...
    assert [t for t, _ in said["sms"]] == case.replies
    assert said["telegram"] == said["sms"]
    # ...with the same effect...
    assert effects["sms"] == effects["telegram"] == case.expected
    # ...rendered in each channel's words.
    language = "cy" if command == "LANG" else "en"
    for channel, rows in rendered.items():
        assert [r.channel for r in rows] == [channel] * len(rows)
        assert [r.template for r in rows] == [channel_template(k, channel) for k in case.replies]
        for row, (key, params) in zip(rows, said[channel], strict=True):
            expected = render(
                channel_template(key, channel),
                language,
                alliance=tg.settings.alliance_name,
                **params,
            )
            assert row.body == expected
    # A resident's words are the same everywhere; a leader's differ (a /command, a table).
    for (key, _), sms, telegram in zip(
        said["sms"], rendered["sms"], rendered["telegram"], strict=True
    ):
        if channel_template(key, "telegram") == key:
            assert sms.body == telegram.body, key


async def test_buttons_are_words_by_sms_and_a_keyboard_on_telegram(
    tg: Harness, db: Database, world: World
) -> None:
    before = await last_outbox_id(db)
    await by_sms(tg, world, "member", "RSVP")
    await by_telegram(tg, world, "member", "/rsvp")
    sms, telegram = await rows_after(db, before)
    assert sms.body.endswith("Reply YES, NO or MAYBE.") and sms.payload is None
    assert telegram.payload is not None
    keyboard = telegram.payload["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in keyboard for b in row] == [
        f"a:{world.action.id}:{c}" for c in "ymng"
    ]


async def test_a_typed_word_is_the_command_on_telegram_too(
    tg: Harness, db: Database, world: World
) -> None:
    """``COMMIT 40`` typed in a private chat is /commit 40; a member's CHASE is refused alike."""
    before = await last_outbox_id(db)
    await by_telegram(tg, world, "leader_a", "commit 40")
    await by_telegram(tg, world, "member", "CHASE")
    await by_sms(tg, world, "member", "CHASE")
    rows = await rows_after(db, before)
    assert [r.template for r in rows] == ["tg_commit_set", "tg_leaders_only_dm", "not_leader"]
    async with db.session() as s:
        assert await s.scalar(select(Commitment.number)) == 40


async def test_with_two_actions_coming_up_commit_asks_which_in_each_channels_words(
    tg: Harness, db: Database, world: World, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.action(
            s, clock.now(), slug="housing-march", title="Housing March", starts_in=timedelta(days=9)
        )
    before = await last_outbox_id(db)
    await by_sms(tg, world, "leader_a", "COMMIT 40")
    await by_telegram(tg, world, "leader_a", "/commit 40")
    sms, telegram = await rows_after(db, before)
    assert (sms.template, telegram.template) == ("which_action", "tg_which_action")
    assert "e.g. COMMIT 40 assembly. Coming up: assembly, housing-march." in sms.body
    assert "e.g. /commit 40 assembly. Coming up: assembly, housing-march." in telegram.body
    await by_sms(tg, world, "leader_a", "COMMIT 40 housing-march")
    async with db.session() as s:
        (commitment,) = list(await s.scalars(select(Commitment)))
    assert commitment.number == 40 and commitment.action_id != world.action.id


async def test_digest_by_sms_is_the_compact_one_and_on_telegram_the_table_and_chart(
    tg: Harness, db: Database, world: World
) -> None:
    await by_sms(tg, world, "leader_a", "COMMIT 40")
    before = await last_outbox_id(db)
    await by_sms(tg, world, "organiser", "DIGEST")
    await by_telegram(tg, world, "organiser", "/digest")
    await by_sms(tg, world, "leader_a", "DIGEST")
    rows = await rows_after(db, before)
    assert [(r.channel, r.template) for r in rows] == [
        ("sms", "digest"),
        ("telegram", "digest"),
        ("telegram", "digest_chart"),
        ("sms", "organisers_only"),
    ]
    assert "Accountability Assembly" in rows[0].body and "0/40 confirmed" in rows[0].body
    assert "St Mary's Church" in rows[1].body


async def test_a_link_code_by_sms_is_the_same_code_without_the_telegram_link(
    tg: Harness, db: Database, world: World
) -> None:
    before = await last_outbox_id(db)
    await by_sms(tg, world, "leader_a", "LINKCODE 07700 900004")  # Ann, at St Mary's
    await by_sms(tg, world, "leader_a", "LINKCODE 07700 900012")  # Yusuf, at the mosque
    given, refused = await rows_after(db, before)
    assert given.template == "linkcode_person" and "send /link " in given.body
    assert "t.me" not in given.body
    assert refused.template == "linkcode_no_person"
