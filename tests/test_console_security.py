"""The console's guard: CSRF on every form, cross-origin posts refused, security headers,
its own error pages; and the webhooks left exactly as they were."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import ConsoleSession
from tests.console import Browser, alliance, code_rows


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.get("/sign-in")
    for token in ("", "forged-token-forged-token-forged-token"):
        page = await browser.post("/sign-in", {"phone": "07700 900011"}, csrf=token)
        assert page.status == 403
        assert "This form has expired" in page.text
    assert await code_rows(db) == []


async def test_a_signed_in_form_needs_this_sessions_token(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.get("/sign-in")
    visitor_token = browser.last.csrf if browser.last else ""
    await browser.sign_in(db, "07700 900011")
    page = await browser.post("/sign-out", csrf=visitor_token)  # the token from before
    assert page.status == 403
    async with db.session() as s:
        session = await s.scalar(select(ConsoleSession))
    assert session is not None and session.revoked_at is None
    await browser.get("/sessions")
    assert (await browser.post("/sign-out")).status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example.com"},
        {"Origin": "null"},
        {"Origin": "http://console.example.org.evil.example.com"},
        {"Referer": "https://evil.example.com/page"},
    ],
)
async def test_a_cross_origin_post_is_refused_even_with_a_valid_token(
    web: TestClient[Any, Any],
    db: Database,
    console_settings: Settings,
    clock: FakeClock,
    headers: dict[str, str],
) -> None:
    await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.get("/sign-in")
    page = await browser.post("/sign-in", {"phone": "07700 900011"}, origin=None, headers=headers)
    assert page.status == 403
    assert "This request came from another website" in page.text
    assert await code_rows(db) == []


async def test_a_same_origin_post_by_referer_or_with_neither_header_is_accepted(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = Browser(web, console_settings)
    await browser.get("/sign-in")
    page = await browser.post(
        "/sign-in",
        {"phone": "07700 900011"},
        origin=None,
        headers={"Referer": "http://console.example.org/sign-in"},
    )
    assert page.status == 200
    await browser.get("/sign-in")
    page = await browser.post("/sign-in", {"phone": "07700 900011"}, origin=None)
    assert page.status == 200  # no Origin, no Referer: the CSRF token decides
    assert len(await code_rows(db)) == 2


@pytest.mark.parametrize("path", ["/sign-in", "/static/console.css", "/no-such-page"])
async def test_console_responses_carry_the_security_headers(
    web: TestClient[Any, Any], path: str
) -> None:
    async with web.get(path) as resp:
        headers = resp.headers
        if path == "/no-such-page":
            assert resp.status == 404
            assert "Page not found" in await resp.text()
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    if path == "/sign-in":
        assert headers["Cache-Control"] == "no-store"


async def test_pages_have_no_inline_script_or_style(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    page = await Browser(web, console_settings).sign_in(db, "07700 900011")
    assert "<script>" not in page.text and "<style" not in page.text
    assert " style=" not in page.text and "onclick" not in page.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/healthz"), ("POST", "/webhooks/twilio/sms"), ("GET", "/webhooks/nothing")],
)
async def test_the_webhooks_and_health_are_untouched(
    web: TestClient[Any, Any], method: str, path: str
) -> None:
    async with web.request(method, path, data=b"x" if method == "POST" else None) as resp:
        text = await resp.text()
        assert "Content-Security-Policy" not in resp.headers
        assert "Set-Cookie" not in resp.headers
    assert "<html" not in text
    if path == "/webhooks/twilio/sms":
        assert resp.status == 400  # malformed, as before: not a CSRF refusal
    if path == "/webhooks/nothing":
        assert resp.status == 404
