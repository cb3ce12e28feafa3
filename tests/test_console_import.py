"""The import wizard: every bad row named by line and nothing imported; a good file previewed,
kept on the server (never in the page) until confirmed, then imported once and audited;
organisers only; size-bounded; CSRF-checked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.console import Policy, open_session
from storage.db import Database
from storage.models import ConsoleUpload, Membership, Person
from storage.uploads import find_upload, keep_upload
from tests.console import PUBLIC_URL, Browser, Page, alliance, signed_in

ORGANISER, ANN = "07700 900011", "07700 900001"
GOOD = (
    "Name,Phone,Institution,Role\n"
    "Joy Mensah,07700 900301,St Mary's Church,member\n"
    "Kofi Boateng,07700 900302,Hope Food Bank,leader\n"
)
BAD = (
    "Name,Phone,Institution,Role\n"
    "Joy Mensah,07700 900301,St Mary's Church,member\n"
    "Kofi Boateng,not a number,Hope Food Bank,leader\n"
    ",07700 900303,,\n"
    "Ama Owusu,07700 900304,St Mary's Church,bishop\n"
)


async def upload(
    browser: Browser,
    content: bytes | str,
    *,
    filename: str = "people.csv",
    csrf: str | None = None,
) -> Page:
    if browser.last is None or "csrf_token" not in browser.last.text:
        await browser.get("/people/import")
    assert browser.last is not None
    form = FormData()
    form.add_field("csrf_token", browser.last.csrf if csrf is None else csrf)
    data = content.encode() if isinstance(content, str) else content
    form.add_field("file", data, filename=filename, content_type="text/csv")
    async with browser.client.post(
        "/people/import", data=form, headers={"Origin": PUBLIC_URL}
    ) as resp:
        browser.last = Page(resp.status, await resp.text(), str(resp.url), resp.headers)
    return browser.last


async def people_count(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Person)) or 0)


async def test_a_file_with_bad_rows_names_each_by_line_and_imports_nothing(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    before = await people_count(db)
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await upload(browser, BAD)
    assert page.status == 400
    assert "3 problems in people.csv: nothing was imported" in page.text
    assert "Line 3</th><td" in page.text and "not a phone number" in page.text
    assert "Line 4</th><td" in page.text and "missing name" in page.text
    assert "Line 5</th><td" in page.text and "unknown role &#34;bishop&#34;" in page.text
    assert "Line 2</th>" not in page.text
    assert await people_count(db) == before
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ConsoleUpload)) == 0


async def test_a_good_file_is_previewed_kept_server_side_then_imported_once(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    before = await people_count(db)
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await upload(browser, GOOD)
    assert page.status == 200 and "Check the import" in page.text
    assert "<dt>New people</dt><dd>2</dd>" in page.text
    assert "Hope Food Bank, St Mary&#39;s Church" in page.text
    assert "Joy Mensah" not in page.text and "900301" not in page.text  # the file stays here
    assert await people_count(db) == before
    token = _token(page.text)
    page = await browser.post("/people/import/confirm", {"upload": token})
    assert page.status == 200 and "People created: 2" in page.text
    assert await people_count(db) == before + 2
    async with db.session() as s:
        joy = await s.scalar(select(Person).where(Person.name == "Joy Mensah"))
        assert joy is not None and joy.phone == "+447700900301"
        held = await s.scalar(
            select(Membership.institution_id).where(Membership.person_id == joy.id)
        )
        assert held == people.mary.id
        assert await s.scalar(select(func.count()).select_from(ConsoleUpload)) == 0
        imported = await entries(s, action="people_imported")
    assert imported[0].details["created"] == 2 and imported[0].actor_label == "Ruth Adeyemi"
    page = await browser.post("/people/import/confirm", {"upload": token})
    assert page.status == 400 and "This import has expired" in page.text
    assert await people_count(db) == before + 2


def _token(html: str) -> str:
    return html.split('name="upload" value="')[1].split('"')[0]


async def test_the_fixed_file_imports_after_the_bad_one(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    assert (await upload(browser, BAD)).status == 400
    page = await upload(browser, GOOD)
    assert page.status == 200
    page = await browser.post("/people/import/confirm", {"upload": _token(page.text)})
    assert "People created: 2" in page.text


async def test_an_upload_belongs_to_its_session_and_expires(db: Database, clock: FakeClock) -> None:
    await alliance(db, clock.now())
    now = clock.now()
    async with db.session() as s:
        policy = Policy(*(timedelta(hours=1),) * 2, 5, *(timedelta(hours=1),) * 3)
        ruth = await s.scalar(select(Person).where(Person.name == "Ruth Adeyemi"))
        assert ruth is not None
        _, mine = await open_session(
            s, person_id=ruth.id, method="code", user_agent="", now=now, policy=policy
        )
        _, other = await open_session(
            s, person_id=ruth.id, method="code", user_agent="", now=now, policy=policy
        )
        token, _ = await keep_upload(
            s, session_id=mine.id, filename="a.csv", content=GOOD, rows=2, now=now
        )
        assert await find_upload(s, token, session_id=mine.id, now=now) is not None
        assert await find_upload(s, token, session_id=other.id, now=now) is None
        later = now + timedelta(hours=2)
        assert await find_upload(s, token, session_id=mine.id, now=later) is None


async def test_a_leader_may_not_import(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    before = await people_count(db)
    browser = await signed_in(web, console_settings, db, ANN)
    assert (await browser.get("/people/import")).status == 403
    await browser.get("/people")
    page = await upload(browser, GOOD, csrf=browser.last.csrf if browser.last else "")
    assert page.status == 403 and "Only organisers import people" in page.text
    assert await people_count(db) == before


async def test_uploads_without_a_file_too_big_not_utf8_or_without_csrf_are_refused(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    before = await people_count(db)
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await upload(browser, b"")
    assert page.status == 400 and "Choose a CSV file to upload" in page.text
    page = await upload(browser, "Name,Phone\n" + "Ann,07700 900123\n" * 150_000)
    assert page.status == 413 and "The file is too big" in page.text
    page = await upload(browser, "Name,Phone\nZo\xeb,07700 900123\n".encode("latin-1"))
    assert page.status == 400 and "Line 2</th><td" in page.text and "not UTF-8" in page.text
    page = await upload(browser, GOOD, csrf="forged")
    assert page.status == 403
    page = await browser.post("/people/import/confirm", {"upload": "x" * 500})
    assert page.status == 400
    assert await people_count(db) == before


async def test_a_large_file_says_how_long_the_import_takes(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    rows = "".join(f"Person {n},+4477019{n:05d}\n" for n in range(20_000))
    page = await upload(browser, "name,phone\n" + rows)
    assert page.status == 200
    assert "Importing 20,000 rows takes about 6 seconds" in page.text
    assert 'data-busy="Importing, please wait"' in page.text
