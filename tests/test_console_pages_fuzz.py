"""Bad input to the People, inbox, import and listening pages is a clear 400 or 404, never a
500: every query parameter and form field, given values a browser, a script or a typo sends."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from yarl import URL

from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import InboundMessage
from tests.console import numbers, signed_in

ORGANISER = "07700 900011"
NASTY = [
    "",
    "0",
    "-1",
    "1.5",
    "1e3",
    "\u00b2",
    "\u0661",
    "99999999999999999999999",
    "x" * 600,
    "\x00",
    "\ud800",
    "' OR 1=1 --",
    "<script>",
    "%ff",
]
QUERIES = {
    "/people": ["q", "page", "institution", "language", "consent", "action", "reply"],
    "/people/export.csv": ["q", "institution", "action", "reply"],
    "/inbox": ["page", "mine", "done"],
    "/listening/city": ["after", "untagged"],
}
FORMS = {
    "/people/{person}/edit": ["name", "language", "institution"],
    "/inbox/{text}/reply": ["reply"],
    "/inbox/{text}/assign": ["assignee"],
    "/inbox/{text}/attach": ["target"],
    "/people/import/confirm": ["upload"],
}


async def test_no_value_of_any_parameter_makes_a_500(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    for path, names in QUERIES.items():
        for name in names:
            for value in NASTY:
                raw = quote(value.encode("utf-8", "surrogatepass"), safe="")
                for query in (f"{name}={raw}", f"{name}=%ff%fe", f"{name}=1&{name}=2"):
                    async with web.get(URL(f"{path}?{query}", encoded=True)) as resp:
                        assert resp.status in (200, 400, 404), (path, query, resp.status)
    await browser.get("/people")  # a page with a form: its CSRF token
    async with db.session() as s:
        message = await s.scalar(
            select(InboundMessage.id).where(InboundMessage.person_id == people.grace.id)
        )
    for template, names in FORMS.items():
        path = template.format(person=people.grace.id, text=message)
        for name in names:
            for value in NASTY:
                page = await browser.post(
                    path, {name: value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")}
                )
                assert page.status in (200, 400, 404), (path, name, value, page.status)
                await browser.get("/people")  # a fresh form token
