"""The webhook edge, over real sockets: whole bodies however they arrive, slow and idle clients
cut off in bounded time, 503 (not 500) while the database is down, content neither database can
hold stored all the same, and no old reply replayed to someone who has since said STOP."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import exc, func, select

from bot.app import create_app, server_options
from bot.telegram.extension import telegram_extension
from bot.telegram.webhook import PATH as TELEGRAM
from bot.telegram.webhook import SECRET_HEADER
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database, is_unavailable
from storage.models import InboundMessage, Invitation, OutboxMessage, Person, TelegramUpdate
from storage.models.base import storable
from tests import factories as f
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_updates import SECRET, Updates, private, telegram_settings, user
from tests.raw_http import chunked, read_response, request_head
from tests.twilio_signing import encode, inbound_form, sign

SMS = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"
FORM = "application/x-www-form-urlencoded"
ANN = user(5001, "Ann", "Patel")


class Entered:
    """A middleware that tells when a request has reached the handlers (its head parsed)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.event.set()
        response: web.StreamResponse = await handler(request)
        return response


async def let_the_server_run() -> None:
    """Event-loop turns enough for the in-process server to act on what it has received (no
    wall time: the server runs on this loop)."""
    for _ in range(20):
        await asyncio.sleep(0)


@asynccontextmanager
async def server(app: web.Application, settings: Settings) -> AsyncIterator[TestServer]:
    """The app served as `turnout serve` serves it (the same runner options)."""
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server(**server_options(settings))
    try:
        yield test_server
    finally:
        await test_server.close()


@asynccontextmanager
async def telegram_app(
    db: Database, settings: Settings, clock: FakeClock
) -> AsyncIterator[tuple[web.Application, Settings]]:
    async with FakeTelegramApi() as api:
        tg_settings = telegram_settings(settings, api)
        yield (
            create_app(tg_settings, db=db, clock=clock, extensions=[telegram_extension]),
            (tg_settings),
        )


async def count(db: Database, model: Any) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def signed_sms(settings: Settings, form: dict[str, str]) -> tuple[dict[str, str], bytes]:
    signature = sign(settings.webhook_auth_token.get(), settings.public_url + SMS, form)
    return {"Content-Type": FORM, "X-Twilio-Signature": signature}, encode(form)


