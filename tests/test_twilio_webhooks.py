"""Twilio webhooks through the real aiohttp app, signed with the real validator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from sqlalchemy import func, select

from bot.app import create_app
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import DeliveryEvent, InboundMessage, Invitation, OutboxMessage, Person
from tests import factories as f
from tests.twilio_signing import encode, inbound_form, sign

SMS = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def client(
    db: Database, settings: Settings, clock: FakeClock
) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


def token(settings: Settings) -> str:
    return settings.webhook_auth_token.get()


async def post_signed(
    client: TestClient[Any, Any], settings: Settings, path: str, form: dict[str, str]
) -> Any:
    signature = sign(token(settings), settings.public_url + path, form)
    return await client.post(
        path, data=encode(form), headers={**FORM, "X-Twilio-Signature": signature}
    )


async def test_it_answers_yes_with_twiml_and_records_the_rsvp(
    client: TestClient[Any, Any], db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        action = await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary)
        await f.invite(s, action, ann, now)

    resp = await post_signed(
        client, settings, SMS, inbound_form("SM" + "a" * 32, f.phone(1), "YES")
    )

    assert resp.status == 200
    assert resp.content_type == "application/xml"
    body = await resp.text()
    assert "<Message" in body and "Thanks Ann" in body
    assert "/webhooks/twilio/status?outbox=" in body
    async with db.session() as s:
        inv = await s.scalar(select(Invitation))
        reply = await s.scalar(select(OutboxMessage))
    assert inv is not None and inv.response == "yes"
    assert reply is not None and (reply.status, reply.provider) == ("sent", "twiml")


async def test_a_replayed_message_sid_gets_the_same_twiml_and_changes_nothing(
    client: TestClient[Any, Any], db: Database, settings: Settings
) -> None:
    form = inbound_form("SM" + "b" * 32, f.phone(2), "Hello, what is this?")
    first = await (await post_signed(client, settings, SMS, form)).text()
    second = await (await post_signed(client, settings, SMS, form)).text()
    assert first == second
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_stop_opts_out_with_one_confirmation_and_a_second_stop_is_silent(
    client: TestClient[Any, Any], db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.person(s, "Ann Patel", 3, clock.now())
    first = await (
        await post_signed(client, settings, SMS, inbound_form("SM" + "c" * 32, f.phone(3), "Stop"))
    ).text()
    second = await (
        await post_signed(client, settings, SMS, inbound_form("SM" + "d" * 32, f.phone(3), "STOP"))
    ).text()
    assert "unsubscribed" in first
    assert "<Message" not in second
    async with db.session() as s:
        person = await s.scalar(select(Person))
    assert person is not None and person.consent == "opted_out"


async def test_status_callbacks_only_move_forward_and_21610_opts_the_person_out(
    client: TestClient[Any, Any], db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 4, now)
        s.add(
            OutboxMessage(
                dedupe_key="k1",
                channel="sms",
                person_id=ann.id,
                to_address=ann.phone,
                body="hi",
                status="sent",
                provider="twilio",
                provider_id="SM" + "e" * 32,
                not_before=now,
                created_at=now,
                updated_at=now,
            )
        )
    sid = "SM" + "e" * 32
    for status, code in (("delivered", ""), ("sent", ""), ("undelivered", "21610")):
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1"}
        if code:
            form["ErrorCode"] = code
        resp = await post_signed(client, settings, STATUS, form)
        assert resp.status == 200
    async with db.session() as s:
        row = await s.scalar(select(OutboxMessage))
        person = await s.get(Person, ann.id)
        events = await s.scalar(select(func.count()).select_from(DeliveryEvent))
    assert row is not None and row.status == "delivered" and row.error_code == "21610"
    assert person is not None and person.consent == "opted_out"
    assert person.consent_source == "carrier"
    assert events == 3


async def test_an_unknown_message_sid_in_a_status_callback_is_acknowledged(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
    assert (await post_signed(client, settings, STATUS, form)).status == 200


def _malformed() -> list[tuple[str, str, dict[str, str], bytes | None, int]]:
    """(name, path, headers, raw body or None to sign the form, expected status)."""
    good = inbound_form("SM" + "1" * 32, f.phone(7), "YES")
    cases: list[tuple[str, str, dict[str, str], bytes | None, int]] = []
    for field in ("MessageSid", "From", "To", "Body"):
        form = {k: v for k, v in good.items() if k != field}
        cases.append((f"missing {field}", SMS, {}, encode(form), 400))
    cases.append(("From not a phone", SMS, {}, encode({**good, "From": "hello"}), 400))
    cases.append(("huge body", SMS, {}, encode({**good, "Body": "x" * 100_000}), 400))
    for name, sid in (
        ("MessageSid longer than its column", "SM" + "1" * 63),
        ("MessageSid with NUL", "SM\x00" + "1" * 32),
        ("MessageSid not ASCII", "SMé" + "1" * 31),
        ("MessageSid with a space", "SM 1"),
    ):
        cases.append((name, SMS, {}, encode({**good, "MessageSid": sid}), 400))
    cases.append(("From with NUL", SMS, {}, encode({**good, "From": "+4477\x0000900007"}), 400))
    cases.append(("From of 5000 digits", SMS, {}, encode({**good, "From": "7" * 5000}), 400))
    for field in ("MessageSid", "From", "Body"):
        twice = [*good.items(), (field, good[field] + "2")]
        cases.append((f"{field} given twice", SMS, {}, urlencode(twice).encode(), 400))
    callback = {"MessageSid": "SM" + "4" * 32, "MessageStatus": "delivered"}
    for name, query in (
        ("outbox not ASCII digits", "%C2%B2"),
        ("outbox in Arabic-Indic digits", "%D9%A1"),
        ("outbox past 32 bits", str(2**31)),
        ("outbox negative", "-1"),
        ("outbox with underscores", "1_0"),
        ("outbox given twice", "1&outbox=2"),
    ):
        cases.append((name, f"{STATUS}?outbox={query}", {}, encode(callback), 400))
    for name, code in (
        ("ErrorCode superscript digit", "²"),
        ("ErrorCode Arabic-Indic digits", "٣٠"),
        ("ErrorCode past 64 bits", "9" * 25),
        ("ErrorCode negative", "-30003"),
    ):
        cases.append((name, STATUS, {}, encode({**callback, "ErrorCode": code}), 400))
    cases.append(
        (
            "status with NUL in MessageSid",
            STATUS,
            {},
            encode({**callback, "MessageSid": "SM\x00"}),
            400,
        )
    )
    cases.append(
        (
            "MessageStatus given twice",
            STATUS,
            {},
            urlencode([*callback.items(), ("MessageStatus", "failed")]).encode(),
            400,
        )
    )
    cases.append(
        (
            "bad status word",
            STATUS,
            {},
            encode({"MessageSid": "SM1", "MessageStatus": "exploded"}),
            400,
        )
    )
    cases.append(("status missing sid", STATUS, {}, encode({"MessageStatus": "sent"}), 400))
    cases.append(
        (
            "non-numeric ErrorCode",
            STATUS,
            {},
            encode({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "abc"}),
            400,
        )
    )
    return cases


@pytest.mark.parametrize(("name", "path", "headers", "raw", "expected"), _malformed())
async def test_malformed_but_signed_requests_get_400(
    client: TestClient[Any, Any],
    settings: Settings,
    name: str,
    path: str,
    headers: dict[str, str],
    raw: bytes,
    expected: int,
) -> None:
    from urllib.parse import parse_qsl

    # A MultiDict: Twilio signs every value of a field given twice.
    form = MultiDict(parse_qsl(raw.decode(), keep_blank_values=True))
    signature = sign(token(settings), settings.public_url + path, form)
    resp = await client.post(
        path, data=raw, headers={**FORM, **headers, "X-Twilio-Signature": signature}
    )
    assert resp.status == expected, name


@pytest.mark.parametrize(
    ("name", "headers", "body", "expected"),
    [
        ("forged signature", {**FORM, "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, None, 403),
        ("no signature", FORM, None, 403),
        ("signed with another token", {**FORM, "X-Twilio-Signature": "WRONG"}, None, 403),
        ("json content type", {"Content-Type": "application/json"}, b'{"Body": "YES"}', 400),
        ("no content type", {}, b"Body=YES", 400),
        ("invalid utf-8", FORM, b"Body=%FF%FE&From=%2B447700900001", 400),
        ("raw invalid utf-8 bytes", FORM, b"Body=\xff\xfe", 400),
        ("empty body", FORM, b"", 403),
        ("binary garbage", FORM, bytes(range(256)) * 4, 400),
        ("oversized body", FORM, b"Body=" + b"x" * 300_000, 400),
        ("a surrogate encoded as UTF-8", FORM, b"Body=%ED%A0%80", 400),
        ("overlong UTF-8", FORM, b"Body=%C0%80", 400),
        ("NUL, unsigned", FORM, b"Body=%00&From=%2B447700900001", 403),
        ("multipart", {"Content-Type": "multipart/form-data; boundary=x"}, b"--x--", 400),
    ],
)
async def test_unsigned_or_undecodable_requests_never_reach_the_handler(
    client: TestClient[Any, Any],
    db: Database,
    settings: Settings,
    name: str,
    headers: dict[str, str],
    body: bytes | None,
    expected: int,
) -> None:
    data = body if body is not None else encode(inbound_form("SM" + "2" * 32, f.phone(8), "YES"))
    resp = await client.post(SMS, data=data, headers=headers)
    assert resp.status == expected, name
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 0


async def test_a_signature_for_another_url_is_refused(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    form = inbound_form("SM" + "3" * 32, f.phone(9), "YES")
    signature = sign(token(settings), "https://evil.example.org" + SMS, form)
    resp = await client.post(
        SMS, data=encode(form), headers={**FORM, "X-Twilio-Signature": signature}
    )
    assert resp.status == 403


async def test_healthz(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"
