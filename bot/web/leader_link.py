"""Leader links on the console.

* ``/leader/{token}``: a leader's page for one action and one institution they lead, no account
  needed (the token is the capability: storage/leader_links.py). Their institution's confirmed
  / maybe / not replied counts, the chase list (names and reply state, never a phone number),
  a "nudge" button per person (scheduler.leader_links.nudge: outbox, consent, quiet hours, once
  a day), and the headcount at the door. Nothing of another institution. A wrong, revoked or
  expired token gets the same "this link does not work" page.
* ``/actions/{slug}/leaders`` (organisers only): make a link for a leader (shown once) and
  revoke links.

Everything done through either page is in the audit log (the use cases record it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import action_or_404, error_page, organisers_only, render, see_other, signed_in
from bot.web.viewer import Viewer
from config.messages import format_when
from scheduler import leader_links as use
from scheduler.actions import ActionError, get_action
from storage.leader_links import NO_NAME, OpenLink, chase_list, links_for, open_link
from storage.links import is_live
from storage.models import Action, Institution, Membership, Person
from storage.roles import LEADING_ROLES
from storage.rollup import action_rollup

routes = web.RouteTableDef()

TOKEN_ROUTE = r"/leader/{token:[A-Za-z0-9_-]{1,100}}"  # noqa: S105 (a route, not a secret)
NUDGED = {
    "queued": "Sent: we have asked {name} if they are coming.",
    "held": "{name} will get the text when their quiet hours end ({opens}).",
    "already": "{name} has already had a nudge today. Try again tomorrow.",
    "opted_out": "{name} has asked for no more texts, so nothing was sent.",
    "unreachable": "We have no way to text {name}, so nothing was sent.",
    "too_late": "Too late to nudge: the action has started.",
}
REPLY_LABELS = {"yes": "Coming", "maybe": "Maybe", "no": "Not coming", "none": "Not replied"}


def _gone(request: web.Request) -> web.Response:
    return error_page(
        request,
        404,
        "This link does not work",
        "It may have expired or been turned off. Ask your organiser for a new link.",
    )


def _when(moment: datetime, request: web.Request) -> str:
    return format_when(moment, "en", request.app[SETTINGS].default_timezone)


async def _leader_context(request: web.Request, opened: OpenLink) -> dict[str, Any]:
    async with request.app[DB].session() as session:
        rollup = await action_rollup(session, opened.action, institution_id=opened.institution.id)
        people = await chase_list(session, opened.action.id, opened.institution.id)
    row = rollup.rows[0] if rollup.rows else rollup.no_institution
    return {
        "title": f"{opened.institution.name}: {opened.action.title}",
        "action": opened.action,
        "institution": opened.institution.name,
        "leader": opened.leader.name.strip(),
        "when": _when(opened.action.starts_at, request),
        "row": row,
        "people": people,
        "labels": REPLY_LABELS,
        "token": request.match_info["token"],
        "started": opened.action.starts_at <= request.app[CLOCK].now(),
    }


@routes.get(TOKEN_ROUTE, name="console.leader_link")
async def leader_page(request: web.Request) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        opened = await open_link(session, request.match_info["token"], now)
        if opened is not None:
            opened.link.last_used_at = now
    if opened is None:
        return _gone(request)
    context = await _leader_context(request, opened)
    notice = request.query.get("done", "")
    if notice in NUDGED:
        # The name from the page's own list, never from the address: nothing typed into a
        # URL is shown back.
        asked = request.query.get("p", "")
        names = {
            str(p.person_id): p.name.split()[0] for p in context["people"] if p.name != NO_NAME
        }
        opens = request.app[SETTINGS].quiet_end.strftime("%H:%M")
        context["notice"] = NUDGED[notice].format(name=names.get(asked, "They"), opens=opens)
    elif notice == "headcount":
        context["notice"] = "Headcount saved."
    return render(request, "leader_link.html", context)


@routes.post(TOKEN_ROUTE + r"/nudge/{person:\d{1,18}}", name="console.leader_link_nudge")
async def leader_nudge(request: web.Request) -> web.StreamResponse:
    app = request.app
    now = app[CLOCK].now()
    token = request.match_info["token"]
    async with app[DB].session() as session:
        opened = await open_link(session, token, now)
        if opened is None:
            return _gone(request)
        person_id = int(request.match_info["person"])
        outcome = await use.nudge(session, app[SETTINGS], opened, person_id, now=now)
    if outcome == "not_theirs":
        return error_page(
            request, 400, "Not on your list", "That person is not on this page's chase list."
        )
    raise see_other(f"/leader/{token}?done={outcome}&p={person_id}#chase")


@routes.post(TOKEN_ROUTE + "/headcount", name="console.leader_link_headcount")
async def leader_headcount(request: web.Request) -> web.StreamResponse:
    app = request.app
    now = app[CLOCK].now()
    token = request.match_info["token"]
    form = await request.post()
    raw = str(form.get("headcount", "")).strip()
    async with app[DB].session() as session:
        opened = await open_link(session, token, now)
        if opened is None:
            return _gone(request)
        error = ""
        if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
            error = "Enter the number of people here as a whole number, like 37"
        else:
            try:
                await use.headcount(session, opened, int(raw), now=now)
            except ActionError as exc:
                error = str(exc)
    if error:
        context = await _leader_context(request, opened)
        context.update(errors={"headcount": error}, headcount=raw)
        return render(request, "leader_link.html", context, status=400)
    raise see_other(f"/leader/{token}?done=headcount#headcount")


# -- the organiser's page --------------------------------------------------------------------


_organisers = organisers_only(
    "Organisers only", "Only an organiser can make or turn off leader links."
)


async def _links_context(request: web.Request, action: Action) -> dict[str, Any]:
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        links = await links_for(session, action.id)
        leaders = (
            await session.execute(
                select(Person.id, Person.name, Institution.id, Institution.name)
                .join(Membership, Membership.person_id == Person.id)
                .join(Institution, Institution.id == Membership.institution_id)
                .where(Membership.role.in_(LEADING_ROLES))
                .where(Institution.status != "former")
                .order_by(Institution.name, Person.name)
            )
        ).all()
    zone = ZoneInfo(request.app[SETTINGS].default_timezone)
    return {
        "title": f"Leader links: {action.title}",
        "action": action,
        "choices": [
            {"value": f"{pid}:{iid}", "label": f"{pname.strip() or 'No name'}, {iname}"}
            for pid, pname, iid, iname in leaders
        ],
        "links": [
            {
                "id": link.id,
                "leader": leader.strip() or "No name",
                "institution": institution,
                "state": "Turned off"
                if link.revoked_at is not None
                else "Works"
                if is_live(link, now)
                else "Expired",
                "expires": f"{link.expires_at.astimezone(zone):%a %d %b %H:%M}"
                if link.expires_at is not None
                else "Never",
                "live": is_live(link, now),
            }
            for link, leader, institution in links
        ],
    }


@routes.get(r"/actions/{slug:[a-z0-9-]{1,64}}/leaders", name="console.leader_links")
@signed_in
@_organisers
async def links_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    context = await _links_context(request, action)
    if request.query.get("done") == "revoked":
        context["notice"] = "The link no longer works."
    return render(request, "leader_links.html", context)


@routes.post(r"/actions/{slug:[a-z0-9-]{1,64}}/leaders", name="console.leader_links_post")
@signed_in
@_organisers
async def make_link(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    action = await action_or_404(request)
    form = await request.post()
    raw = str(form.get("leader", ""))
    person_id, _, institution_id = raw.partition(":")
    error = ""
    made = None
    if not (person_id.isdigit() and institution_id.isdigit() and len(raw) < 40):
        error = "Choose a leader"
    else:
        now = app[CLOCK].now()
        async with app[DB].session() as session:
            leader = await session.get(Person, int(person_id))
            if leader is None:
                error = "Choose a leader"
            else:
                try:
                    made = await use.make_link(
                        session,
                        app[SETTINGS],
                        action=await get_action(session, action.slug),
                        leader=leader,
                        institution_id=int(institution_id),
                        actor=viewer.actor,
                        now=now,
                    )
                except use.LinkError as exc:
                    error = str(exc)
    context = await _links_context(request, action)
    if error or made is None:
        context["errors"] = {"leader": error or "Choose a leader"}
        return render(request, "leader_links.html", context, status=400)
    context["made"] = {"url": made.url, "leader": made.leader.name, "institution": made.institution}
    return render(request, "leader_links.html", context)


@routes.post(
    r"/actions/{slug:[a-z0-9-]{1,64}}/leaders/{id:\d{1,18}}/revoke",
    name="console.leader_link_revoke",
)
@signed_in
@_organisers
async def revoke(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    async with request.app[DB].session() as session:
        await use.revoke_link(
            session,
            int(request.match_info["id"]),
            actor=viewer.actor,
            now=request.app[CLOCK].now(),
        )
    raise see_other(f"/actions/{action.slug}/leaders?done=revoked")


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