async def send_in_pieces(
    port: int, entered: Entered, head: bytes, pieces: list[bytes]
) -> tuple[int, bytes]:
    """Send the head with the first piece, wait until the request has reached the handler,
    then each further piece after letting the server run; the response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + pieces[0])
        await writer.drain()
        await asyncio.wait_for(entered.event.wait(), 10)
        for piece in pieces[1:]:
            await let_the_server_run()
            writer.write(piece)
            await writer.drain()
        response = await asyncio.wait_for(read_response(reader), 10)
    finally:
        writer.close()
    return response.status, response.body


def split(body: bytes, parts: int) -> list[bytes]:
    size = -(-len(body) // parts)
    return [body[i : i + size] for i in range(0, len(body), size)]


# -- whole bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_signed_sms_whose_body_arrives_in_pieces_is_answered_and_stored(
    db: Database, settings: Settings, clock: FakeClock, framing: str
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        action = await f.action(s, clock.now())
        ann = await f.person(s, "Ann Patel", 1, clock.now(), institution=mary)
        await f.invite(s, action, ann, clock.now())
    form = inbound_form("SM" + "a" * 32, f.phone(1), "YES")
    headers, body = signed_sms(settings, form)
    pieces = split(body, 4)
    if framing == "chunked":
        headers["Transfer-Encoding"] = "chunked"
        pieces = chunked(pieces)
    else:
        headers["Content-Length"] = str(len(body))
    entered = Entered()
    app = create_app(settings, db=db, clock=clock)
    app.middlewares.append(entered.middleware)
    async with server(app, settings) as srv:
        status, answer = await send_in_pieces(srv.port, entered, request_head(SMS, headers), pieces)
    assert status == 200, answer
    assert b"<Message" in answer and b"Thanks Ann" in answer
    async with db.session() as s:
        stored = await s.scalar(select(InboundMessage))
        invitation = await s.scalar(select(Invitation))
    assert stored is not None and stored.body == "YES" and stored.provider_id == form["MessageSid"]
    assert invitation is not None and invitation.response == "yes"


async def test_a_telegram_update_whose_body_arrives_in_pieces_is_stored_and_handled(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    update = Updates().text(ANN, private(ANN), "Hello, what is this?")
    body = json.dumps(update).encode()
    headers = {
        "Content-Type": "application/json",
        SECRET_HEADER: SECRET,
        "Content-Length": str(len(body)),
    }
    entered = Entered()
    async with telegram_app(db, settings, clock) as (app, tg_settings):
        app.middlewares.append(entered.middleware)
        async with server(app, tg_settings) as srv:
            status, answer = await send_in_pieces(
                srv.port, entered, request_head(TELEGRAM, headers), split(body, 5)
            )
    assert status == 200, answer
    async with db.session() as s:
        row = await s.scalar(select(TelegramUpdate))
        inbound = await s.scalar(select(InboundMessage))
    assert row is not None and row.raw == update and row.processed_at is not None
    assert inbound is not None and inbound.body == "Hello, what is this?"


async def test_a_chunked_body_over_the_limit_is_refused_while_reading(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    headers = {"Content-Type": FORM, "Transfer-Encoding": "chunked", "X-Twilio-Signature": "x"}
    app = create_app(settings, db=db, clock=clock)
    async with server(app, settings) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(request_head(SMS, headers) + b"".join(chunked([b"Body=" + b"x" * 70_000])))
        response = await asyncio.wait_for(read_response(reader), 10)
        writer.close()
    assert (response.status, response.body) == (400, b"request body too large\n")
    assert await count(db, InboundMessage) == 0


# -- slow and idle clients ------------------------------------------------------------------


async def _closed_within(reader: asyncio.StreamReader, bound: float) -> tuple[bytes, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    data = await asyncio.wait_for(reader.read(), bound)
    return data, loop.time() - start


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"POST /webhooks/twilio/sms HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # half a head
    ],
    ids=["idle", "half a head"],
)
async def test_a_client_that_stalls_before_the_end_of_its_head_is_disconnected(
    db: Database, settings: Settings, clock: FakeClock, sent: bytes
) -> None:
    quick = dataclasses.replace(settings, header_timeout_seconds=0.3)
    app = create_app(quick, db=db, clock=clock)
    async with server(app, quick) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(sent)
        await writer.drain()
        data, took = await _closed_within(reader, 10)
        writer.close()
    assert data == b""  # closed without a response
    assert took < 5


async def test_a_client_that_stalls_half_way_through_its_body_gets_408_and_is_disconnected(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    quick = dataclasses.replace(settings, body_timeout_seconds=0.3)
    headers, body = signed_sms(quick, inbound_form("SM" + "b" * 32, f.phone(2), "YES"))
    headers["Content-Length"] = str(len(body))
    app = create_app(quick, db=db, clock=clock)
    async with server(app, quick) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(request_head(SMS, headers) + body[: len(body) // 2])
        await writer.drain()
        loop = asyncio.get_running_loop()
        start = loop.time()
        response = await asyncio.wait_for(read_response(reader), 10)
        took = loop.time() - start
        writer.close()
    assert response.status == 408 and response.body == b"request body not received in time\n"
    assert took < 5
    assert await count(db, InboundMessage) == 0


# -- the database down ----------------------------------------------------------------------


@asynccontextmanager
async def outage(db: Database, app_db: Database) -> AsyncIterator[None]:
    """While inside, ``app_db`` (what the app holds) points at a database that is not there:
    PostgreSQL on a closed port, SQLite in a directory that does not exist. Then it is back."""
    url = (
        "sqlite+aiosqlite:////nonexistent-turnout-dir/turnout.db"
        if db.is_sqlite
        else "postgresql+asyncpg://postgres@127.0.0.1:1/turnout"
    )
    down = Database.from_url(url)
    app_db.engine, app_db.sessionmaker = down.engine, down.sessionmaker
    try:
        yield
    finally:
        app_db.engine, app_db.sessionmaker = db.engine, db.sessionmaker
        await down.dispose()


async def test_while_the_database_is_down_an_sms_gets_503_and_its_retry_is_stored(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    app_db = Database(db.engine, db.sessionmaker)
    app = create_app(settings, db=app_db, clock=clock)
    headers, body = signed_sms(settings, inbound_form("SM" + "c" * 32, f.phone(3), "Hello"))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with outage(db, app_db):
            resp = await client.post(SMS, data=body, headers=headers)
            assert resp.status == 503
            assert int(resp.headers["Retry-After"]) > 0
            assert (await client.get("/healthz")).status == 503
        retry = await client.post(SMS, data=body, headers=headers)
        assert retry.status == 200
        assert "<Message" in await retry.text()
    assert await count(db, InboundMessage) == 1


async def test_while_the_database_is_down_a_status_callback_gets_503(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    app_db = Database(db.engine, db.sessionmaker)
    app = create_app(settings, db=app_db, clock=clock)
    form = {"MessageSid": "SM" + "d" * 32, "MessageStatus": "delivered"}
    signature = sign(settings.webhook_auth_token.get(), settings.public_url + STATUS, form)
    headers = {"Content-Type": FORM, "X-Twilio-Signature": signature}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with outage(db, app_db):
            resp = await client.post(STATUS, data=encode(form), headers=headers)
            assert resp.status == 503 and "Retry-After" in resp.headers
        assert (await client.post(STATUS, data=encode(form), headers=headers)).status == 200


async def test_while_the_database_is_down_a_telegram_update_gets_503_and_its_retry_is_stored(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    app_db = Database(db.engine, db.sessionmaker)
    update = Updates().text(ANN, private(ANN), "Hello")
    async with FakeTelegramApi() as api:
        tg_settings = telegram_settings(settings, api)
        app = create_app(tg_settings, db=app_db, clock=clock, extensions=[telegram_extension])
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            async with outage(db, app_db):
                resp = await client.post(TELEGRAM, json=update, headers={SECRET_HEADER: SECRET})
                assert resp.status == 503 and "Retry-After" in resp.headers
            retry = await client.post(TELEGRAM, json=update, headers={SECRET_HEADER: SECRET})
            assert retry.status == 200
    async with db.session() as s:
        row = await s.scalar(select(TelegramUpdate))
    assert row is not None and row.processed_at is not None
    assert await count(db, InboundMessage) == 1


def test_what_counts_as_the_database_being_unavailable() -> None:
    import sqlite3

    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY
    no_table = sqlite3.OperationalError("no such table: x")
    no_table.sqlite_errorcode = sqlite3.SQLITE_ERROR
    assert is_unavailable(exc.TimeoutError("QueuePool limit reached"))
    assert is_unavailable(ConnectionRefusedError(111, "Connect call failed"))
    assert is_unavailable(exc.OperationalError("BEGIN", {}, locked))
    # Our own faults stay faults (500), not outages.
    assert not is_unavailable(exc.OperationalError("SELECT", {}, no_table))
    assert not is_unavailable(exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not is_unavailable(ValueError("bug"))


# -- content neither database can hold ------------------------------------------------------


def test_storable_replaces_only_what_neither_database_can_hold() -> None:
    assert storable("a\x00b\ud800\udfffc") == "a\ufffdb\ufffd\ufffdc"
    for fine in ("", "YES 2", "Zażółć gęślą jaźń", "\U0001f600 \u2028 \ufeff"):
        assert storable(fine) is fine


async def test_an_sms_with_nul_is_stored_normalised_and_its_original_kept_losslessly(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    text = "Damp\x00 in the flat"
    form = inbound_form("SM" + "e" * 32, f.phone(5), text, to="+447700900000\x00" + "9" * 80)
    headers, body = signed_sms(settings, form)
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post(SMS, data=body, headers=headers)
        assert resp.status == 200
        replay = await client.post(SMS, data=body, headers=headers)
        assert replay.status == 200 and await replay.text() == await resp.text()
    async with db.session() as s:
        (stored,) = list(await s.scalars(select(InboundMessage)))
    assert stored.body == "Damp\ufffd in the flat"
    assert stored.body_original is not None and json.loads(stored.body_original) == text
    assert stored.recipient == ("+447700900000\ufffd" + "9" * 80)[:64]
    assert stored.inbox_status == "open"  # free text: an organiser sees it


async def test_an_ordinary_sms_keeps_no_second_copy(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    headers, body = signed_sms(settings, inbound_form("SM" + "f" * 32, f.phone(6), "Zażółć ❤"))
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.post(SMS, data=body, headers=headers)).status == 200
    async with db.session() as s:
        stored = await s.scalar(select(InboundMessage))
    assert stored is not None and stored.body == "Zażółć ❤" and stored.body_original is None


async def test_a_telegram_update_with_nul_and_unpaired_surrogates_is_kept_exactly(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    odd = user(5002, "Bo\x00b", "\ud800Smith")
    update = Updates().text(odd, private(odd), "hi\x00 there \udfff")
    # As Telegram would send it: JSON escapes (\u0000, \ud800), all ASCII.
    body = json.dumps(update).encode()
    async with (
        telegram_app(db, settings, clock) as (app, _),
        TestClient(TestServer(app, host="127.0.0.1")) as client,
    ):
        resp = await client.post(
            TELEGRAM,
            data=body,
            headers={"Content-Type": "application/json", SECRET_HEADER: SECRET},
        )
        assert resp.status == 200, await resp.text()
    async with db.session() as s:
        row = await s.scalar(select(TelegramUpdate))
        inbound = await s.scalar(select(InboundMessage))
        person = await s.scalar(select(Person))
    assert row is not None and row.raw == update and row.error is None
    assert inbound is not None and inbound.body == "hi\ufffd there \ufffd"
    assert inbound.body_original is not None and json.loads(inbound.body_original) == (
        "hi\x00 there \udfff"
    )
    assert person is not None and person.telegram_user_id == 5002


# -- a replay after STOP --------------------------------------------------------------------


async def test_a_replayed_sms_after_stop_gets_no_reply_but_the_stop_confirmation(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        action = await f.action(s, clock.now())
        ann = await f.person(s, "Ann Patel", 7, clock.now(), institution=mary)
        await f.invite(s, action, ann, clock.now())
    yes = signed_sms(settings, inbound_form("SM" + "1" * 32, f.phone(7), "YES"))
    stop = signed_sms(settings, inbound_form("SM" + "2" * 32, f.phone(7), "STOP"))
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:

        async def post(request: tuple[dict[str, str], bytes]) -> str:
            resp = await client.post(SMS, data=request[1], headers=request[0])
            assert resp.status == 200
            return await resp.text()

        assert "Thanks Ann" in await post(yes)
        confirmation = await post(stop)
        assert "unsubscribed" in confirmation
        replayed_yes = await post(yes)
        replayed_stop = await post(stop)
    assert "<Message" not in replayed_yes and "Thanks Ann" not in replayed_yes
    # The STOP confirmation is the one message that may still reach them.
    assert replayed_stop == confirmation
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 2
        replies = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [r.template for r in replies] == ["rsvp_yes", "stop_confirm"]
