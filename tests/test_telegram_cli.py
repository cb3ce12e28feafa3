"""``turnout telegram``: set-webhook registers the URL, the secret and the command menus;
link-code makes one-time codes; say talks to the bot through the real webhook (sandbox).

The CLI runs its own event loop, so it is invoked in a thread while the fake Bot API serves
from the test's loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.cli import cli
from bot.cli import telegram as _telegram  # noqa: F401  (registers the group)
from bot.cli.runtime import Runtime
from bot.telegram.service import ALLOWED_UPDATES
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import OutboxMessage, TelegramLinkCode, TelegramUpdate
from storage.telegram import code_hash
from tests import factories as f
from tests.fakes.telegram_api import BOT_TOKEN, FakeTelegramApi
from tests.fakes.telegram_updates import SECRET

Turnout = Callable[..., Awaitable[Result]]


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi(clock=clock) as fake:
        yield fake


@pytest.fixture
def turnout(
    db: Database, db_url: str, settings: Settings, api: FakeTelegramApi, clock: FakeClock
) -> Turnout:
    runner = CliRunner()
    env = {
        "TURNOUT_DATABASE_URL": db_url,
        "TURNOUT_ALLIANCE_NAME": settings.alliance_name,
        "TURNOUT_PUBLIC_URL": "https://turnout.example.org",
        "TURNOUT_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TURNOUT_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TURNOUT_TELEGRAM_API_URL": api.url,
        # Nothing listens here: `say` starts the app for its one update.
        "TURNOUT_PORT": "9",
    }

    async def invoke(*args: str, ok: bool = True) -> Result:
        result = await asyncio.to_thread(
            runner.invoke,
            cli,
            ["telegram", *args],
            env=env,
            catch_exceptions=False,
            obj=Runtime(clock=clock),
        )
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


async def test_set_webhook_registers_the_url_the_secret_and_the_menus(
    turnout: Turnout, api: FakeTelegramApi
) -> None:
    result = await turnout("set-webhook")
    assert "https://turnout.example.org/webhooks/telegram" in result.output
    assert SECRET not in result.output and BOT_TOKEN not in result.output
    (hook,) = api.sent("setWebhook")
    assert hook.params["url"] == "https://turnout.example.org/webhooks/telegram"
    assert hook.params["secret_token"] == SECRET
    assert hook.params["allowed_updates"] == ALLOWED_UPDATES
    menus = api.sent("setMyCommands")
    # Private chats and groups, each: the default menu and one per language.
    assert len(menus) == 8
    group_menu = next(
        m
        for m in menus
        if m.params["scope"]["type"] == "all_group_chats" and "language_code" not in m.params
    )
    assert [c["command"] for c in group_menu.params["commands"]] == [
        "rsvp",
        "turnout",
        "chase",
        "commit",
        "count",
        "link",
        "help",
    ]
    welsh = next(m for m in menus if m.params.get("language_code") == "cy")
    assert welsh.params["commands"][0]["description"] == "Dechrau, a chysylltu eich Telegram"


async def test_link_codes_for_a_group_and_for_a_person(
    turnout: Turnout, db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        ann = await f.person(s, "Ann Patel", 1, clock.now(), institution=mary)
    group = await turnout("link-code", "--institution", "mary")
    (code,) = re.findall(r"/link (\w+)", group.output)
    person = await turnout("link-code", "--person", "07700 900001", "--hours", "2")
    assert "https://t.me/turnout_test_bot?start=" in person.output
    assert "+447700900001" not in person.output
    (person_code,) = re.findall(r"/link (\w+)", person.output)
    async with db.session() as s:
        rows = {r.code_hash: r for r in await s.scalars(select(TelegramLinkCode))}
    assert rows[code_hash(code)].institution_id == mary.id
    assert rows[code_hash(person_code)].person_id == ann.id
    assert rows[code_hash(person_code)].expires_at == clock.now() + timedelta(hours=2)
    missing = await turnout("link-code", "--institution", "nowhere", ok=False)
    assert missing.exit_code != 0 and "no single institution" in missing.output


async def test_say_goes_through_the_webhook_and_queues_the_reply(
    turnout: Turnout, db: Database
) -> None:
    result = await turnout("say", "--user", "9002", "--group", "-5001", "/help@turnout_test_bot")
    assert "accepted" in result.output
    async with db.session() as s:
        update = await s.scalar(select(TelegramUpdate))
        reply = await s.scalar(select(OutboxMessage))
    assert update is not None and update.processed_at is not None
    assert reply is not None and (reply.to_address, reply.template) == (
        "-5001",
        "tg_group_unlinked",
    )
