"""Today (``/``): each upcoming action (and one just finished) with committed, confirmed and
attended per institution as bars with numbers, the gap, the change since yesterday and the
institutions gone quiet; the open inbox and the failed sends. Every number comes from
scheduler.digest.build.build_digest (and so the rollup's definitions): this page only lays
them out. A leader's page is built with their institutions only.

The numbers live in one fragment (``_today_numbers.html``) that the page includes and the live
hub re-renders for ``/live/today`` (topic ``today:``): with JavaScript the page updates itself;
without, it has a link that reloads it.

The rollups come from the live counters (``build_digest(counted=True)``, storage/counters.py),
not from grouping every RSVP of every upcoming action on each load: the same numbers, read
from a few rows per action (see docs/benchmarks.md, "Console pages")."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.keys import HUB
from bot.web.live import Feed, Scope, stream
from bot.web.pages import add_nav, render, signed_in
from bot.web.viewer import Viewer
from config.messages import format_when
from config.settings import Settings
from scheduler.digest.build import Digest, DigestAction, build_digest
from storage.db import Database
from storage.live import numbers_version
from storage.rollup import RollupRow

TOPIC = "today:"
FRAGMENT = "_today_numbers.html"
# The numbers fragment last rendered for each scope, with what it was rendered for: the
# numbers' version (storage.live.numbers_version) and the minute (times move the quiet
# institutions, the "as of" and the last 24 hours; a change the version does not see, such
# as an institution renamed, shows within the minute).
Rendered = tuple[tuple[Hashable, datetime], str]
CACHE = web.AppKey("console_today_cache", dict[Scope, Rendered])

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Bar:
    label: str
    value: str  # the number, or "none" (no commitment)
    percent: float  # of the widest bar in its group, for the drawing only


@dataclass
class Row:
    """One institution (or the total) as the page shows it."""

    name: str
    bars: list[Bar]
    gap: str
    behind: bool  # short of its commitment
    change: str
    quiet: bool
    replies: str  # maybe / no / not replied
    headcount: int | None


@dataclass
class ActionView:
    id: int
    title: str
    slug: str
    when: str
    place: str
    started: bool
    total: Row
    rows: list[Row] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)
    idle_days: int = 0


def _gap(row: RollupRow) -> str:
    gap = row.gap
    if gap is None:
        return "No commitment yet"
    if gap > 0:
        return f"{gap} short of the commitment"
    if gap == 0:
        return "Commitment met"
    return f"Commitment met, {-gap} over"


def _change(change: int | None, since: date | None) -> str:
    if change is None or since is None:
        return ""
    day = f"{since:%a} {since.day} {since:%b}"
    return f"No change since {day}" if change == 0 else f"{change:+d} since {day}"


def _row(item: DigestAction, row: RollupRow, scale: int, quiet: bool) -> Row:
    values = [("Committed", row.committed), ("Confirmed", row.confirmed)]
    values.append(("Attended", row.attended))
    return Row(
        name=row.institution,
        bars=[
            Bar(
                label, "none" if value is None else str(value), round(100 * (value or 0) / scale, 1)
            )
            for label, value in values
        ],
        gap=_gap(row),
        behind=row.gap is not None and row.gap > 0,
        change=_change(item.change_for(row), item.since),
        quiet=quiet,
        replies=f"Maybe {row.maybe}, no {row.no}, not replied {row.not_replied}",
        headcount=row.headcount,
    )


def _scale(rows: list[RollupRow]) -> int:
    return max([1, *(max(r.committed or 0, r.confirmed, r.attended) for r in rows)])


def action_view(item: DigestAction, digest: Digest, scope: Scope) -> ActionView:
    rows = item.shown_rows()
    if scope is None and item.rollup.no_institution.invited:
        rows = [*rows, item.rollup.no_institution]
    quiet = {r.institution_id for r in item.idle}
    scale = _scale(rows)
    action = item.action
    return ActionView(
        id=action.id,
        title=action.title,
        slug=action.slug,
        when=format_when(action.starts_at, "en", digest.timezone),
        place=action.place,
        started=item.started,
        total=_row(item, item.rollup.totals, _scale([item.rollup.totals]), False),
        rows=[
            _row(item, r, scale, r.institution_id is not None and r.institution_id in quiet)
            for r in rows
        ],
        quiet=[r.institution for r in item.idle],
        idle_days=digest.idle_days,
    )


async def today_context(
    db: Database, settings: Settings, now: datetime, scope: Scope
) -> dict[str, Any]:
    async with db.session() as session:
        digest = await build_digest(session, settings, now, institution_ids=scope, counted=True)
    local = now.astimezone(ZoneInfo(settings.default_timezone))
    return {
        "digest": digest,
        "actions": [action_view(item, digest, scope) for item in digest.actions],
        "as_of": local.strftime("%H:%M"),
        "day": f"{local:%A} {local.day} {local:%B %Y}",
        "leader": scope is not None,
    }


def render_numbers(app: web.Application, context: dict[str, Any]) -> str:
    return aiohttp_jinja2.get_env(app).get_template(FRAGMENT).render(context)


async def numbers_html(app: web.Application, now: datetime, scope: Scope) -> str:
    """The numbers fragment for ``scope``: rendered again only when the numbers' version or
    the minute has changed since the last time (one cheap query otherwise)."""
    async with app[DB].session() as session:
        key = (await numbers_version(session, now), now.replace(second=0, microsecond=0))
    cache = app[CACHE]
    cached = cache.get(scope)
    if cached is not None and cached[0] == key:
        return cached[1]
    html = render_numbers(app, await today_context(app[DB], app[SETTINGS], now, scope))
    cache[scope] = (key, html)
    return html


@routes.get("/", name="console.today")
@signed_in
async def today(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    now = app[CLOCK].now()
    local = now.astimezone(ZoneInfo(app[SETTINGS].default_timezone))
    numbers = await numbers_html(app, now, viewer.scope)
    return render(
        request,
        "today.html",
        {
            "title": "Today",
            "numbers": Markup(numbers),  # noqa: S704 (rendered by the autoescaping template)
            "day": f"{local:%A} {local.day} {local:%B %Y}",
            "leader": viewer.scope is not None,
        },
    )


@routes.get("/live/today", name="console.live_today")
@signed_in
async def live_today(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await stream(request, request.app[HUB], TOPIC, viewer.scope)


def install(app: web.Application) -> None:
    app[CACHE] = {}
    app.router.add_routes(routes)
    add_nav(app, "Today", "console.today", 10)

    async def version(_argument: str) -> object:
        async with app[DB].session() as session:
            return await numbers_version(session, app[CLOCK].now())

    async def snapshot(_argument: str, scope: Scope) -> str:
        return await numbers_html(app, app[CLOCK].now(), scope)

    app[HUB].add_feed("today", Feed(version, snapshot))
