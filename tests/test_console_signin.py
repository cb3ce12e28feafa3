"""Signing in to the console: a code to the person's own channel (read here from the outbox),
the same answer for any number, expiry, single use, attempt limits per person and per client,
and the operator's one-time links."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.web import auth
from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.models import ConsoleSession, SignInCode
from tests import factories as f
from tests.console import Browser, alliance, code_rows, console_settings_for, latest_code, signed_in


async def audit_log(db: Database) -> list[tuple[str, int | None, dict[str, Any]]]:
    async with db.session() as s:
        return [(e.action, e.subject_id, e.details) for e in reversed(await entries(s))]


async def test_an_organiser_gets_a_code_by_sms_and_signs_in_with_it(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    page = await browser.ask_for_code("07700 900011")
    assert page.status == 200
    assert "Enter the code we sent you" in page.text
    (row,) = await code_rows(db)
    assert (row.channel, row.to_address, row.person_id) == ("sms", f.phone(11), people.ruth.id)
    assert (row.kind, row.status) == ("system", "queued")  # ahead of bulk, not held at night
    assert "is your Leicester Citizens sign-in code" in row.body
    assert row.expires_at == clock.now() + timedelta(minutes=10)

    page = await browser.post("/sign-in/code", {"code": await latest_code(db)})
    assert page.status == 200
    assert "<h1>Today" in page.text
    assert "Ruth Adeyemi" in page.text and "Organiser, whole alliance" in page.text
    async with db.session() as s:
        session = await s.scalar(select(ConsoleSession))
    assert session is not None
    assert (session.person_id, session.method) == (people.ruth.id, "code")
    assert await audit_log(db) == [
        ("sign_in_requested", people.ruth.id, {"outcome": "sent", "channel": "sms"}),
        ("sign_in_succeeded", session.id, {"method": "code"}),
    ]


async def test_a_leader_who_linked_telegram_gets_the_code_there_in_their_language(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    async with db.session() as s:
        ann = await s.get_one(type(people.ann), people.ann.id)
        ann.telegram_user_id = 7001
        ann.language = "cy"
    browser = await signed_in(web, console_settings, db, "+447700900001")
    (row,) = await code_rows(db)
    assert (row.channel, row.to_address) == ("telegram", "7001")
    assert "yw eich cod mewngofnodi Leicester Citizens" in row.body
    page = await browser.get("/")
    assert "Leader, St Mary&#39;s Church" in page.text


def _without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


@pytest.mark.parametrize("who", ["stranger", "member", "organiser"])
async def test_the_answer_never_reveals_whether_the_number_is_known(
    db: Database, console_settings: Settings, clock: FakeClock, who: str
) -> None:
    await alliance(db, clock.now())
    phone = {"stranger": "07700 900999", "member": "07700 900005", "organiser": "07700 900011"}
    pages = []
    for number in (phone[who], "07700 900998"):  # and a number nobody has
        app = create_app(console_settings, db=db, clock=clock)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            page = await Browser(client, console_settings).ask_for_code(number)
            pages.append((page.status, page.url.rsplit("/", 2)[-2:], _without_tokens(page.text)))
    assert pages[0] == pages[1]
    codes = await code_rows(db)
    assert len(codes) == (1 if who == "organiser" else 0)


async def test_nobody_who_may_not_sign_in_gets_a_code_and_every_code_is_wrong(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.ask_for_code("07700 900005")  # Grace: a member, not a leader
    assert await code_rows(db) == []
    page = await browser.post("/sign-in/code", {"code": "123456"})
    assert page.status == 400
    assert "That code is not right" in page.text
    assert (await audit_log(db))[0] == (
        "sign_in_requested",
        people.grace.id,
        {"outcome": "not_allowed", "channel": None},
    )


@pytest.mark.parametrize("why", ["opted_out", "unreachable"])
async def test_an_organiser_we_cannot_text_gets_no_code_and_the_page_says_what_to_do(
    web: TestClient[Any, Any],
    db: Database,
    console_settings: Settings,
    clock: FakeClock,
    why: str,
) -> None:
    people = await alliance(db, clock.now())
    async with db.session() as s:
        ruth = await s.get_one(type(people.ruth), people.ruth.id)
        if why == "opted_out":
            ruth.consent = "opted_out"
        else:
            ruth.phone_status = "invalid"
    page = await Browser(web, console_settings).ask_for_code("07700 900011")
    assert page.status == 200
    assert "ask the person who runs turnout for a sign-in link" in page.text
    assert await code_rows(db) == []
    assert (await audit_log(db))[-1][2] == {"outcome": why, "channel": None}


async def test_a_mistyped_number_is_shown_beside_the_field_with_what_was_typed(
    web: TestClient[Any, Any], console_settings: Settings
) -> None:
    browser = Browser(web, console_settings)
    await browser.get("/sign-in")
    page = await browser.post("/sign-in", {"phone": "0770 12"})
    assert page.status == 400
    assert '<a href="#phone">Enter a phone number like 07700 900123' in page.text
    assert 'id="phone-error"' in page.text and 'aria-invalid="true"' in page.text
    assert 'value="0770 12"' in page.text
    page = await browser.post("/sign-in", {"phone": ""})
    assert "Enter your mobile phone number" in page.text


async def test_a_code_expires_after_its_minutes(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.ask_for_code("07700 900011")
    code = await latest_code(db)
    clock.advance(minutes=10)
    page = await browser.post("/sign-in/code", {"code": code})
    assert page.status == 400
    assert "That code has expired" in page.text
    async with db.session() as s:
        assert await s.scalar(select(ConsoleSession)) is None


async def test_a_code_works_once(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    first = Browser(web, console_settings)
    await first.ask_for_code("07700 900011")
    pending = first.cookie("turnout_signin")
    assert pending
    code = await latest_code(db)
    assert (await first.post("/sign-in/code", {"code": code})).status == 200
    assert first.cookie("turnout_signin") is None  # the pending sign-in is over

    app = create_app(console_settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        second = Browser(client, console_settings)
        await second.get("/sign-in")
        client.session.cookie_jar.update_cookies({"turnout_signin": pending})
        page = await second.post("/sign-in/code", {"code": code})
    assert page.status == 400 and "That code has expired" in page.text
    async with db.session() as s:
        assert len(list(await s.scalars(select(ConsoleSession)))) == 1


async def test_a_code_of_the_wrong_shape_is_an_error_and_not_a_try(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.ask_for_code("07700 900011")
    for typed in ["", "12345", "1234567", "abcdef"]:
        page = await browser.post("/sign-in/code", {"code": typed})
        assert page.status == 400
        assert "Enter the 6-digit code from the message we sent you" in page.text
    async with db.session() as s:
        row = await s.scalar(select(SignInCode))
    assert row is not None and row.wrong_attempts == 0
    code = await latest_code(db)
    page = await browser.post("/sign-in/code", {"code": f"{code[:3]} {code[3:]}"})
    assert "<h1>Today" in page.text  # spaces as the text shows them are fine


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_wrong_codes_lock_the_person_out_for_the_lockout_window(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.ask_for_code("07700 900011")
    code = await latest_code(db)
    for _ in range(4):
        page = await browser.post("/sign-in/code", {"code": _wrong(code)})
        assert page.status == 400 and "That code is not right" in page.text
    page = await browser.post("/sign-in/code", {"code": _wrong(code)})
    assert page.status == 429
    assert "Wait 15 minutes" in page.text
    assert (await audit_log(db))[-1] == ("sign_in_locked", people.ruth.id, {"minutes": 15})

    # The right code no longer works, and a new request within the window sends nothing.
    await browser.ask_for_code("07700 900011")
    assert len(await code_rows(db)) == 1
    page = await browser.post("/sign-in/code", {"code": code})
    assert page.status == 400
    requested = [d for a, _, d in await audit_log(db) if a == "sign_in_requested"]
    assert requested[-1] == {"outcome": "locked", "channel": None}

    clock.advance(minutes=15)
    await browser.sign_in(db, "07700 900011")
    assert len(await code_rows(db)) == 2


async def test_a_person_gets_at_most_the_allowed_codes_per_window(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    for _ in range(6):
        page = await browser.ask_for_code("07700 900011")
        assert page.status == 200 and "Enter the code" in page.text  # the same page
    assert len(await code_rows(db)) == 5
    assert (await audit_log(db))[-1][2] == {"outcome": "throttled", "channel": None}


async def test_one_client_is_limited_across_numbers(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    settings = console_settings_for(db_url, TURNOUT_CONSOLE_MAX_ATTEMPTS="1")
    people = await alliance(db, clock.now())
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        browser = Browser(client, settings)
        # Four wrong codes (the client's limit: 4 x 1) against four different numbers.
        for n in (11, 1, 7, 999):
            await browser.ask_for_code(f"07700 900{n:03d}")
            page = await browser.post("/sign-in/code", {"code": "000000"})
            assert page.status == 429  # each pending sign-in allows one wrong try
        page = await browser.ask_for_code("07700 900011")
        assert page.status == 429
        assert "Too many tries" in page.text
    assert (await audit_log(db))[-1] == ("sign_in_locked", None, {"limit": "client"})
    del people


async def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    settings = console_settings_for(
        db_url, TURNOUT_CONSOLE_MAX_ATTEMPTS="1", TURNOUT_TRUST_FORWARDED_FOR="true"
    )
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        browser = Browser(client, settings)
        for n in range(4):
            await browser.ask_for_code(f"07700 900{900 + n}")
            forwarded = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
            await browser.post("/sign-in/code", {"code": "000000"}, headers=forwarded)
        # The proxy's own address (the peer) is not the client: another client still may ask.
        await browser.get("/sign-in")
        page = await browser.post(
            "/sign-in", {"phone": "07700 900950"}, headers={"X-Forwarded-For": "203.0.113.10"}
        )
        assert page.status == 200


async def test_an_operator_link_shows_a_button_and_the_button_signs_in_once(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    async with db.session() as s:
        link = await auth.sign_in_link(s, console_settings, people.ann, clock.now())
    assert link.startswith("http://console.example.org/sign-in/link/")
    path = link.removeprefix("http://console.example.org")
    browser = Browser(web, console_settings)
    for _ in range(2):  # looking (a link preview, a second look) does not use it
        page = await browser.get(path)
        assert page.status == 200 and "Sign in as Ann Patel" in page.text
    page = await browser.post(path)
    assert page.status == 200 and "<h1>Today" in page.text
    assert "Leader, St Mary&#39;s Church" in page.text
    page = await Browser(web, console_settings).get(path)
    assert page.status == 404 and "This sign-in link has expired" in page.text
    async with db.session() as s:
        (session,) = await s.scalars(select(ConsoleSession))
    assert (session.person_id, session.method) == (people.ann.id, "link")
    assert [a for a, _, _ in await audit_log(db)] == ["sign_in_link_created", "sign_in_succeeded"]


async def test_an_operator_link_expires(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    async with db.session() as s:
        link = await auth.sign_in_link(s, console_settings, people.ruth, clock.now())
    path = link.removeprefix("http://console.example.org")
    browser = Browser(web, console_settings)
    await browser.get(path)
    clock.advance(minutes=15)
    page = await browser.post(path)
    assert page.status == 404 and "This sign-in link has expired" in page.text


async def test_no_link_for_someone_who_is_neither_organiser_nor_leader(
    db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    async with db.session() as s:
        with pytest.raises(auth.NotAllowed):
            await auth.sign_in_link(s, console_settings, people.grace, clock.now())
