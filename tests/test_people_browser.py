"""People, import, inbox and listening in a real browser (the fixtures and checks of
tests/test_console_browser.py: Debian's chromium through Playwright, axe-core on every page,
screenshots at 360x740 and 1280x800 into test-artifacts/): import a spreadsheet with one bad
row, see it named, fix it and import; open a person's timeline; reply from the inbox with the
live counter; the listening page and its question editor."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.listening import create_campaign, record_answer
from storage.listening_themes import load_theme_specs
from storage.models import ListeningQuestion, OutboxMessage, Person
from tests.console import latest_code, numbers
from tests.test_console_browser import (  # noqa: F401 (fixtures)
    Server,
    axe_script,
    check,
    chromium,
    open_menu,
    page,
    server,
)

BAD = (
    "Name,Phone,Institution\n"
    "Joy Mensah,07700 900301,St Mary's Church\n"
    "Kofi Boateng,ask Ann,Hope Food Bank\n"
)
FIXED = BAD.replace("ask Ann,", "07700 900302,")


async def sign_in(tab: Any, at: Server, phone: str) -> None:
    await tab.goto(at.base + "/sign-in")
    await tab.get_by_label("What is your mobile phone number?").fill(phone)
    await tab.get_by_role("button", name="Send me a code").click()
    await tab.wait_for_url("**/sign-in/code")
    await tab.get_by_label("Enter the code we sent you").fill(await latest_code(at.db))
    await tab.get_by_role("button", name="Sign in").click()
    await tab.wait_for_url(at.base + "/")


async def choose_file(tab: Any, content: str) -> None:
    await tab.get_by_label("The spreadsheet (CSV, up to 2 MB)").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": content.encode()}
    )
    await tab.get_by_role("button", name="Check the file").click()


async def test_import_fix_import_then_a_timeline_and_an_inbox_reply(
    server: Server,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    people = await numbers(server.db, server.clock.now())
    async with server.db.session() as s:
        campaign = await create_campaign(
            s,
            slug="city-listens",
            title="City Listens",
            questions=[{"en": "What is the biggest issue facing you and your family?"}],
            now=server.clock.now() - timedelta(days=3),
            themes=load_theme_specs(),
            target=100,
        )
        q = (await s.scalars(select(ListeningQuestion))).one()
        await record_answer(
            s,
            campaign_id=campaign.id,
            person=await s.get_one(Person, people.grace.id),
            body="The damp in our flat and the rent going up",
            source="sms",
            now=server.clock.now() - timedelta(days=1),
            question_id=q.id,
        )
    await sign_in(page, server, "07700 900011")

    # People, then the import wizard: the bad row is named by its line; nothing is imported.
    await open_menu(page)
    await page.get_by_role("link", name="People", exact=True).click()
    await page.wait_for_url("**/people")
    await check(page, "people")
    await page.get_by_role("link", name="Import people from a spreadsheet").click()
    await check(page, "import")
    await choose_file(page, BAD)
    await page.wait_for_selector(".error-summary")
    assert "Line 3" in await page.locator("#bad-rows").inner_text()
    assert (
        "1 problem in people.csv: nothing was imported"
        in await page.locator(".error-summary").inner_text()
    )
    await check(page, "import-bad-row")
    await choose_file(page, FIXED)
    await page.wait_for_selector("text=Check the import")
    await check(page, "import-preview")
    await page.get_by_role("button", name="Import 2 people").click()
    await page.wait_for_selector("text=People created: 2")
    await check(page, "import-done")

    # A person's timeline.
    await page.get_by_role("link", name="See the people").click()
    await page.get_by_label("Name or phone number").fill("grace")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name="Grace Okafor").click()
    await page.wait_for_selector("text=Timeline")
    assert "The damp in our flat" in await page.locator(".history").inner_text()
    await check(page, "person")

    # The inbox: reply, with the counter moving as the reply is typed.
    await open_menu(page)
    await page.get_by_role("link", name="Inbox", exact=True).click()
    await page.wait_for_url("**/inbox")
    await check(page, "inbox")
    await page.get_by_role("link", name="Grace Okafor").click()
    await page.wait_for_url(re.compile(r"/inbox/\d+$"))  # loaded: the counter's script too
    await page.get_by_label("Your reply").fill("Sorry to hear that. Can we call you today?")
    assert await page.locator("#reply-count").inner_text() == "42 characters, 1 text"
    await check(page, "inbox-conversation")
    await page.get_by_role("button", name="Send reply").click()
    await page.wait_for_selector("text=Your reply is in the outbox")
    async with server.db.session() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.template == "console_reply"))
    assert row is not None and row.body == "Sorry to hear that. Can we call you today?"
    await check(page, "inbox-replied")

    # Listening: the campaign and the question editor's counter over the whole text.
    await open_menu(page)
    await page.get_by_role("link", name="Listening", exact=True).click()
    await check(page, "listening")
    await page.get_by_role("link", name="City Listens").click()
    await page.wait_for_selector("text=What people raised, by institution")
    await check(page, "listening-campaign")
    await page.get_by_role("link", name="Edit question 1").click()
    await page.wait_for_url("**/questions/1")
    await page.get_by_label("Welsh").fill("Beth yw\u2019r broblem fwyaf?")
    counted = await page.locator("#text-cy-count").inner_text()
    assert "(a special character makes each text shorter)" in counted
    await check(page, "listening-question")
