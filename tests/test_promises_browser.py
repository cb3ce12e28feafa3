"""Leader links and promises in a real browser (the fixtures and the axe-core check of
tests/test_console_browser.py): a leader's link page at phone width (nudge, headcount), then an
organiser records two promises. Screenshots into test-artifacts/."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from scheduler.leader_links import make_link
from storage.audit import Actor
from storage.models import Action, Person, Promise
from tests import test_console_browser as browser
from tests.console import latest_code, numbers
from tests.test_console_browser import Server, check, open_menu

# The browser tests' fixtures, shared: pytest finds them by these names in this module.
axe_script, chromium = browser.axe_script, browser.chromium
page, server = browser.page, browser.server


async def test_a_leader_link_at_phone_width_and_two_promises_recorded(
    server: Server, page: Any
) -> None:
    people = await numbers(server.db, server.clock.now())
    async with server.db.session() as s:
        action = await s.scalar(select(Action))
        assert action is not None
        made = await make_link(
            s,
            server.settings,
            action=action,
            leader=await s.get_one(Person, people.ann.id),
            actor=Actor.operator(),
            now=server.clock.now(),
        )
    await page.goto(made.url)
    heading = await page.get_by_role("heading", level=1).inner_text()
    assert "St Mary's Church" in heading and "Accountability Assembly" in heading
    await check(page, "leader-link")
    await page.get_by_role("button", name="Nudge Ann Patel").click()
    await page.wait_for_selector(".notice")
    assert "we have asked Ann" in await page.locator(".notice").inner_text()
    await page.get_by_label("How many from St Mary's Church are here?").fill("12")
    await page.get_by_role("button", name="Save headcount").click()
    await page.wait_for_selector("text=Headcount saved")
    await check(page, "leader-link-saved")
    html = await page.content()
    assert "07700" not in html and "+44" not in html and "Al-Noor" not in html

    await page.goto(server.base + "/sign-in")
    await page.get_by_label("What is your mobile phone number?").fill("07700 900011")
    await page.get_by_role("button", name="Send me a code").click()
    await page.wait_for_url("**/sign-in/code")
    await page.get_by_label("Enter the code we sent you").fill(await latest_code(server.db))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server.base + "/")
    await open_menu(page)
    await page.get_by_role("link", name="Promises").click()
    await page.wait_for_url("**/promises")
    await check(page, "promises")
    await page.get_by_role("link", name="Accountability Assembly").click()
    await page.wait_for_url("**/actions/assembly/promises")
    for name, words, answer in (
        ("Cllr Sarah Jones", "Accredited as a Living Wage employer by June", "Yes"),
        ("PCC Rupert Matthews", "Two more officers on the estate", "Partly"),
    ):
        await page.get_by_label("Power-holder's name").fill(name)
        await page.get_by_label("What they were asked").fill("Will you work with us on this?")
        await page.get_by_label("Their answer").select_option(label=answer)
        await page.get_by_label("The promise, in their words (optional)").fill(words)
        await page.get_by_label("Keep by (optional)").fill("2026-06-30")
        await page.get_by_role("button", name="Record the ask").click()
        await page.wait_for_selector("text=Ask recorded.")
    await check(page, "action-promises")
    async with server.db.session() as s:
        recorded = list(await s.scalars(select(Promise.holder_name).order_by(Promise.id)))
    assert recorded == ["Cllr Sarah Jones", "PCC Rupert Matthews"]
