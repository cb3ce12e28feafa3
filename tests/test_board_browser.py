"""The roll-call board, the steward's page and the door in a real browser (the fixtures of
tests/test_console_browser.py: Debian's chromium via Playwright, axe-core on every page,
screenshots at 360x740 and 1280x800 in test-artifacts/): a HERE texted through the signed
Twilio webhook moves the open board without a reload; Next on the steward's phone highlights
the institution on the board."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests import test_console_browser as browser
from tests.console import latest_code
from tests.test_board import assembly, make_link
from tests.test_console_browser import AXE_URL_PATH, Server, check
from tests.twilio_signing import encode, inbound_form, sign

# The browser tests' fixtures, shared.
axe_script, chromium, page, server = (
    browser.axe_script,
    browser.chromium,
    browser.page,
    browser.server,
)


async def second_page(page: Any, axe_script: Path) -> Any:
    """Another tab in the same browser (the steward's phone beside the projector), with
    axe-core served to it and its console errors collected, as the fixture does."""
    other = await page.context.new_page()
    script = await asyncio.to_thread(axe_script.read_text, encoding="utf-8")

    async def serve_axe(route: Any) -> None:
        await route.fulfill(body=script, content_type="application/javascript")

    await other.route(f"**{AXE_URL_PATH}", serve_axe)
    other.set_default_timeout(10_000)
    errors: list[str] = []
    other.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    other.errors = errors
    return other


async def text_here(server: Server, phone: str) -> None:
    path = "/webhooks/twilio/sms"
    form = inbound_form("SM" + "h" * 32, phone, "HERE")
    signature = sign(server.settings.webhook_auth_token.get(), server.base + path, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.base + path, data=encode(form), headers=headers) as resp,
    ):
        assert resp.status == 200


async def test_a_here_moves_the_open_board_and_the_steward_runs_the_roll_call(
    server: Server, page: Any, axe_script: Path
) -> None:
    a = await assembly(server.db, server.clock)
    board = await make_link(server.db, a.action, "board", server.clock)
    steward_token = await make_link(server.db, a.action, "steward", server.clock)

    await page.goto(f"{server.base}/board/{board}")
    total = page.locator("[data-arrived]")
    assert await total.inner_text() == "5"
    await page.wait_for_function("() => document.querySelector('#live') !== null")
    await check(page, "board")

    # No reload: a mark left on this window survives, and the number moves by itself.
    await page.evaluate("window.stillTheSamePage = true")
    await text_here(server, "+447700900001")  # Ann, St Mary's
    await page.wait_for_function(
        "() => document.querySelector('[data-arrived]')?.textContent === '6'", timeout=5_000
    )
    mary = page.locator("tr", has=page.get_by_role("rowheader", name="St Mary's Church"))
    assert await mary.locator(".board-row__arrived").inner_text() == "2"
    assert await page.evaluate("window.stillTheSamePage") is True

    steward = await second_page(page, axe_script)
    await steward.goto(f"{server.base}/steward/{steward_token}")
    await check(steward, "board-steward")
    await steward.get_by_role("button", name="Next").click()
    await steward.wait_for_selector("text=Now on the board")
    assert "Al-Noor Mosque" in await steward.locator(".steward-now").inner_text()
    await page.wait_for_function(
        """() => document.querySelector('.board-now__title')?.textContent.includes('Al-Noor')""",
        timeout=5_000,
    )
    assert await page.locator("[data-now-arrived]").inner_text() == "4"
    assert await page.evaluate("window.stillTheSamePage") is True
    await check(page, "board-roll-call")

    await steward.goto(f"{server.base}/steward/{steward_token}/door?q=mo")
    mo = steward.locator(".door-results li", has_text="Mohammed Khan")
    await mo.get_by_role("button").click()
    await steward.wait_for_selector("text=Mohammed Khan is checked in.")
    await check(steward, "board-door")
    await page.wait_for_function(
        "() => document.querySelector('[data-arrived]')?.textContent === '6'", timeout=5_000
    )  # Al-Noor's headcount of 4 already counts more than its 1 check-in

    await steward.get_by_role("button", name="Add and check in").click()
    await steward.wait_for_selector(".error-summary")
    await check(steward, "board-door-error")

    await page.goto(f"{server.base}/board/{board}/results")
    assert "We brought 6" in await page.locator(".results-headline").inner_text()
    await check(page, "board-results")


async def test_an_organiser_makes_and_revokes_a_board_link(server: Server, page: Any) -> None:
    a = await assembly(server.db, server.clock)
    await page.goto(f"{server.base}/sign-in")
    await page.get_by_label("What is your mobile phone number?").fill("07700 900011")  # Ruth
    await page.get_by_role("button", name="Send me a code").click()
    await page.wait_for_url("**/sign-in/code")
    await page.get_by_label("Enter the code we sent you").fill(await latest_code(server.db))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server.base + "/")
    await page.get_by_role("link", name="Board and steward links").first.click()
    await page.wait_for_url(f"**/actions/{a.action.slug}/board")
    await page.get_by_label("Label (optional)").fill("Projector")
    await page.get_by_role("button", name="Make a link").click()
    await page.wait_for_selector(".new-link")
    await check(page, "board-links")
    address = await page.locator(".new-link a").inner_text()
    await page.get_by_role("button", name="Revoke").first.click()
    await page.wait_for_selector("text=Revoked")
    response = await page.goto(address)
    assert response is not None and response.status == 404
