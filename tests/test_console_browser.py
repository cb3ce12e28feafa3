"""The console in a real browser: Debian's chromium driven by Playwright (no download: the
machine has no internet), axe-core injected into every page (no serious or critical
violation), screenshots at 360x740 and 1280x800 into test-artifacts/ for review.

Skipped, with the reason, where chromium or axe-core cannot be had locally; under CI (CI set)
they must be there (.ci/run installs chromium; this module installs axe-core from npm into a
cache folder once)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import create_app
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from tests import factories as f
from tests.console import console_settings_for, latest_code, numbers
from tests.twilio_signing import encode, inbound_form, sign

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_VERSION = "4.14.1"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SIZES = {"phone": (360, 740), "laptop": (1280, 800)}
AXE_URL_PATH = "/__axe-core.js"  # served to the page by Playwright itself, same origin


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def axe_script() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "turnout-tests" / f"axe-core-{AXE_VERSION}"
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is not installed, so axe-core cannot be installed")
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(  # noqa: S603 (a fixed command)
            [
                str(npm),
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(folder),
                f"axe-core@{AXE_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not script.is_file():
            _unavailable(f"npm could not install axe-core: {done.stderr.strip()[-300:]}")
    return script


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    settings: Settings
    db: Database
    clock: FakeClock


@pytest.fixture
async def server(sqlite_template: Path, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Server]:
    """The app on a real port (its public URL, so Origin and Twilio signatures match), on
    SQLite: the pages are what is tested here; the storage tests cover PostgreSQL."""
    path = tmp_path / "browser.db"
    shutil.copy(sqlite_template, path)
    port = _free_port()
    settings = console_settings_for(
        f"sqlite+aiosqlite:///{path}", TURNOUT_PUBLIC_URL=f"http://127.0.0.1:{port}"
    )
    db = Database.from_url(settings.database_url)
    runner = web.AppRunner(create_app(settings, db=db, clock=clock), shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Server(settings.public_url, settings, db, clock)
    finally:
        await runner.cleanup()
        await db.dispose()


def _browser_env() -> dict[str, str]:
    """The browser's environment without libfaketime: .ci/run fakes the clock of the test
    process (and so of its children); chromium's own processes stall under it, and the pages
    never read the browser's clock (the server's FakeClock is what the tests fix)."""
    return {
        k: v
        for k, v in os.environ.items()
        if k != "LD_PRELOAD" and not k.startswith(("FAKETIME", "DONT_FAKE"))
    }


@pytest.fixture
async def page(chromium: Path, axe_script: Path, tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=str(chromium),
            args=FLAGS,
            headless=True,
            viewport={"width": 360, "height": 740},
            env=_browser_env(),
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            script = await asyncio.to_thread(axe_script.read_text, encoding="utf-8")

            async def serve_axe(route: Any) -> None:
                await route.fulfill(body=script, content_type="application/javascript")

            await page.route(f"**{AXE_URL_PATH}", serve_axe)
            page.set_default_timeout(10_000)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.errors = errors
            yield page
        finally:
            await context.close()


async def check(page: Any, name: str) -> None:
    """No serious or critical accessibility violation, no console error (a CSP refusal
    would be one); screenshots at phone and laptop width."""
    await page.add_script_tag(url=await page.evaluate("location.origin") + AXE_URL_PATH)
    violations = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" "))}));
        }"""
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"
    # A page answered with 400 or 404 is logged as a failed load: that is the page itself.
    errors = [e for e in page.errors if not e.startswith("Failed to load resource")]
    assert errors == [], f"{name}: {errors}"
    page.errors.clear()
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in SIZES.values():
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}x{height}.png"), full_page=True)
    await page.set_viewport_size({"width": 360, "height": 740})


async def open_menu(page: Any) -> None:
    """On a phone the header's sections and account links are inside a "Menu" disclosure
    (details/summary): open it, as a person would, before following one of its links."""
    toggle = page.locator(".menu__toggle")
    if await toggle.is_visible() and await page.locator(".menu[open]").count() == 0:
        await toggle.click()


async def text_yes(server: Server, phone: str) -> None:
    path = "/webhooks/twilio/sms"
    form = inbound_form("SM" + "e" * 32, phone, "YES")
    signature = sign(server.settings.webhook_auth_token.get(), server.base + path, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.base + path, data=encode(form), headers=headers) as resp,
    ):
        assert resp.status == 200


async def test_sign_in_with_the_texted_code_see_today_and_watch_a_yes_arrive(
    server: Server, page: Any
) -> None:
    await numbers(server.db, server.clock.now())
    await page.goto(server.base + "/")  # signed out: sent to sign in
    assert page.url.endswith("/sign-in")
    await check(page, "sign-in")

    await page.get_by_role("button", name="Send me a code").click()
    await page.wait_for_selector(".error-summary")
    # The page's script moves focus to the summary once it has loaded: wait for that, not a race.
    # (A function, not an expression: polling an expression would need eval, which the CSP bars.)
    await page.wait_for_function(
        "() => document.activeElement?.classList.contains('error-summary') === true"
    )
    await check(page, "sign-in-error")

    await page.get_by_label("What is your mobile phone number?").fill("07700 900011")
    await page.get_by_role("button", name="Send me a code").click()
    await page.wait_for_url("**/sign-in/code")
    await check(page, "sign-in-code")

    await page.get_by_label("Enter the code we sent you").fill(await latest_code(server.db))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server.base + "/")
    mary = page.locator(".card", has=page.get_by_role("heading", name="St Mary's Church"))
    confirmed = mary.locator(".bars__row--confirmed .bars__number")
    assert await confirmed.inner_text() == "3"
    await check(page, "today")

    # No reload: a mark left on this window survives, and the number moves by itself.
    await page.evaluate("window.stillTheSamePage = true")
    await page.wait_for_function("() => document.querySelector('#live') !== null")
    await text_yes(server, f.phone(1))  # Ann, St Mary's
    await page.wait_for_function(
        """() => [...document.querySelectorAll('.card')].some(c =>
            c.querySelector('h4')?.textContent.includes("St Mary's Church") &&
            c.querySelector('.bars__row--confirmed .bars__number')?.textContent === '4')"""
    )
    assert await page.evaluate("window.stillTheSamePage") is True
    assert "Numbers updated at" in await page.locator("#live-status").inner_text()

    await open_menu(page)
    await page.get_by_role("link", name="Your sessions").click()
    await page.wait_for_url("**/sessions")
    await check(page, "sessions")
    await page.goto(server.base + "/no-such-page")
    await check(page, "not-found")
