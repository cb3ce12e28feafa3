"""POST /webhooks/telegram through the real aiohttp app: authenticate first, parse strictly,
store before acknowledging, 403 / 400 / 200 and never 500."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.handlers import ROUTES
from bot.handlers.grammar import Turnout
from bot.telegram.extension import telegram_extension
from bot.telegram.service import TelegramConfigError
from bot.telegram.webhook import PATH, SECRET_HEADER
from config.clock import FakeClock
from config.settings import Secret, Settings
from storage.db import Database
from storage.models import InboundMessage, OutboxMessage, TelegramUpdate
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_updates import (
    SECRET,
    Harness,
    Updates,
    harness,
    private,
    telegram_settings,
    user,
)

ANN = user(5001, "Ann", "Patel")
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


async def count(db: Database, model: Any) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def _malformed() -> list[tuple[str, dict[str, str], bytes, int]]:
    good = json.dumps(Updates().text(ANN, private(ANN), "hello")).encode()
    ok = {**JSON, SECRET_HEADER: SECRET}
    return [
        ("no secret", JSON, good, 403),
        ("wrong secret", {**JSON, SECRET_HEADER: "not-the-secret"}, good, 403),
        ("secret with a different case", {**JSON, SECRET_HEADER: SECRET.upper()}, good, 403),
        ("empty secret", {**JSON, SECRET_HEADER: ""}, good, 403),
        ("not JSON", ok, b"update_id=1&message=hi", 400),
        ("invalid UTF-8", ok, b'{"update_id": 1, "x": "\xff\xfe"}', 400),
        ("empty body", ok, b"", 400),
        ("JSON array", ok, b"[1, 2, 3]", 400),
        ("JSON string", ok, b'"update"', 400),
        ("JSON null", ok, b"null", 400),
        ("update_id missing", ok, b'{"message": {"text": "hi"}}', 400),
        ("update_id a string", ok, b'{"update_id": "12"}', 400),
        ("update_id a float", ok, b'{"update_id": 12.5}', 400),
        ("update_id a bool", ok, b'{"update_id": true}', 400),
        ("update_id negative", ok, b'{"update_id": -4}', 400),
        ("update_id too big", ok, b'{"update_id": 99999999999999999999}', 400),
        ("huge body", ok, b'{"update_id": 1, "pad": "' + b"x" * 300_000 + b'"}', 400),
        ("binary garbage", ok, bytes(range(256)) * 4, 400),
        ("unknown update kind", ok, b'{"update_id": 8, "business_message": {"x": 1}}', 200),
        ("update with nothing in it", ok, b'{"update_id": 9}', 200),
        ("message that is not an object", ok, b'{"update_id": 10, "message": "hi"}', 200),
        ("message missing its chat", ok, b'{"update_id": 11, "message": {"text": "/rsvp"}}', 200),
        ("NaN", ok, b'{"update_id": 1, "x": NaN}', 400),
        ("Infinity", ok, b'{"update_id": 1, "x": Infinity}', 400),
        ("-Infinity", ok, b'{"update_id": 1, "x": -Infinity}', 400),
        ("a float past the largest double", ok, b'{"update_id": 1, "x": 1e999}', 400),
        ("update_id NaN", ok, b'{"update_id": NaN}', 400),
        (
            "a chat id past 64 bits",
            ok,
            b'{"update_id": 1, "message": {"chat": {"id": 99999999999999999999}}}',
            400,
        ),
        ("a 5000-digit integer", ok, b'{"update_id": 1, "x": ' + b"9" * 5000 + b"}", 400),
        ("update_id given twice", ok, b'{"update_id": 1, "update_id": 2}', 400),
        ("a key given twice, deeper", ok, b'{"update_id": 1, "m": {"a": 1, "a": 2}}', 400),
        ("nested 33 deep", ok, b'{"update_id": 1, "x": ' + b"[" * 32 + b"]" * 32 + b"}", 400),
        (
            "nested thousands deep",
            ok,
            b'{"update_id": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            400,
        ),
        ("a UTF-8 byte order mark", ok, b'\xef\xbb\xbf{"update_id": 1}', 400),
        ("UTF-16", ok, '{"update_id": 1}'.encode("utf-16"), 400),
        ("a surrogate encoded as UTF-8", ok, b'{"update_id": 1, "x": "\xed\xa0\x80"}', 400),
        # Kept (stored as sent, losslessly as JSON); the text columns normalise them.
        ("NUL escaped in a string", ok, b'{"update_id": 12, "business_message": "\\u0000"}', 200),
        ("NUL escaped in a key", ok, b'{"update_id": 13, "\\u0000": 1}', 200),
        ("an unpaired surrogate escaped", ok, b'{"update_id": 14, "x\\ud800": "\\udc00"}', 200),
        ("nested 32 deep", ok, b'{"update_id": 15, "x": ' + b"[" * 31 + b"]" * 31 + b"}", 200),
    ]


@pytest.mark.parametrize(("name", "headers", "body", "expected"), _malformed())
async def test_malformed_or_unauthenticated_updates_get_403_400_or_200_never_500(
    tg: Harness, db: Database, name: str, headers: dict[str, str], body: bytes, expected: int
) -> None:
    resp = await tg.client.post(PATH, data=body, headers=headers)
    assert resp.status == expected, name
    stored = await count(db, TelegramUpdate)
    assert stored == (1 if expected == 200 else 0), name
    assert await count(db, OutboxMessage) == 0, name


async def test_an_update_is_stored_before_the_200_and_marked_processed(
    tg: Harness, db: Database
) -> None:
    update = tg.updates.text(ANN, private(ANN), "Hello, what is this?")
    await tg.send(update)
    async with db.session() as s:
        row = await s.scalar(select(TelegramUpdate))
        inbound = await s.scalar(select(InboundMessage))
    assert row is not None and row.update_id == update["update_id"]
    assert row.raw == update and row.kind == "message"
    assert row.processed_at is not None and row.error is None
    # Plain text in a private chat went through the same inbound pipeline as SMS.
    assert inbound is not None and inbound.channel == "telegram"
    assert inbound.sender == "5001" and inbound.inbox_status == "open"


async def test_a_replayed_update_id_changes_nothing(tg: Harness, db: Database) -> None:
    update = tg.updates.text(ANN, private(ANN), "YES")
    await tg.send(update)
    before = (await count(db, OutboxMessage), await count(db, InboundMessage))
    for _ in range(3):
        assert (await tg.post(update)).status == 200
    # Even a replay with different content under the same id is ignored.
    altered = {**update, "message": {**update["message"], "text": "STOP"}}
    assert (await tg.post(altered)).status == 200
    assert (await count(db, OutboxMessage), await count(db, InboundMessage)) == before
    assert await count(db, TelegramUpdate) == 1


async def test_a_failing_handler_is_recorded_and_answered_with_an_apology(
    tg: Harness, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(ROUTES, Turnout, broken)
    update = tg.updates.text(ANN, private(ANN), "/turnout")
    resp = await tg.post(update)
    assert resp.status == 200
    async with db.session() as s:
        row = await s.scalar(select(TelegramUpdate))
        replies = list(await s.scalars(select(OutboxMessage)))
    assert row is not None and row.error is not None and "boom" in row.error
    assert [r.template for r in replies] == ["tg_error"]


async def test_updates_stored_while_telegram_was_unreachable_are_processed_once_it_is(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    api = FakeTelegramApi(clock=clock)
    await api.start()
    url = api.url
    await api.close()  # nothing listens there now: getMe fails at startup
    tg_settings = telegram_settings(settings, api)
    app = create_app(tg_settings, db=db, clock=clock, extensions=[telegram_extension])
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        update = Updates().text(ANN, private(ANN), "Hello")
        resp = await client.post(PATH, json=update, headers={SECRET_HEADER: SECRET})
        assert resp.status == 200
        async with db.session() as s:
            row = await s.scalar(select(TelegramUpdate))
        assert row is not None and row.processed_at is None
        # Telegram comes back on the same address: the service catches up.
        api2 = FakeTelegramApi(clock=clock)
        await api2.start(int(url.rsplit(":", 1)[1]))
        try:
            from bot.telegram.webhook import SLOT

            service = app[SLOT].service
            assert service is not None
            assert await service._try_initialize(first=False)
            await service._became_ready()
        finally:
            await api2.close()
    async with db.session() as s:
        row = await s.scalar(select(TelegramUpdate))
    assert row is not None and row.processed_at is not None
    assert await count(db, InboundMessage) == 1


async def test_without_a_token_the_route_is_off(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    app = create_app(settings, db=db, clock=clock, extensions=[telegram_extension])
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        update = Updates().text(ANN, private(ANN), "hi")
        resp = await client.post(PATH, json=update, headers={SECRET_HEADER: SECRET})
        assert resp.status == 404
        health = await (await client.get("/healthz")).json()
    assert health["telegram"] == "off"
    assert await count(db, TelegramUpdate) == 0


async def test_a_token_without_a_webhook_secret_refuses_to_start(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with FakeTelegramApi(clock=clock) as api:
        no_secret = dataclasses.replace(
            telegram_settings(settings, api), telegram_webhook_secret=Secret("")
        )
        app = create_app(no_secret, db=db, clock=clock, extensions=[telegram_extension])
        with pytest.raises(TelegramConfigError, match="TURNOUT_TELEGRAM_WEBHOOK_SECRET"):
            async with TestClient(TestServer(app, host="127.0.0.1")):
                pass


async def test_the_bot_is_initialised_with_getme_and_no_token_is_logged(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Our loggers at their most verbose; python-telegram-bot's are held at INFO by the service
    # (at DEBUG they print the API URL, which carries the token).
    for name in ("bot", "storage", "scheduler"):
        caplog.set_level(logging.DEBUG, logger=name)
    assert logging.getLogger("telegram").getEffectiveLevel() >= logging.INFO
    assert [c.method for c in tg.api.calls] == ["getMe"]
    await tg.send(tg.updates.text(ANN, private(ANN), "/start"))
    await tg.drain()
    assert tg.settings.telegram_bot_token.get() not in caplog.text
