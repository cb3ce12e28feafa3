"""The roll-call board and the steward's roll call (issue 11, part A).

* ``/board/TOKEN``: for a projector or a phone, no account: "arrived N of target T" large; per
  institution pledged, confirmed and arrived (storage.counters.counted_rollup: the rollup's own
  definitions, read from a few counter rows) with the share of the pledge as a bar and in
  text; the institutions not arrived yet; the no-institution row; the time of the last update.
  Counts only: never a name of a person, never a number. Live through the hub (topic
  ``board:LINK``): every board on one link shares one poller, a board that reconnects gets the
  whole state at once. ``/board/TOKEN/results``: the printable results.
* ``/steward/TOKEN``: the steward's phone: next / previous move the roll call's highlight
  (stored on the action: storage/board.py), which every board shows large.
* ``/actions/SLUG/board``: organisers make and revoke the links.

Capability pages are console routes, so the console's guard covers them: security headers,
and every form checked for Origin and a CSRF token (a steward has no session: the anonymous
double-submit token). A token that is malformed, unknown, revoked or expired is a 404, all
alike. Door check-in is bot/web/door.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.keys import HUB
from bot.web.live import Feed, Scope, stream
from bot.web.pages import action_or_404, error_page, organisers_only, render, see_other, signed_in
from bot.web.viewer import Viewer
from config.messages import format_when
from config.settings import Settings
from storage import audit, board, counters, links
from storage.models import Action, BoardState, CapabilityLink
from storage.rollup import RollupRow

FRAGMENT = "board_live.html"
BOARD_KINDS = ("board", "steward")
KIND_LABELS = {"board": "Board (projector, read only)", "steward": "Steward (roll call, door)"}

routes = web.RouteTableDef()


# -- what a board shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    bucket: int  # the institution's id; 0 for the people in no institution
    name: str
    pledged: int | None
    confirmed: int
    arrived: int
    share: int | None  # arrived as a percentage of the pledge
    bar: float  # the drawing: the share, at most 100

    @property
    def share_text(self) -> str:
        return "no pledge" if self.share is None else f"{self.share}% of pledge"


@dataclass
class BoardView:
    slug: str
    title: str
    when: str
    arrived: int
    target: int | None
    target_label: str  # "target" or "pledged"
    confirmed: int
    rows: list[BoardRow]
    loose: BoardRow
    waiting: list[str]  # institutions nobody has arrived from yet
    highlight: BoardRow | None
    as_of: str


def _board_row(row: RollupRow, bucket: int) -> BoardRow:
    pledged = row.committed
    share = None if not pledged else round(100 * row.arrived / pledged)
    return BoardRow(
        bucket=bucket,
        name=row.institution,
        pledged=pledged,
        confirmed=row.confirmed,
        arrived=row.arrived,
        share=share,
        bar=float(min(share or 0, 100)),
    )


def _local(at: datetime | None, settings: Settings) -> str:
    if at is None:
        return "no change yet"
    return at.astimezone(ZoneInfo(settings.default_timezone)).strftime("%H:%M:%S")


async def board_view(
    session: AsyncSession, action: Action, settings: Settings, now: datetime
) -> BoardView:
    rollup = await counters.counted_rollup(session, action)
    rows = [_board_row(r, r.institution_id or 0) for r in rollup.rows]
    loose = _board_row(rollup.no_institution, counters.NONE)
    state = await session.get(BoardState, action.id, populate_existing=True)
    lit = None if state is None else state.highlight
    changed = [t for t in (await counters.last_update(session, action.id),) if t is not None]
    if state is not None:
        changed.append(state.updated_at)
    pledged = rollup.totals.committed or 0
    return BoardView(
        slug=action.slug,
        title=action.title,
        when=format_when(action.starts_at, settings.default_language, settings.default_timezone),
        arrived=rollup.totals.arrived,
        target=action.target or (pledged or None),
        target_label="target" if action.target else "pledged",
        confirmed=rollup.totals.confirmed,
        rows=rows,
        loose=loose,
        waiting=[r.name for r in rows if r.arrived == 0],
        highlight=next((r for r in [*rows, loose] if r.bucket == lit), None),
        as_of=_local(max(changed) if changed else None, settings),
    )


async def _open(request: web.Request, kinds: tuple[str, ...]) -> tuple[CapabilityLink, Action]:
    """The live link the token in the path opens, and its action; else a 404 (all alike)."""
    app = request.app
    async with app[DB].session() as session:
        link = await links.open_link(session, request.match_info["token"], kinds, app[CLOCK].now())
        action = None if link is None else await session.get(Action, link.action_id)
    if link is None or action is None:
        raise web.HTTPNotFound()
    return link, action


async def _board_context(app: web.Application, link_id: int) -> dict[str, Any]:
    settings, now = app[SETTINGS], app[CLOCK].now()
    async with app[DB].session() as session:
        link = await session.get(CapabilityLink, link_id)
        action = None if link is None else await session.get(Action, link.action_id)
        if link is None or action is None or not links.is_live(link, now):
            return {"board": None}
        return {"board": await board_view(session, action, settings, now)}


# -- the board ------------------------------------------------------------------------------


@routes.get("/board/{token}", name="console.board")
async def board_page(request: web.Request) -> web.StreamResponse:
    link, action = await _open(request, BOARD_KINDS)
    context = await _board_context(request.app, link.id)
    token = request.match_info["token"]
    return render(
        request,
        "board.html",
        {"title": f"{action.title}: who came", "token": token, **context},
    )


@routes.get("/board/{token}/live", name="console.board_live")
async def board_live(request: web.Request) -> web.StreamResponse:
    link, _action = await _open(request, BOARD_KINDS)
    return await stream(request, request.app[HUB], f"board:{link.id}", None)


@routes.get("/board/{token}/results", name="console.board_results")
async def board_results(request: web.Request) -> web.StreamResponse:
    link, action = await _open(request, BOARD_KINDS)
    context = await _board_context(request.app, link.id)
    return render(request, "board_results.html", {"title": f"{action.title}: results", **context})


# -- the steward's roll call ----------------------------------------------------------------


def steward_actor(link: CapabilityLink) -> audit.Actor:
    label = f"steward link #{link.id}" + (f" ({link.label})" if link.label else "")
    return audit.Actor("web", label[:200])


@routes.get("/steward/{token}", name="console.steward")
async def steward_page(request: web.Request) -> web.StreamResponse:
    link, action = await _open(request, ("steward",))
    context = await _board_context(request.app, link.id)
    return render(
        request,
        "board_steward.html",
        {"title": f"{action.title}: roll call", "token": request.match_info["token"], **context},
    )


@routes.post("/steward/{token}/move", name="console.steward_move")
async def steward_move(request: web.Request) -> web.StreamResponse:
    link, action = await _open(request, ("steward",))
    step = (await request.post()).get("step", "")
    if step not in board.STEPS:
        return error_page(
            request, 400, "Choose next or previous", "Nothing moved. Go back and tap a button."
        )
    app = request.app
    now = app[CLOCK].now()
    async with app[DB].session() as session:
        place = await board.move(session, action.id, str(step), now)
        await audit.record(
            session,
            steward_actor(link),
            "roll_call_moved",
            "action",
            action.id,
            at=now,
            details={"step": str(step), "bucket": place},
        )
    app[HUB].poke()
    raise see_other(
        str(request.app.router["console.steward"].url_for(token=request.match_info["token"]))
    )


# -- the organiser's links ------------------------------------------------------------------


_organisers = organisers_only(
    "Only organisers can do this",
    "Board and steward links show the whole alliance's numbers, so only an organiser "
    "can make or revoke them.",
)


async def _links_page(
    request: web.Request, action: Action, *, made: tuple[CapabilityLink, str] | None = None
) -> web.Response:
    async with request.app[DB].session() as session:
        found = await links.links_for(session, action.id, BOARD_KINDS)
    now = request.app[CLOCK].now()
    base = request.app[SETTINGS].public_url.rstrip("/")
    zone = ZoneInfo(request.app[SETTINGS].default_timezone)
    new_link = None
    if made is not None:
        link, token = made
        path = "board" if link.kind == "board" else "steward"
        new_link = {"kind": KIND_LABELS[link.kind], "url": f"{base}/{path}/{token}"}
    return render(
        request,
        "board_links.html",
        {
            "title": f"{action.title}: board and steward links",
            "action": action,
            "links": [
                {
                    "id": link.id,
                    "kind": KIND_LABELS[link.kind],
                    "label": link.label,
                    "live": links.is_live(link, now),
                    "made": link.created_at.astimezone(zone).strftime("%a %d %b, %H:%M"),
                }
                for link in found
            ],
            "new_link": new_link,
            "kinds": KIND_LABELS,
        },
        status=201 if made is not None else 200,
    )


@routes.get("/actions/{slug}/board", name="console.action_board")
@signed_in
@_organisers
async def action_board(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    return await _links_page(request, action)


@routes.post("/actions/{slug}/board/links", name="console.action_board_create")
@signed_in
@_organisers
async def create_link(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    form = await request.post()
    kind, label = form.get("kind", ""), form.get("label", "")
    if kind not in BOARD_KINDS or not isinstance(label, str) or len(label) > 100:
        return error_page(
            request,
            400,
            "Choose the kind of link",
            "Nothing was made. Choose a board or a steward link (a label of at most 100 "
            "characters is optional), and try again.",
        )
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        link, token = await links.create_link(
            session,
            kind=str(kind),
            action_id=action.id,
            now=now,
            created_by_id=viewer.person_id,
            label=label,
        )
        await audit.record(
            session,
            viewer.actor,
            "board_link_created",
            "capability_link",
            link.id,
            at=now,
            details={"kind": link.kind, "action": action.slug},
        )
    return await _links_page(request, action, made=(link, token))


@routes.post(
    "/actions/{slug}/board/links/{link_id:\\d{1,9}}/revoke", name="console.action_board_revoke"
)
@signed_in
@_organisers
async def revoke_link(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        link = await links.revoke_link(
            session, int(request.match_info["link_id"]), now, action_id=action.id
        )
        if link is None or link.kind not in BOARD_KINDS:
            raise web.HTTPNotFound()
        await audit.record(
            session,
            viewer.actor,
            "board_link_revoked",
            "capability_link",
            link.id,
            at=now,
            details={"kind": link.kind, "action": action.slug},
        )
    request.app[HUB].poke()
    raise see_other(str(request.app.router["console.action_board"].url_for(slug=action.slug)))


def install(app: web.Application) -> None:
    app.router.add_routes(routes)

    async def version(argument: str) -> object:
        async with app[DB].session() as session:
            return await board.board_version(session, int(argument))

    async def snapshot(argument: str, _scope: Scope) -> str:
        context = await _board_context(app, int(argument))
        html = aiohttp_jinja2.get_env(app).get_template(FRAGMENT).render(context)
        # One line: an event is sent as "data: <line>" per line, to every open board, so a
        # fragment of 150 lines cost 150 writes per board per change (the bench: 500 boards).
        return " ".join(line.strip() for line in html.splitlines() if line.strip())

    app[HUB].add_feed("board", Feed(version, snapshot))
