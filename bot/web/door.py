"""Door check-in on a phone: a steward link (``/steward/TOKEN/door``) or a signed-in organiser
(``/actions/SLUG/door``). Search a name and tap "Here"; add a walk-in (name, institution or
none, an optional number with a consent tick, language). Plain forms and light pages for a
slow connection; every write is scheduler/door.py (audited there), and pokes the live hub so
the boards move at once. Bad input is a 400 page with the form kept, never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.board import steward_actor
from bot.web.keys import HUB
from bot.web.pages import action_or_404, error_page, organisers_only, render, see_other, signed_in
from bot.web.viewer import Viewer
from config.settings import LANGUAGES
from scheduler import door
from storage import audit, links
from storage.door import door_institutions, find_people
from storage.models import Action, Person

LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg (Welsh)", "pl": "Polski (Polish)"}
NAMES = {code: LANGUAGE_NAMES.get(code, code) for code in LANGUAGES}

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Door:
    action: Action
    actor: audit.Actor
    base: str  # this door's address: /steward/TOKEN/door or /actions/SLUG/door


async def _steward_door(request: web.Request) -> Door:
    app = request.app
    token = request.match_info["token"]
    async with app[DB].session() as session:
        link = await links.open_link(session, token, "steward", app[CLOCK].now())
        action = None if link is None else await session.get(Action, link.action_id)
    if link is None or action is None:
        raise web.HTTPNotFound()
    return Door(action, steward_actor(link), f"/steward/{token}/door")


_organisers = organisers_only(
    "Only organisers can do this", "Checking people in at the door is for stewards and organisers."
)


async def _organiser_door(request: web.Request, viewer: Viewer) -> Door:
    action = await action_or_404(request)
    return Door(action, viewer.actor, f"/actions/{action.slug}/door")


async def _page(
    request: web.Request,
    d: Door,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    given: door.WalkIn | None = None,
    done: str = "",
) -> web.Response:
    query = request.query.get("q", "")[:100]
    async with request.app[DB].session() as session:
        found = await find_people(session, d.action.id, query)
        institutions = await door_institutions(session)
    return render(
        request,
        "board_door.html",
        {
            "title": f"{d.action.title}: door",
            "action": d.action,
            "base": d.base,
            "q": query,
            "searched": bool(query.strip()),
            "found": found,
            "institutions": institutions,
            "languages": NAMES,
            "errors": errors or {},
            "given": given or door.WalkIn(language=request.app[SETTINGS].default_language),
            "done": done,
        },
        status=status,
    )


async def _done_message(request: web.Request) -> str:
    """The confirmation after a redirect: ``?done=here|already|walkin|merged&person=ID``."""
    what, pid = request.query.get("done", ""), request.query.get("person", "")
    if what not in ("here", "already", "walkin", "merged") or not pid.isascii():
        return ""
    if not pid.isdigit() or len(pid) > 9:
        return ""
    async with request.app[DB].session() as session:
        person = await session.get(Person, int(pid))
    if person is None:
        return ""
    name = person.name.strip() or "They"
    return {
        "here": f"{name} is checked in.",
        "already": f"{name} was already checked in.",
        "walkin": f"{name} is recorded and checked in.",
        "merged": f"{name} was already on record (same number): checked in, nobody added twice.",
    }[what]


async def _show(request: web.Request, d: Door) -> web.StreamResponse:
    return await _page(request, d, done=await _done_message(request))


async def _here(request: web.Request, d: Door) -> web.StreamResponse:
    raw = (await request.post()).get("person", "")
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return error_page(request, 400, "Choose a person", "Nobody was checked in. Go back.")
    now = request.app[CLOCK].now()
    try:
        async with request.app[DB].session() as session:
            result = await door.person_here(session, d.action, int(raw), actor=d.actor, now=now)
    except door.DoorError as exc:
        return error_page(request, 400, "Nobody can check in", str(exc))
    if result is None:
        return error_page(request, 400, "Choose a person", "Nobody was checked in. Go back.")
    request.app[HUB].poke()
    done = "here" if result.checked_in else "already"
    raise see_other(f"{d.base}?done={done}&person={result.person.id}")


def _walk_in_form(form: MultiDictProxy[Any]) -> tuple[door.WalkIn, dict[str, str]]:
    def text(name: str, limit: int) -> str:
        value = form.get(name, "")
        return value[:limit] if isinstance(value, str) else ""

    errors: dict[str, str] = {}
    institution = text("institution", 12)
    institution_id = None
    if institution not in ("", "none"):
        if institution.isascii() and institution.isdigit():
            institution_id = int(institution)
        else:
            errors["institution"] = "Choose an institution from the list, or none"
    given = door.WalkIn(
        name=text("name", 1000),
        institution_id=institution_id,
        phone=text("phone", 40),
        consent=form.get("consent") == "yes",
        language=text("language", 8),
    )
    return given, errors


async def _walk_in(request: web.Request, d: Door) -> web.StreamResponse:
    given, errors = _walk_in_form(await request.post())
    if errors:
        return await _page(request, d, status=400, errors=errors, given=given)
    app = request.app
    try:
        async with app[DB].session() as session:
            result = await door.walk_in(
                session,
                d.action,
                given,
                settings=app[SETTINGS],
                actor=d.actor,
                now=app[CLOCK].now(),
            )
    except door.DoorError as exc:
        return await _page(request, d, status=400, errors=exc.errors, given=given)
    app[HUB].poke()
    done = "merged" if result.merged else "walkin"
    raise see_other(f"{d.base}?done={done}&person={result.person.id}")


# -- a steward's phone ----------------------------------------------------------------------


@routes.get("/steward/{token}/door", name="console.steward_door")
async def steward_door(request: web.Request) -> web.StreamResponse:
    return await _show(request, await _steward_door(request))


@routes.post("/steward/{token}/door/here", name="console.steward_door_here")
async def steward_here(request: web.Request) -> web.StreamResponse:
    return await _here(request, await _steward_door(request))


@routes.post("/steward/{token}/door/walk-in", name="console.steward_walk_in")
async def steward_walk_in(request: web.Request) -> web.StreamResponse:
    return await _walk_in(request, await _steward_door(request))


# -- a signed-in organiser ------------------------------------------------------------------


@routes.get("/actions/{slug}/door", name="console.action_door")
@signed_in
@_organisers
async def organiser_door(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _show(request, await _organiser_door(request, viewer))


@routes.post("/actions/{slug}/door/here", name="console.action_door_here")
@signed_in
@_organisers
async def organiser_here(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _here(request, await _organiser_door(request, viewer))


@routes.post("/actions/{slug}/door/walk-in", name="console.action_walk_in")
@signed_in
@_organisers
async def organiser_walk_in(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _walk_in(request, await _organiser_door(request, viewer))


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
