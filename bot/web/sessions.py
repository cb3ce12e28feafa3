"""``/sessions``, "Your sessions": every device signed in as you, and signing one (or all the
others) out. A session is always the viewer's own: another person's id is simply not found."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web import auth
from bot.web.pages import render, see_other, signed_in, url
from bot.web.security import SESSION, clear_cookie
from bot.web.viewer import Viewer
from config.messages import format_when
from storage.console import live_sessions

routes = web.RouteTableDef()


@routes.get("/sessions", name="console.sessions")
@signed_in
async def sessions_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        rows = await live_sessions(session, viewer.person_id, now)
    tz = settings.default_timezone

    def when(moment: datetime) -> str:
        return format_when(moment, "en", tz)

    ended = request.query.get("ended", "")
    return render(
        request,
        "sessions.html",
        {
            "title": "Your sessions",
            "sessions": [
                {
                    "id": row.id,
                    "device": row.user_agent or "A browser",
                    "current": row.id == viewer.session_id,
                    "signed_in": when(row.created_at),
                    "last_seen": when(row.last_seen_at),
                    "expires": when(row.expires_at),
                    "method": "a code" if row.method == "code" else "a sign-in link",
                }
                for row in rows
            ],
            "ended": int(ended) if ended.isdigit() and len(ended) < 6 else None,
            "zone": ZoneInfo(tz).key,
        },
    )


@routes.post(r"/sessions/{id:\d{1,18}}/sign-out", name="console.session_sign_out")
@signed_in
async def sign_out_one(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    session_id = int(request.match_info["id"])
    async with request.app[DB].session() as session:
        ended = await auth.end_session(
            session, viewer.current, session_id, request.app[CLOCK].now()
        )
    if session_id == viewer.session_id:
        response = see_other(url(request, "console.sign_in") + "?signed-out")
        clear_cookie(response, request.app[SETTINGS], SESSION)
        raise response
    raise see_other(url(request, "console.sessions") + f"?ended={int(ended)}")


@routes.post("/sessions/sign-out-others", name="console.sessions_sign_out_others")
@signed_in
async def sign_out_others(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        count = await auth.end_other_sessions(session, viewer.current, request.app[CLOCK].now())
    raise see_other(url(request, "console.sessions") + f"?ended={count}")
