"""The roll-call board (bot/web/board.py): counts from the counters, never a name or a number;
live through the hub when a HERE arrives through the signed webhook; the steward's next and
previous; organisers make and revoke links (a revoked link is a 404); the guard's CSRF and
Origin checks on the steward's form."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.cli.root import cli
from bot.cli.runtime import Runtime
from bot.web.keys import HUB
from config.clock import FakeClock
from config.settings import Settings
from scheduler import actions
from storage import counters, links
from storage.db import Database
from storage.models import Action, AuditEntry, CapabilityLink
from tests import factories as f
from tests.console import PUBLIC_URL, Alliance, Browser, alliance
from tests.test_console_today import next_state, text_in


@dataclass
class Assembly:
    people: Alliance
    action: Action


async def assembly(db: Database, clock: FakeClock) -> Assembly:
    """An assembly under way (it began 10 minutes ago, target 30): St Mary's pledged 10 (Grace
    said yes with two guests and is here; Ann has not replied), Al-Noor pledged 5 (Fatima said
    yes; its leader counted 4 at the door), Bethel Chapel nothing yet, Tom (no institution)
    said maybe."""
    now = clock.now()
    people = await alliance(db, now)
    async with db.session() as s:
        await f.institution(s, "Bethel Chapel", now)  # nobody from it yet
        action = await f.action(s, now, starts_in=-timedelta(minutes=10))
        action.target = 30
        tom = await f.person(s, "Tom Hughes", 8, now)
        for person, answer, guests in [
            (people.ann, None, 0),
            (people.grace, "yes", 2),
            (people.fatima, "yes", 0),
            (tom, "maybe", 0),
        ]:
            invitation = await f.invite(s, action, person, now)
            await counters.invited(s, action.id, [person.id], now)
            if answer:
                await actions.record_rsvp(
                    s, invitation, answer, guests, channel="sms", inbound_id=None, now=now
                )
        for inst, number in ((people.mary, 10), (people.noor, 5)):
            await actions.commit(
                s,
                action_id=action.id,
                institution_id=inst.id,
                number=number,
                set_by_id=None,
                channel="sms",
                now=now,
            )
        await actions.check_in(s, action.id, people.grace.id, source="checkin", now=now)
        await actions.record_headcount(
            s,
            action_id=action.id,
            institution_id=people.noor.id,
            number=4,
            recorded_by_id=people.fatima.id,
            channel="sms",
            now=now,
        )
        assert await counters.drift(s, action) == []
    return Assembly(people, action)


async def make_link(db: Database, action: Action, kind: str, clock: FakeClock) -> str:
    async with db.session() as s:
        _link, token = await links.create_link(s, kind=kind, action_id=action.id, now=clock.now())
    return token


def cell(html: str, name: str) -> list[str]:
    """The numbers in the board's row for ``name`` (pledged, confirmed, arrived)."""
    start = html.index(f'<th scope="row">{name}')
    row = html[start : html.index("</tr>", start)]
    return re.findall(r'<td class="num[^"]*"[^>]*>([^<]*)</td>', row)


def total(html: str) -> int:
    found = re.search(r"data-arrived>(\d+)<", html)
    assert found
    return int(found.group(1))


