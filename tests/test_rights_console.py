"""The console's data-rights pages: /audit (organisers only, filters, CSV recorded), a
person's export (a zip, recorded), erasure behind a confirmation, and the consent history."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from config.clock import FakeClock
from config.settings import Secret, Settings
from storage import audit
from storage.db import Database
from storage.models import AuditEntry, ConsentEvent, Person
from tests.console import PUBLIC_URL, Browser, alliance


@pytest.fixture
async def client(
    db: Database, console_settings: Settings, clock: FakeClock
) -> AsyncIterator[TestClient[Any, Any]]:
    settings = replace(console_settings, suppression_secret=Secret("suppression-key"))
    app = create_app(settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def organiser(client: TestClient[Any, Any], db: Database, settings: Settings) -> Browser:
    client.session.cookie_jar.clear()  # a fresh browser
    browser = Browser(client, settings)
    await browser.sign_in(db, "07700 900011")  # Ruth
    return browser


async def test_the_audit_log_is_for_organisers_filters_and_exports(
    client: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    async with db.session() as s:
        await audit.record(
            s, audit.Actor.operator(), "person_exported", "person", people.grace.id,
            at=clock.now(),
        )  # fmt: skip
    leader = Browser(client, console_settings)
    await leader.sign_in(db, "07700 900001")  # Ann leads St Mary's
    assert (await leader.get("/audit")).status == 403
    assert (await leader.get("/audit.csv")).status == 403
    ruth = await organiser(client, db, console_settings)
    page = await ruth.get("/audit")
    assert page.status == 200 and "person_exported" in page.text and "sign_in" in page.text
    only = await ruth.get(f"/audit?person={people.grace.id}")
    assert "person_exported" in only.text and "sign_in_succeeded" not in only.text
    for bad in ("/audit?person=abc", "/audit?via=fax", "/audit?before=-1", "/audit?action=a%20b"):
        assert (await ruth.get(bad)).status == 400, bad
    async with client.get("/audit.csv?action=person_exported") as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        body = await resp.text()
    assert body.startswith("id,at,who,via,action,subject,details") and body.count("\n") == 2
    async with db.session() as s:
        last = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert last is not None and last.action == "audit_exported" and last.via == "web"


async def test_an_organiser_exports_a_person_as_a_zip_and_it_is_recorded(
    client: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    ruth = await organiser(client, db, console_settings)
    page = await ruth.get(f"/people/{people.grace.id}/export")
    assert page.status == 200 and "Grace Okafor" in page.text
    async with client.post(
        f"/people/{people.grace.id}/export",
        data={"csrf_token": page.csrf},
        headers={"Origin": PUBLIC_URL},
    ) as resp:
        assert resp.status == 200 and resp.content_type == "application/zip"
        data = await resp.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "person.json" in archive.namelist() and "people.csv" in archive.namelist()
    assert (await ruth.get("/people/99999/export")).status == 404
    assert (await ruth.get("/people/abc/export")).status == 404
    async with db.session() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "person_exported"))
        assert entry is not None and entry.subject_id == people.grace.id
        assert entry.actor_person_id == people.ruth.id


async def test_erasing_asks_for_confirmation_then_erases(
    client: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    leader = Browser(client, console_settings)
    await leader.sign_in(db, "07700 900001")
    assert (await leader.get(f"/people/{people.grace.id}/erase")).status == 403
    ruth = await organiser(client, db, console_settings)
    page = await ruth.get(f"/people/{people.grace.id}/erase")
    assert page.status == 200 and "cannot be undone" in page.text
    refused = await ruth.post(f"/people/{people.grace.id}/erase", {})
    assert refused.status == 400 and "Tick the box" in refused.text
    done = await ruth.post(f"/people/{people.grace.id}/erase", {"confirm": "erase"})
    assert done.status == 200 and "Erased." in done.text and "Grace" not in done.text
    async with db.session() as s:
        grace = await s.get_one(Person, people.grace.id)
        assert grace.erased_at is not None and grace.name == "" and grace.phone is None
        actions = (await s.scalars(select(AuditEntry.action))).all()
        assert "person_erased" in actions


async def test_the_consent_page_shows_the_history_and_records_what_they_said(
    client: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await alliance(db, clock.now())
    ruth = await organiser(client, db, console_settings)
    page = await ruth.get(f"/people/{people.mo.id}/consent")
    assert page.status == 200 and "Consent history" in page.text
    bad = await ruth.post(f"/people/{people.mo.id}/consent", {"state": "maybe"})
    assert bad.status == 400 and "Choose opted in or opted out" in bad.text
    done = await ruth.post(f"/people/{people.mo.id}/consent", {"state": "opted_out"})
    assert done.status == 200 and "Told an organiser" in done.text
    async with db.session() as s:
        event = await s.scalar(select(ConsentEvent).order_by(ConsentEvent.id.desc()))
        assert event is not None and (event.state, event.source, event.channel) == (
            "opted_out",
            "organiser",
            "web",
        )
        assert (await s.get_one(Person, people.mo.id)).opted_out
