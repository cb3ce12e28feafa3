"""Driving the organiser console in tests: a browser-like client (cookies kept, each form's
CSRF token sent back, our own Origin), sign-in through the real pages with the code read from
the outbox, and the people the console tests share.

Its fixtures (``console_settings``, ``web``) are in tests/conftest.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.settings import Settings
from scheduler.digest.build import local_day
from storage import counters
from storage.commitments import set_commitment
from storage.db import Database
from storage.models import (
    InboundMessage,
    Institution,
    OutboxMessage,
    Person,
    RollupSnapshot,
)
from tests import factories as f

# http, so the test client's cookie jar sends the cookies back (a Secure cookie would not be
# sent over the test server's plain http); https behaviour has tests of its own.
PUBLIC_URL = "http://console.example.org"
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
CODE = re.compile(r"\b(\d{6})\b")


def console_settings_for(db_url: str, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "TURNOUT_DATABASE_URL": db_url,
            "TURNOUT_ALLIANCE_NAME": "Leicester Citizens",
            "TURNOUT_PUBLIC_URL": PUBLIC_URL,
            **extra,
        },
        env_file=None,
    )


@dataclass
class Page:
    status: int
    text: str
    url: str
    headers: Any

    @property
    def csrf(self) -> str:
        found = CSRF.search(self.text)
        assert found, "no form on this page"
        return found.group(1)


class Browser:
    """One browser: its own cookies; forms posted with the last page's CSRF token."""

    def __init__(self, client: TestClient[Any, Any], settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.last: Page | None = None

    async def get(self, path: str, **kwargs: Any) -> Page:
        async with self.client.get(path, **kwargs) as resp:
            self.last = Page(resp.status, await resp.text(), str(resp.url), resp.headers)
        return self.last

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        csrf: str | None = None,
        origin: str | None = PUBLIC_URL,
        **kwargs: Any,
    ) -> Page:
        form = dict(data or {})
        if csrf is None and self.last is not None and CSRF.search(self.last.text):
            csrf = self.last.csrf
        if csrf is not None:
            form.setdefault("csrf_token", csrf)
        headers = dict(kwargs.pop("headers", {}))
        if origin is not None:
            headers.setdefault("Origin", origin)
        async with self.client.post(path, data=form, headers=headers, **kwargs) as resp:
            self.last = Page(resp.status, await resp.text(), str(resp.url), resp.headers)
        return self.last

    def cookie(self, name: str) -> str | None:
        for cookie in self.client.session.cookie_jar:
            if cookie.key == name:
                return cookie.value
        return None

    async def ask_for_code(self, phone: str) -> Page:
        await self.get("/sign-in")
        return await self.post("/sign-in", {"phone": phone})

    async def sign_in(self, db: Database, phone: str) -> Page:
        """The whole way in: ask, read the code from the outbox, type it."""
        page = await self.ask_for_code(phone)
        assert page.status == 200 and "Enter the code" in page.text, page.text
        code = await latest_code(db)
        page = await self.post("/sign-in/code", {"code": code})
        assert page.status == 200 and "<h1>Today" in page.text, page.text
        return page


async def signed_in(
    client: TestClient[Any, Any], settings: Settings, db: Database, phone: str
) -> Browser:
    """A new browser, signed in (the whole way) as ``phone``."""
    browser = Browser(client, settings)
    await browser.sign_in(db, phone)
    return browser


async def code_rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.template == "signin_code")
                .order_by(OutboxMessage.id)
            )
        )


async def latest_code(db: Database) -> str:
    rows = await code_rows(db)
    assert rows, "no sign-in code in the outbox"
    found = CODE.search(rows[-1].body)
    assert found, rows[-1].body
    return found.group(1)


@dataclass
class Alliance:
    """St Mary's (Ann leads it, Grace is a member), Al-Noor (Fatima leads it, Mo is a member),
    an alliance organiser (Ruth, in no institution) and an action in a week."""

    mary: Institution
    noor: Institution
    ruth: Person
    ann: Person
    grace: Person
    fatima: Person
    mo: Person


async def alliance(db: Database, now: datetime) -> Alliance:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        noor = await f.institution(s, "Al-Noor Mosque", now)
        ruth = await f.person(s, "Ruth Adeyemi", 11, now)
        ruth.alliance_role = "organiser"
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary, role="leader")
        grace = await f.person(s, "Grace Okafor", 5, now, institution=mary)
        fatima = await f.person(s, "Fatima Hussain", 7, now, institution=noor, role="leader")
        mo = await f.person(s, "Mohammed Khan", 2, now, institution=noor)
    return Alliance(mary, noor, ruth, ann, grace, fatima, mo)


async def numbers(db: Database, now: Any) -> Alliance:
    """An assembly in a week. St Mary's committed 10: Grace said yes with two guests (Ann has
    not replied). Al-Noor committed 5 and was invited four days ago: nobody has replied (quiet).
    Tom, in no institution, said no. Yesterday's snapshot had St Mary's at 0. Three texts wait
    in the inbox (Grace's, Mo's, a stranger's); one message to Mo failed today."""
    people = await alliance(db, now)
    async with db.session() as s:
        action = await f.action(s, now)
        tom = await f.person(s, "Tom Hughes", 8, now)
        for person, invited in [
            (people.ann, now),
            (people.grace, now),
            (people.fatima, now - timedelta(days=4)),
            (people.mo, now - timedelta(days=4)),
            (tom, now),
        ]:
            inv = await f.invite(s, action, person, invited)
            if person is people.grace:
                inv.response, inv.guests, inv.responded_at = "yes", 2, now
            if person is tom:
                inv.response, inv.responded_at = "no", now
        for inst, number in ((people.mary, 10), (people.noor, 5)):
            await set_commitment(
                s,
                action_id=action.id,
                institution_id=inst.id,
                number=number,
                set_by_id=None,
                channel="sms",
                now=now,
            )
        zero = {"yes": 0, "guests": 0}
        s.add(
            RollupSnapshot(
                action_id=action.id,
                day=local_day(now, "Europe/London") - timedelta(days=1),
                taken_at=now - timedelta(days=1),
                counts={str(people.mary.id): zero, str(people.noor.id): zero},
            )
        )
        for n, (person_id, sender) in enumerate(
            [(people.grace.id, f.phone(5)), (people.mo.id, f.phone(2)), (None, f.phone(999))]
        ):
            s.add(
                InboundMessage(
                    channel="sms",
                    provider="sandbox",
                    provider_id=f"SM{n}",
                    sender=sender,
                    body="The damp in our flat is making the kids ill",
                    person_id=person_id,
                    received_at=now - timedelta(hours=2),
                    inbox_status="open",
                )
            )
        s.add(
            OutboxMessage(
                dedupe_key="failed:1",
                channel="sms",
                person_id=people.mo.id,
                to_address=f.phone(2),
                body="x",
                status="failed",
                not_before=now,
                created_at=now,
                updated_at=now,
            )
        )
    async with db.session() as s:
        # The invitations and replies above went in as raw rows, past the use cases that move
        # the live counters: bring them up to the rows, as ``turnout counters verify --repair``
        # (and the nightly job) does. Today and the action page read the counters.
        await counters.verify_all(s, now, repair_them=True)
    return people