async def test_the_board_shows_counts_per_institution_and_never_a_name_or_number(
    web: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    token = await make_link(db, a.action, "board", clock)
    async with web.get(f"/board/{token}") as resp:
        assert resp.status == 200
        html = await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert total(html) == 5  # Grace checked in; Al-Noor's headcount 4
    assert "of target 30" in html
    assert cell(html, "St Mary&#39;s Church") == ["10", "3", "1"]
    assert cell(html, "Al-Noor Mosque") == ["5", "1", "4"]
    assert cell(html, "No institution") == ["none", "0", "0"]
    assert "10% of pledge" in html and "80% of pledge" in html
    assert "Not arrived yet" in html and "<li>Bethel Chapel</li>" in html
    assert "Last update 10:00:00" in html
    for name in ("Ann", "Grace", "Fatima", "Mohammed", "Tom", "Ruth", "+44", "07700"):
        assert name not in html
    async with web.get(f"/board/{token}/results") as resp:
        results = await resp.text()
    assert "We brought <strong>5</strong>" in results
    assert "Grace" not in results


async def test_a_revoked_or_wrong_link_is_not_found_alike(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    browser = Browser(web, console_settings)
    today = await browser.sign_in(db, "07700 900011")  # Ruth, the organiser
    assert f'href="/actions/{a.action.slug}/board"' in today.text
    page = await browser.get(f"/actions/{a.action.slug}/board")
    assert page.status == 200 and "No links yet" in page.text
    page = await browser.post(
        f"/actions/{a.action.slug}/board/links", {"kind": "board", "label": "Projector"}
    )
    assert page.status == 201
    found = re.search(r"/board/([A-Za-z0-9_-]{43})", page.text)
    assert found
    token = found.group(1)
    async with db.session() as s:
        link = await s.scalar(select(CapabilityLink))
        assert link is not None and token not in link.token_hash and link.label == "Projector"
        audit = list(await s.scalars(select(AuditEntry.action)))
        assert "board_link_created" in audit
    assert (await browser.get(f"/board/{token}")).status == 200
    page = await browser.get(f"/actions/{a.action.slug}/board")
    assert token not in page.text  # shown once only
    page = await browser.post(f"/actions/{a.action.slug}/board/links/{link.id}/revoke")
    assert page.status == 200 and "Revoked" in page.text
    gone = await browser.get(f"/board/{token}")
    assert gone.status == 404
    for path in (f"/board/{'x' * 43}", "/board/short", f"/board/{token}/live", f"/steward/{token}"):
        other = await browser.get(path)
        assert other.status == 404 and other.text.count("Page not found") == gone.text.count(
            "Page not found"
        )


async def test_a_leader_cannot_make_links(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    browser = Browser(web, console_settings)
    await browser.sign_in(db, "07700 900001")  # Ann leads St Mary's
    assert (await browser.get(f"/actions/{a.action.slug}/board")).status == 403
    await browser.get("/")
    page = await browser.post(f"/actions/{a.action.slug}/board/links", {"kind": "board"})
    assert page.status == 403


async def test_a_here_through_the_webhook_moves_every_open_board_without_a_reload(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    token = await make_link(db, a.action, "board", clock)
    web.app[HUB].interval = 3600  # no polling: only the pipeline's poke can move it
    async with web.get(f"/board/{token}/live") as one, web.get(f"/board/{token}/live") as two:
        assert one.headers["Content-Type"] == "text/event-stream"
        for resp in (one, two):
            state = await asyncio.wait_for(next_state(resp), 5)
            assert cell(state, "St Mary&#39;s Church")[2] == "1"
        await text_in(web, console_settings, f.phone(1), "HERE")  # Ann, St Mary's
        for resp in (one, two):
            state = await asyncio.wait_for(next_state(resp), 5)
            assert cell(state, "St Mary&#39;s Church")[2] == "2" and total(state) == 6
    assert "Ann" not in state and "<html" not in state
    # A board that lost its connection catches up as it comes back: the whole state at once.
    await text_in(web, console_settings, f.phone(5), "HERE")  # Grace: already here
    await text_in(web, console_settings, f.phone(2), "HERE")  # Mo, Al-Noor: under its headcount
    await text_in(web, console_settings, f.phone(8), "HERE")  # Tom, no institution
    async with web.get(f"/board/{token}/live") as again:
        state = await asyncio.wait_for(next_state(again), 5)
    assert total(state) == 7 and cell(state, "No institution")[2] == "1"


async def test_the_steward_moves_the_roll_call_and_the_board_highlights_it(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    board_token = await make_link(db, a.action, "board", clock)
    token = await make_link(db, a.action, "steward", clock)
    steward = Browser(web, console_settings)
    page = await steward.get(f"/steward/{token}")
    assert "The roll call has not started" in page.text
    web.app[HUB].interval = 3600
    async with web.get(f"/board/{board_token}/live") as resp:
        state = await asyncio.wait_for(next_state(resp), 5)
        assert "board-now" not in state
        page = await steward.post(f"/steward/{token}/move", {"step": "next"})
        assert page.status == 200 and "Now on the board" in page.text
        assert "Al-Noor Mosque" in page.text  # institutions by name: Al-Noor first
        state = await asyncio.wait_for(next_state(resp), 5)
        assert '<span class="board-now__tag">Now</span> Al-Noor Mosque' in state
        assert "data-now-arrived>4<" in state
        await steward.post(f"/steward/{token}/move", {"step": "next"})
        state = await asyncio.wait_for(next_state(resp), 5)
        assert "Now</span> Bethel Chapel" in state
    for _ in range(3):  # St Mary's, no institution, and there it stops
        page = await steward.post(f"/steward/{token}/move", {"step": "next"})
    assert "No institution" in page.text.split("Now on the board")[1][:200]
    page = await steward.post(f"/steward/{token}/move", {"step": "previous"})
    assert "St Mary&#39;s Church" in page.text.split("Now on the board")[1][:200]
    page = await steward.post(f"/steward/{token}/move", {"step": "sideways"})
    assert page.status == 400
    # A board link cannot move the roll call.
    await steward.get(f"/steward/{token}")
    assert (await steward.post(f"/steward/{board_token}/move", {"step": "next"})).status == 404
    async with db.session() as s:
        moved = list(
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "roll_call_moved"))
        )
    assert len(moved) == 6 and moved[0].actor_label.startswith("steward link #")


async def test_the_stewards_form_needs_its_token_and_our_origin(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    token = await make_link(db, a.action, "steward", clock)
    steward = Browser(web, console_settings)
    await steward.get(f"/steward/{token}")
    page = await steward.post(
        f"/steward/{token}/move", {"step": "next"}, origin="https://evil.example"
    )
    assert page.status == 403 and "another website" in page.text
    await steward.get(f"/steward/{token}")
    page = await steward.post(f"/steward/{token}/move", {"step": "next"}, csrf="forged")
    assert page.status == 403
    async with db.session() as s:
        assert (
            await s.scalar(select(AuditEntry).where(AuditEntry.action == "roll_call_moved"))
        ) is None
    assert PUBLIC_URL


async def test_the_cli_makes_lists_and_revokes_links(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    a = await assembly(db, clock)
    runtime = Runtime(settings=console_settings, clock=clock)

    async def invoke(*args: str) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, cli, ["board", *args], obj=runtime)

    made = await invoke("link", a.action.slug, "--steward", "--label", "North door")
    assert made.exit_code == 0, made.output
    found = re.search(
        r"link (\d+) \(steward\): http://console\.example\.org/steward/(\S+)", made.output
    )
    assert found
    link_id, token = found.groups()
    assert (await web.get(f"/steward/{token}")).status == 200
    listed = await invoke("links", a.action.slug)
    assert "North door" in listed.output and "working" in listed.output
    assert token not in listed.output
    assert (await invoke("revoke", link_id)).exit_code == 0
    assert (await web.get(f"/steward/{token}")).status == 404
    assert "revoked" in (await invoke("links", a.action.slug)).output
    assert (await invoke("revoke", "999")).exit_code == 1
    assert (await invoke("link", "no-such-action")).exit_code == 1


async def test_a_link_opens_only_its_kind_and_only_while_live(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now)
        link, token = await links.create_link(
            s, kind="board", action_id=action.id, now=now, expires_at=now + timedelta(hours=1)
        )
        assert link.token_hash == links.token_hash(token) and len(token) == 43
        assert await links.open_link(s, token, "board", now) is not None
        assert await links.open_link(s, token, ("board", "steward"), now) is not None
        assert await links.open_link(s, token, "steward", now) is None
        assert await links.open_link(s, token, "board", now + timedelta(hours=2)) is None
        assert await links.open_link(s, token[:-1] + "!", "board", now) is None
        assert await links.open_link(s, token.swapcase(), "board", now) is None
        revoked = await links.revoke_link(s, link.id, now)
        assert revoked is not None and revoked.revoked_at == now
        assert await links.open_link(s, token, "board", now) is None
        assert await links.revoke_link(s, link.id + 1, now) is None
        try:
            await links.create_link(s, kind="admin", action_id=action.id, now=now)
        except links.LinkError as exc:
            assert "unknown kind" in str(exc)
        else:
            raise AssertionError("an unknown kind was accepted")
