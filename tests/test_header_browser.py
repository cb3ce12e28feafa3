"""The console's header in a real browser (the fixtures and checks of
tests/test_console_browser.py): on a phone one bar, the alliance's name and a "Menu"
disclosure (details/summary, no script) that opens from the keyboard and holds who is signed
in, the sections and the account links; the full row on a laptop; no sideways scrolling at
200% zoom. Screenshots of the open menu go into test-artifacts/."""

from __future__ import annotations

from typing import Any

from tests.console import alliance
from tests.test_actions_browser import sign_in
from tests.test_console_browser import (  # noqa: F401 (pytest fixtures, found by name)
    ARTIFACTS,
    AXE_URL_PATH,
    Server,
    axe_script,
    check,
    chromium,
    page,
    server,
)

SECTIONS = ["Today", "Actions", "People", "Inbox", "Listening", "Promises", "Sending", "Audit"]


async def header_height(tab: Any) -> float:
    return float(await tab.evaluate("document.querySelector('.header').offsetHeight"))


async def fits_across(tab: Any) -> bool:
    """Nothing in the header reaches past the window's right edge (no sideways scrolling
    for it; the pages' own contents are their sections' concern)."""
    return bool(
        await tab.evaluate(
            """() => [...document.querySelectorAll('.header, .header *')].every(e =>
                e.getBoundingClientRect().right <= document.documentElement.clientWidth + 0.5)"""
        )
    )


async def test_the_header_is_one_bar_on_a_phone_and_a_row_on_a_laptop(
    server: Server,  # noqa: F811 (the imported fixture)
    page: Any,  # noqa: F811
) -> None:
    await alliance(server.db, server.clock.now())
    await sign_in(page, server, "07700 900011")  # Ruth, an organiser
    await page.goto(server.base + "/people")

    # A phone: one bar; the sections are folded away until the menu is opened.
    assert await header_height(page) <= 64
    menu = page.locator(".menu")
    toggle = page.locator(".menu__toggle")
    people = page.get_by_role("link", name="People", exact=True)
    assert await toggle.is_visible()
    assert not await people.is_visible()
    assert await fits_across(page)

    # The keyboard: skip link, then the menu; Enter opens it, its links follow in order.
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "menu__toggle"
    await page.keyboard.press("Enter")
    assert await menu.get_attribute("open") is not None
    assert await people.is_visible()
    assert await people.get_attribute("aria-current") == "page"
    assert (
        await page.get_by_role("link", name="Today", exact=True).get_attribute("aria-current")
        is None
    )
    assert "Ruth Adeyemi" in await page.locator(".header__who").inner_text()
    labels = await page.locator(".nav__link").all_inner_texts()
    assert labels == [*SECTIONS, "Your sessions", "Sign out"]
    assert await fits_across(page)
    await check(page, "header-menu-open")  # axe with the menu open; the laptop shot too
    await page.screenshot(path=str(ARTIFACTS / "header-menu-open-phone-view.png"))

    # Escape is not a details feature; Enter on the summary again closes it.
    await toggle.focus()
    await page.keyboard.press("Enter")
    assert await menu.get_attribute("open") is None
    assert not await people.is_visible()

    # 200% zoom on a phone is 180 CSS pixels across: the button moves under the name
    # rather than covering it; nothing is cut off.
    await page.set_viewport_size({"width": 180, "height": 370})
    assert await toggle.is_visible()
    name = await page.locator(".header__alliance").bounding_box()
    button = await toggle.bounding_box()
    assert name and button and button["y"] >= name["y"] + name["height"]
    assert await fits_across(page)
    await toggle.click()
    assert await fits_across(page)
    await page.screenshot(path=str(ARTIFACTS / "header-menu-open-200pc-phone.png"))
    await toggle.click()

    # A laptop: no menu button, every section in a row, visible without a click.
    await page.set_viewport_size({"width": 1280, "height": 800})
    assert not await toggle.is_visible()
    assert await people.is_visible()
    assert await page.get_by_role("button", name="Sign out").is_visible()
    assert await header_height(page) <= 140
    top = {
        round(b["y"])
        for b in [
            await people.bounding_box(),
            await page.get_by_role("link", name="Your sessions").bounding_box(),
        ]
        if b
    }
    assert len(top) == 1  # one row
    # ...in the accessibility tree, and the keyboard reaches them straight after the skip link.
    tree = await page.locator(".header").aria_snapshot()
    assert 'link "People"' in tree and 'button "Sign out"' in tree and "Menu" not in tree
    await page.goto(server.base + "/people")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Today"
    await page.add_script_tag(url=server.base + AXE_URL_PATH)
    violations = await page.evaluate(
        "async () => (await axe.run(document)).violations.map(v => v.id + ' ' + v.impact)"
    )
    assert [v for v in violations if v.endswith(("serious", "critical"))] == []
    # 200% zoom on the laptop is 640 CSS pixels across: the phone's bar and menu.
    await page.set_viewport_size({"width": 640, "height": 400})
    assert await toggle.is_visible()
    assert not await people.is_visible()
    assert await fits_across(page)


async def test_signed_out_pages_have_the_name_alone(
    server: Server,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    await page.goto(server.base + "/sign-in")
    assert await page.locator(".menu").count() == 0
    assert await header_height(page) <= 64
    assert await fits_across(page)
