"""Sessions in the database: listed per person, signed out one by one or everywhere else,
ended by idleness and by an absolute limit, cookies as the brief says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.models import ConsoleSession, Membership
from tests.console import Browser, alliance, latest_code, signed_in

ANDROID_FIREFOX = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)


class Devices:
    """Several browsers on one app (each its own cookie jar)."""

    def __init__(self, db: Database, settings: Settings, clock: FakeClock) -> None:
        self.app = create_app(settings, db=db, clock=clock)
        self.db, self.settings = db, settings
        self.clients: list[TestClient[Any, Any]] = []

    async def browser(self, user_agent: str = ANDROID_FIREFOX) -> Browser:
        client = TestClient(
            TestServer(self.app, host="127.0.0.1") if not self.clients else self.clients[0].server,
            headers={"User-Agent": user_agent},
        )
        await client.start_server()
        self.clients.append(client)
        return Browser(client, self.settings)

    async def close(self) -> None:
        for client in reversed(self.clients):
            await client.close()


async def test_your_sessions_lists_each_device_and_signs_out_another_one(
    db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    devices = Devices(db, console_settings, clock)
    try:
        phone = await devices.browser(ANDROID_FIREFOX)
        laptop = await devices.browser(MAC_SAFARI)
        await phone.sign_in(db, "07700 900011")
        clock.advance(minutes=5)
        await laptop.sign_in(db, "07700 900011")
        page = await phone.get("/sessions")
        assert page.status == 200
        assert "Firefox on Android" in page.text and "Safari on Mac" in page.text
        assert page.text.count("This device") == 1
        async with db.session() as s:
            mac = await s.scalar(
                select(ConsoleSession).where(ConsoleSession.user_agent == "Safari on Mac")
            )
        assert mac is not None
        page = await phone.post(f"/sessions/{mac.id}/sign-out")
        assert page.status == 200 and "Signed out 1 device." in page.text
        assert "Safari on Mac" not in page.text
        page = await laptop.get("/")
        assert page.url.endswith("/sign-in")
        async with db.session() as s:
            log = [(e.action, e.subject_id) for e in await entries(s, action="session_revoked")]
            mac = await s.get_one(ConsoleSession, mac.id)
        assert log == [("session_revoked", mac.id)]
        assert mac.revoked_reason == "revoked" and mac.revoked_at == clock.now()
        del people
    finally:
        await devices.close()


async def test_sign_out_everywhere_else_keeps_only_this_device(
    db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    devices = Devices(db, console_settings, clock)
    try:
        browsers = [await devices.browser() for _ in range(3)]
        for browser in browsers:
            await browser.sign_in(db, "07700 900011")
        await browsers[0].get("/sessions")
        page = await browsers[0].post("/sessions/sign-out-others")
        assert "Signed out 2 devices." in page.text
        assert (await browsers[0].get("/")).status == 200
        for other in browsers[1:]:
            assert (await other.get("/")).url.endswith("/sign-in")
    finally:
        await devices.close()


async def test_nobody_can_sign_out_someone_elses_session(
    db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    devices = Devices(db, console_settings, clock)
    try:
        ruth, ann = await devices.browser(MAC_SAFARI), await devices.browser(ANDROID_FIREFOX)
        await ruth.sign_in(db, "07700 900011")
        await ann.sign_in(db, "07700 900001")
        async with db.session() as s:
            ruths = await s.scalar(select(ConsoleSession).order_by(ConsoleSession.id))
        assert ruths is not None
        page = await ann.get("/sessions")
        assert "Firefox on Android" in page.text and "Safari on Mac" not in page.text
        page = await ann.post(f"/sessions/{ruths.id}/sign-out")
        assert "Signed out 0 devices." in page.text
        assert (await ruth.get("/")).status == 200
    finally:
        await devices.close()


async def test_sign_out_ends_the_session_and_says_so(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    page = await browser.post("/sign-out")
    assert page.status == 200 and "You have signed out." in page.text
    assert browser.cookie("turnout_session") is None
    async with db.session() as s:
        session = await s.scalar(select(ConsoleSession))
    assert session is not None and session.revoked_reason == "signed_out"
    assert (await browser.get("/")).url.endswith("/sign-in")


async def test_a_session_ends_after_its_idle_hours_and_slides_while_used(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    for _ in range(3):  # used every two days: still in after six
        clock.advance(hours=48)
        assert (await browser.get("/")).status == 200
    clock.advance(hours=72)
    assert (await browser.get("/")).url.endswith("/sign-in")


async def test_a_session_ends_at_its_absolute_limit_however_much_it_is_used(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    for _ in range(14):
        clock.advance(days=2)
        assert (await browser.get("/")).status == 200
    clock.advance(days=2)  # day 30
    assert (await browser.get("/")).url.endswith("/sign-in")


async def test_last_seen_is_written_at_most_once_a_minute(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    start = clock.now()
    clock.advance(seconds=30)
    await browser.get("/")

    async def seen() -> tuple[Any, Any]:
        async with db.session() as s:
            row = await s.scalar(select(ConsoleSession))
            assert row is not None
            return row.last_seen_at, row.expires_at

    assert await seen() == (start, start + timedelta(hours=72))
    clock.advance(seconds=31)
    await browser.get("/")
    assert await seen() == (clock.now(), clock.now() + timedelta(hours=72))


async def test_losing_the_role_ends_the_session(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, "07700 900001")  # Ann leads St Mary's
    async with db.session() as s:
        membership = await s.scalar(select(Membership).where(Membership.person_id == people.ann.id))
        assert membership is not None
        membership.role = "member"
    assert (await browser.get("/")).url.endswith("/sign-in")
    async with db.session() as s:
        session = await s.scalar(select(ConsoleSession))
    assert session is not None and session.revoked_reason == "role_removed"


async def test_cookies_are_httponly_lax_and_secure_host_only_on_https(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    """With an https public URL (conftest's settings): Secure, and named __Host-."""
    await alliance(db, clock.now())
    origin = {"Origin": "https://turnout.example.org"}
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        # The test server speaks plain http, so its jar would not send Secure cookies back:
        # they are carried by hand, as a browser would over https.
        async with client.get("/sign-in") as resp:
            (csrf,) = resp.cookies.values()
            token = csrf.value
        assert csrf.key == "__Host-turnout_csrf"
        jar = {csrf.key: token}

        async def post(path: str, data: dict[str, str]) -> Any:
            cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
            headers = {**origin, "Cookie": cookie}
            form = {**data, "csrf_token": token}
            return client.post(path, data=form, headers=headers, allow_redirects=False)

        async with await post("/sign-in", {"phone": "07700 900011"}) as resp:
            assert resp.status == 303
            pending = resp.cookies["__Host-turnout_signin"]
            jar[pending.key] = pending.value
        async with await post("/sign-in/code", {"code": await latest_code(db)}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/"
            session = resp.cookies["__Host-turnout_session"]
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
    for cookie in (csrf, pending, session):
        assert cookie["secure"] and cookie["httponly"]
        assert (cookie["samesite"], cookie["path"], cookie["domain"]) == ("Lax", "/", "")
    assert int(session["max-age"]) == 30 * 24 * 3600
