"""The action pages in a real browser (the fixtures and checks of tests/test_console_browser.py:
Debian's chromium through Playwright, axe-core on every page, screenshots at 360x740 and
1280x800): create an action, invite a segment through the preview, text YES through the signed
webhook and watch the action's numbers move without a reload; the reschedule and cancel
previews, and Sending."""

from __future__ import annotations

from typing import Any

from tests import factories as f
from tests.console import alliance, latest_code
from tests.test_console_browser import (  # noqa: F401 (pytest fixtures, found by name)
    Server,
    axe_script,
    check,
    chromium,
    open_menu,
    page,
    server,
    text_yes,
)


async def sign_in(tab: Any, app: Server, phone: str) -> None:
    await tab.goto(app.base + "/sign-in")
    await tab.get_by_label("What is your mobile phone number?").fill(phone)
    await tab.get_by_role("button", name="Send me a code").click()
    await tab.wait_for_url("**/sign-in/code")
    await tab.get_by_label("Enter the code we sent you").fill(await latest_code(app.db))
    await tab.get_by_role("button", name="Sign in").click()
    await tab.wait_for_url(app.base + "/")


async def test_create_an_action_invite_a_segment_and_watch_a_yes_arrive(
    server: Server,  # noqa: F811 (the imported fixture)
    page: Any,  # noqa: F811
) -> None:
    await alliance(server.db, server.clock.now())  # 10:00 on Tue 10 Mar 2026, London
    await sign_in(page, server, "07700 900011")  # Ruth, an organiser

    await open_menu(page)
    await page.get_by_role("link", name="Actions").click()
    await page.wait_for_url("**/actions")
    await check(page, "actions-empty")
    await page.get_by_role("link", name="Create an action").click()
    await page.wait_for_url("**/actions/new")
    await page.get_by_role("button", name="Create the action").click()  # empty: errors
    await page.wait_for_selector(".error-summary")
    await check(page, "action-new-errors")
    await page.get_by_label("Title").fill("Housing March")
    await page.get_by_label("Kind").select_option("action")
    await page.get_by_label("Short name").fill("housing-march")
    await page.get_by_label("Starts").fill("2026-03-17T18:30")
    await page.get_by_label("Ends").fill("2026-03-17T20:30")
    await page.get_by_label("Place", exact=True).fill("Town Hall Square")
    await page.get_by_role("button", name="Create the action").click()
    await page.wait_for_url("**/actions/housing-march?done=created")
    assert "The action is created" in await page.locator(".notice").inner_text()
    await check(page, "action")

    await page.get_by_role("link", name="Invite people").click()
    await page.wait_for_url("**/actions/housing-march/invite")
    await check(page, "invite")
    await page.get_by_label("Institutions").first.check()
    await page.get_by_label("St Mary's Church").check()
    await page.get_by_role("button", name="Preview the invitation").click()
    await page.wait_for_selector("text=Nothing has been queued yet")
    sms = page.locator(".counts__item", has_text="By SMS").locator("dd")
    assert await sms.inner_text() == "2"  # Ann and Grace
    await check(page, "invite-preview")
    await page.get_by_role("button", name="Queue 2 invitations").click()
    await page.wait_for_selector("text=Invitations queued")
    await check(page, "invite-done")

    await page.get_by_role("link", name="Back to the action").click()
    await page.wait_for_url("**/actions/housing-march")
    mary = page.locator(".card", has=page.get_by_role("heading", name="St Mary's Church"))
    assert await mary.locator(".bars__row--confirmed .bars__number").inner_text() == "0"
    await page.evaluate("window.stillTheSamePage = true")
    await text_yes(server, f.phone(1))  # Ann says yes
    await page.wait_for_function(
        """() => [...document.querySelectorAll('#live .card')].some(c =>
            c.querySelector('h4')?.textContent.includes("St Mary's Church") &&
            c.querySelector('.bars__row--confirmed .bars__number')?.textContent === '1')"""
    )
    assert await page.evaluate("window.stillTheSamePage") is True
    assert "Numbers updated at" in await page.locator("#live-status").inner_text()
    await check(page, "action-live")

    await page.get_by_role("link", name="Reschedule").click()
    await page.get_by_label("Place").fill("De Montfort Hall")
    await page.get_by_role("button", name="Preview the change").click()
    await page.wait_for_selector("text=Move it and tell 1 people")
    await check(page, "action-reschedule-preview")
    await page.goto(server.base + "/actions/housing-march/cancel")
    await check(page, "action-cancel-preview")
    await open_menu(page)
    await page.get_by_role("link", name="Sending").click()
    await page.wait_for_url("**/sending")
    await check(page, "sending")
