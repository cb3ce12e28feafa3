"""The console as one product: the header offers each role only the sections it may open, in
one order; Today links each action to its page; an action's page links to its board, door,
leader links and promises; a person's page links to their data rights and shows the
young-person mark. Every link a page offers opens (never a 403 for a leader)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from config.clock import FakeClock
from config.settings import Settings
from storage import young
from storage.db import Database
from storage.models import Person
from tests.console import Browser, numbers, signed_in

NAV = re.compile(r'<a class="nav__link" href="([^"]+)"[^>]*>([^<]+)</a>')
HREF = re.compile(r'href="(/[^"]*)"')
ORGANISER_NAV = [
    "Today",
    "Actions",
    "People",
    "Inbox",
    "Listening",
    "Promises",
    "Sending",
    "Audit",
    "Your sessions",
]
PAGES = [
    "/",
    "/actions",
    "/actions/assembly",
    "/people",
    "/inbox",
    "/listening",
    "/promises",
    "/sending",
]


def nav(html: str) -> list[str]:
    return [label for _, label in NAV.findall(html)]


def links(html: str) -> set[str]:
    return {
        href.replace("&amp;", "&")
        for href in HREF.findall(html)
        if not href.startswith("/static/") and not href.endswith("/live")
    }


async def every_link_opens(browser: Browser, pages: list[str], depth: int = 2) -> set[str]:
    """Open ``pages``, then every link they offer, and the links those offer (``depth``
    steps): each must open (200), never a 403 or a 404."""
    seen: set[str] = set(pages)
    level = list(pages)
    for _ in range(depth + 1):
        found: list[str] = []
        for page in level:
            opened = await browser.get(page)
            assert opened.status == 200, (page, opened.status, opened.text[:400])
            if "html" in opened.headers.get("Content-Type", ""):
                fresh = sorted(links(opened.text) - seen)
                seen.update(fresh)
                found.extend(fresh)
        level = found
    return seen


async def test_an_organiser_sees_every_section_in_order_and_every_link_opens(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = Browser(web, console_settings)
    page = await browser.sign_in(db, "07700 900011")  # Ruth, an organiser
    assert nav(page.text) == ORGANISER_NAV
    assert '<a href="/actions/assembly">Accountability Assembly</a>' in page.text
    action = await browser.get("/actions/assembly")
    for href in ("promises", "board", "door", "leaders"):
        assert f'href="/actions/assembly/{href}"' in action.text
    person = await browser.get(f"/people/{people.grace.id}")
    for href in ("consent", "export", "erase", "edit"):
        assert f'href="/people/{people.grace.id}/{href}"' in person.text
    seen = await every_link_opens(browser, [*PAGES, f"/people/{people.grace.id}", "/audit"])
    assert "/audit" in seen and f"/people/{people.grace.id}/erase" in seen


async def test_a_leader_is_never_offered_a_page_that_refuses_them(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = Browser(web, console_settings)
    page = await browser.sign_in(db, "07700 900001")  # Ann leads St Mary's
    assert nav(page.text) == [label for label in ORGANISER_NAV if label != "Audit"]
    assert (await browser.get("/audit")).status == 403  # the page itself still refuses
    action = await browser.get("/actions/assembly")
    assert 'href="/actions/assembly/promises"' in action.text
    for href in ("board", "door", "leaders"):
        assert f'href="/actions/assembly/{href}"' not in action.text
    person = await browser.get(f"/people/{people.grace.id}")
    assert person.status == 200
    for href in ("consent", "export", "erase"):
        assert f"/people/{people.grace.id}/{href}" not in person.text
    seen = await every_link_opens(browser, [*PAGES, f"/people/{people.grace.id}"])
    assert "/actions/assembly/promises" in seen


async def test_the_person_page_shows_the_young_person_mark(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        grace = await s.get(Person, people.grace.id)
        assert grace is not None
        young.mark(grace, today=clock.now().date())
    browser = await signed_in(web, console_settings, db, "07700 900011")
    page = await browser.get(f"/people/{people.grace.id}")
    assert (
        "<dt>Young person</dt><dd><strong>Under 16: no adult consent yet (not messaged)</strong>"
        in page.text
    )
