"""The newcomer's whole cycle in a real browser at phone width (the fixtures and checks of
tests/test_console_browser.py: Debian's chromium through Playwright, axe-core on every page,
screenshots into test-artifacts/): open the one-time sign-in link an operator printed, import a
spreadsheet, create an action, invite a segment (the imported people's institution), watch a
YES arrive through the signed Twilio webhook on the open page, and download the export.
Only header and page links are followed, as a newcomer would."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from bot.web.auth import sign_in_link
from storage.models import Person
from tests.console import alliance
from tests.test_console_browser import (  # noqa: F401 (pytest fixtures, found by name)
    ARTIFACTS,
    Server,
    axe_script,
    check,
    chromium,
    open_menu,
    page,
    server,
    text_yes,
)

SPREADSHEET = (
    "Name,Phone,Institution,Role\n"
    "Joy Mensah,07700 900301,Hope Food Bank,leader\n"
    "Kofi Boateng,07700 900302,Hope Food Bank,member\n"
    "Amara Obi,07700 900303,St Mary's Church,member\n"
)
JOY = "+447700900301"


async def view(tab: Any, name: str, at: str = "") -> None:
    """One phone screen (from the top, or scrolled to ``at``): the pictures README's console
    section uses (docs/images/console-*-phone.png are copies)."""
    ARTIFACTS.mkdir(exist_ok=True)
    if at:
        await tab.locator(at).evaluate("e => e.scrollIntoView({block: 'start'})")
        await tab.evaluate("window.scrollBy(0, -16)")
    await tab.screenshot(path=str(ARTIFACTS / f"{name}-phone-view.png"))
    await tab.evaluate("window.scrollTo(0, 0)")


async def test_a_newcomer_signs_in_imports_creates_invites_sees_a_yes_and_exports(
    server: Server,  # noqa: F811 (the imported fixture)
    page: Any,  # noqa: F811
) -> None:
    people = await alliance(server.db, server.clock.now())  # 10:00 on Tue 10 Mar 2026, London
    async with server.db.session() as s:
        ruth = await s.get_one(Person, people.ruth.id)
        link = await sign_in_link(s, server.settings, ruth, server.clock.now())

    # The link the operator printed: one button, then Today (nothing planned yet).
    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server.base + "/")
    assert "No upcoming actions." in await page.locator(".empty").inner_text()
    await check(page, "cycle-today-empty")

    # Import a spreadsheet from People.
    await open_menu(page)
    await page.get_by_role("link", name="People", exact=True).click()
    await page.get_by_role("link", name="Import people from a spreadsheet").click()
    await page.get_by_label("The spreadsheet (CSV, up to 2 MB)").set_input_files(
        {"name": "members.csv", "mimeType": "text/csv", "buffer": SPREADSHEET.encode()}
    )
    await page.get_by_role("button", name="Check the file").click()
    await page.wait_for_selector("text=Check the import")
    await check(page, "cycle-import-preview")
    await view(page, "cycle-import-preview")
    await page.get_by_role("button", name="Import 3 people").click()
    await page.wait_for_selector("text=People created: 3")
    await check(page, "cycle-import-done")

    # Create an action, from the link the import page offers next.
    await page.get_by_role("link", name="create one").click()
    await page.wait_for_url("**/actions/new")
    await page.get_by_label("Title").fill("Food Bank Open Day")
    await page.get_by_label("Kind").select_option("action")
    await page.get_by_label("Short name").fill("open-day")
    await page.get_by_label("Starts").fill("2026-03-17T18:30")
    await page.get_by_label("Ends").fill("2026-03-17T20:30")
    await page.get_by_label("Place", exact=True).fill("Hope Food Bank, Narborough Road")
    await page.get_by_role("button", name="Create the action").click()
    await page.wait_for_url("**/actions/open-day?done=created")
    await check(page, "cycle-action")

    # Invite a segment: the members of the institution the spreadsheet brought in.
    await page.get_by_role("link", name="Invite people").click()
    await page.get_by_label("Institutions").first.check()
    await page.get_by_label("Hope Food Bank").check()
    await page.get_by_role("button", name="Preview the invitation").click()
    await page.wait_for_selector("text=Nothing has been queued yet")
    sms = page.locator(".counts__item", has_text="By SMS").locator("dd")
    assert await sms.inner_text() == "2"  # Joy and Kofi
    await check(page, "cycle-invite-preview")
    await view(page, "cycle-invite-preview")
    await page.get_by_role("button", name="Queue 2 invitations").click()
    await page.wait_for_selector("text=Invitations queued")
    await page.get_by_role("link", name="Back to the action").click()
    await page.wait_for_url("**/actions/open-day")

    # Joy texts YES: the open page moves by itself.
    await page.evaluate("window.stillTheSamePage = true")
    await text_yes(server, JOY)
    await page.wait_for_function(
        """() => [...document.querySelectorAll('#live .card')].some(c =>
            c.querySelector('h4')?.textContent.includes("Hope Food Bank") &&
            c.querySelector('.bars__row--confirmed .bars__number')?.textContent === '1')"""
    )
    assert await page.evaluate("window.stillTheSamePage") is True
    await check(page, "cycle-action-yes")
    await view(page, "cycle-action-yes", at="#numbers-title")

    # Today links the action to its page; the export has Joy's yes.
    await open_menu(page)
    await page.get_by_role("link", name="Today", exact=True).click()
    await page.wait_for_url(server.base + "/")
    await view(page, "cycle-today")
    await page.get_by_role("link", name="Food Bank Open Day", exact=True).click()
    await page.wait_for_url("**/actions/open-day")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download as CSV").click()
    saved = Path(await (await download.value).path())
    rows = list(csv.DictReader(io.StringIO(await asyncio.to_thread(saved.read_text, "utf-8"))))
    replies = {row["name"]: row["reply"] for row in rows}
    assert replies == {"Joy Mensah": "yes", "Kofi Boateng": "not replied"}
