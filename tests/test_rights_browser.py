"""The data-rights pages in a real browser (chromium, axe-core, screenshots into
test-artifacts/): the audit log, a person's consent history, the export page, and erasing
behind a confirmation (the error first, then done). Fixtures: tests/test_console_browser.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import create_app
from config.clock import FakeClock
from storage.db import Database
from tests.console import alliance, console_settings_for, latest_code
from tests.test_console_browser import (  # noqa: F401  (fixtures)
    Server,
    _free_port,
    axe_script,
    check,
    chromium,
    page,
)


@pytest.fixture
async def server(sqlite_template: Path, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Server]:
    """tests/test_console_browser.py's server, with a suppression secret (erasing needs it)."""
    path = tmp_path / "browser.db"
    shutil.copy(sqlite_template, path)
    port = _free_port()
    settings = console_settings_for(
        f"sqlite+aiosqlite:///{path}",
        TURNOUT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        TURNOUT_SUPPRESSION_SECRET="browser-test-key",
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


async def test_audit_consent_export_and_erase_pages(server: Server, page: Any) -> None:  # noqa: F811
    people = await alliance(server.db, server.clock.now())
    grace = people.grace.id
    await page.goto(server.base + "/sign-in")
    await page.get_by_label("What is your mobile phone number?").fill("07700 900011")
    await page.get_by_role("button", name="Send me a code").click()
    await page.wait_for_url("**/sign-in/code")
    await page.get_by_label("Enter the code we sent you").fill(await latest_code(server.db))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server.base + "/")

    await page.goto(server.base + "/audit")
    assert "sign_in_succeeded" in await page.content()
    await check(page, "audit")

    await page.goto(server.base + f"/people/{grace}/consent")
    await check(page, "person-consent")
    await page.get_by_label("They want no more messages (opt out)").check()
    await page.get_by_role("button", name="Record it").click()
    await page.wait_for_selector(".notice")
    assert "Told an organiser" in await page.content()

    await page.goto(server.base + f"/people/{grace}/export")
    await check(page, "person-export")

    await page.goto(server.base + f"/people/{grace}/erase")
    await check(page, "person-erase")
    await page.get_by_role("button", name="Erase them").click()
    await page.wait_for_selector(".error-summary")
    await check(page, "person-erase-error")
    await page.get_by_label("I want to erase Grace Okafor for good").check()
    await page.get_by_role("button", name="Erase them").click()
    await page.wait_for_url(f"**/people/{grace}/consent?erased=1")
    html = await page.content()
    assert "Erased." in html and "Grace" not in html
    await check(page, "person-erased")
