"""Today: per institution committed / confirmed / attended with the gap, the change since
yesterday and who has gone quiet; the inbox and failures; a leader's page limited to their
institutions; and the live stream, moved by a text through the signed Twilio webhook."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.web.keys import HUB
from config.clock import FakeClock
from config.settings import Settings
from storage import counters
from storage.db import Database
from storage.models import Invitation, RsvpEvent
from tests import factories as f
from tests.console import Browser, alliance, numbers
from tests.twilio_signing import encode, inbound_form, sign


def card(html: str, name: str) -> str:
    start = html.index(f'<h4 class="card__title">{name}')
    return html[start : html.index("</li>", start)]


def bar(html: str, label: str) -> int:
    found = re.search(rf">{label}</dt>\s*<dd[^>]*>\s*<span[^>]*>(\d+)</span>", html)
    assert found, f"no {label} bar in {html}"
    return int(found.group(1))


def count(html: str, label: str) -> int:
    found = re.search(rf"<dt>{label}</dt>\s*<dd>(\d+)</dd>", html)
    assert found, label
    return int(found.group(1))


async def test_an_organiser_sees_every_institution_with_bars_gap_change_and_quiet(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    browser = Browser(web, console_settings)
    page = await browser.sign_in(db, "07700 900011")
    html = page.text
    assert "Accountability Assembly" in html and "De Montfort Hall" in html
    mary = card(html, "St Mary&#39;s Church")
    assert (bar(mary, "Committed"), bar(mary, "Confirmed"), bar(mary, "Attended")) == (10, 3, 0)
    assert "7 short of the commitment" in mary
    assert "+3 since Mon 9 Mar" in mary
    assert "Maybe 0, no 0, not replied 1" in mary
    noor = card(html, "Al-Noor Mosque")
    assert (bar(noor, "Committed"), bar(noor, "Confirmed")) == (5, 0)
    assert "Quiet</strong>" in noor and "No change since Mon 9 Mar" in noor
    assert "No reply from anyone in Al-Noor Mosque for 3 days" in html
    loose = card(html, "No institution")
    assert "No commitment yet" in loose and "Maybe 0, no 1, not replied 0" in loose
    assert re.search(r">Committed</dt>\s*<dd[^>]*>\s*<span[^>]*>none</span>", loose)
    total = html[html.index("All institutions") :]
    assert (bar(total, "Committed"), bar(total, "Confirmed")) == (15, 3)
    assert count(html, "Open in the inbox") == 3
    assert count(html, "Failed sends, last 24 hours") == 1
    assert "+44" not in html and "07700" not in html


async def test_a_leader_sees_only_their_institution_and_none_of_its_phone_numbers(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    page = await Browser(web, console_settings).sign_in(db, "07700 900001")  # Ann
    html = page.text
    assert "Leader, St Mary&#39;s Church" in html
    mary = card(html, "St Mary&#39;s Church")
    assert (bar(mary, "Committed"), bar(mary, "Confirmed")) == (10, 3)
    total = html[html.index("All your institutions") :]
    assert (bar(total, "Committed"), bar(total, "Confirmed")) == (10, 3)
    assert "+3 since Mon 9 Mar" in total
    for other in ("Al-Noor", "No institution", "Mohammed", "Fatima", "Tom Hughes", "Gone quiet"):
        assert other not in html
    assert count(html, "Open in the inbox") == 1  # Grace's, not Mo's or the stranger's
    assert count(html, "Failed sends, last 24 hours") == 0
    assert "+44" not in html and "07700" not in html


async def test_no_actions_says_so(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await alliance(db, clock.now())
    page = await Browser(web, console_settings).sign_in(db, "07700 900011")
    assert "No upcoming actions." in page.text


async def test_signed_out_today_and_its_stream_send_you_to_sign_in(
    web: TestClient[Any, Any], console_settings: Settings
) -> None:
    for path in ("/", "/live/today", "/sessions"):
        async with web.get(path, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/sign-in"


async def next_state(resp: ClientResponse) -> str:
    """The next ``snapshot`` event's data (pings and other fields skipped)."""
    event, data = "", []
    while True:
        line = (await resp.content.readline()).decode()
        if not line:
            raise EOFError("the stream ended")
        line = line.rstrip("\r\n")
        if not line:
            if event == "snapshot" and data:
                return "\n".join(data)
            event, data = "", []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


async def text_in(web: TestClient[Any, Any], settings: Settings, phone: str, body: str) -> None:
    path = "/webhooks/twilio/sms"
    form = inbound_form("SM" + phone[-3:] + "0" * 29, phone, body)
    signature = sign(settings.webhook_auth_token.get(), settings.public_url + path, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    async with web.post(path, data=encode(form), headers=headers) as resp:
        assert resp.status == 200


async def test_the_stream_sends_the_numbers_and_a_text_through_the_webhook_moves_them(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await numbers(db, clock.now())
    await Browser(web, console_settings).sign_in(db, "07700 900011")
    web.app[HUB].interval = 3600  # no polling: only the pipeline's poke can move it
    async with web.get("/live/today") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        first = await asyncio.wait_for(next_state(resp), 5)
        assert bar(card(first, "St Mary&#39;s Church"), "Confirmed") == 3
        await text_in(web, console_settings, f.phone(1), "YES")  # Ann, St Mary's
        second = await asyncio.wait_for(next_state(resp), 5)
    assert bar(card(second, "St Mary&#39;s Church"), "Confirmed") == 4
    assert "6 short of the commitment" in card(second, "St Mary&#39;s Church")
    assert "<html" not in second  # the fragment, not a page


async def test_a_change_made_by_another_process_arrives_through_the_poll(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    await Browser(web, console_settings).sign_in(db, "07700 900011")
    web.app[HUB].interval = 0.02
    async with web.get("/live/today") as resp:
        await asyncio.wait_for(next_state(resp), 5)
        async with db.session() as s:  # as a worker or another web process would
            inv = await s.scalar(select(Invitation).where(Invitation.person_id == people.mo.id))
            assert inv is not None
            inv.response, inv.responded_at = "yes", clock.now()
            s.add(RsvpEvent(invitation_id=inv.id, response="yes", channel="sms", at=clock.now()))
            # Every RSVP write moves the live counters in its own transaction (Today reads
            # them): here by hand, as record_rsvp and the webhook's Core path do.
            await counters.rsvp_changed(
                s, inv.action_id, inv.person_id, (None, 0), ("yes", 0), clock.now()
            )
        state = await asyncio.wait_for(next_state(resp), 5)
    assert bar(card(state, "Al-Noor Mosque"), "Confirmed") == 1


@pytest.mark.parametrize("reconnect", [False, True])
async def test_a_leaders_stream_carries_only_their_rows_and_a_reconnect_catches_up(
    web: TestClient[Any, Any],
    db: Database,
    console_settings: Settings,
    clock: FakeClock,
    reconnect: bool,
) -> None:
    await numbers(db, clock.now())
    await Browser(web, console_settings).sign_in(db, "07700 900001")  # Ann
    web.app[HUB].interval = 3600
    if reconnect:  # a change while the page was away: the next connection starts from it
        await text_in(web, console_settings, f.phone(1), "YES 1")
    async with web.get("/live/today") as resp:
        state = await asyncio.wait_for(next_state(resp), 5)
    assert "Al-Noor" not in state and "No institution" not in state
    assert bar(card(state, "St Mary&#39;s Church"), "Confirmed") == (5 if reconnect else 3)
