"""``/sending``: the outbox as a person would want to see it. Waiting (queued, and why:
quiet hours, a retry, the rate limit), sent, delivered, failed with the provider's error in
words, and not sent (and why); a queued message can be cancelled (scheduler/sending.py,
audited). Organisers see every row; a leader sees only their own people's, and nobody's
phone number. A sign-in code's text is never shown."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import add_nav, error_page, render, see_other, signed_in, url
from bot.web.params import parse_id
from bot.web.viewer import Viewer
from scheduler.sending import cancel_message, status_words
from storage import sending

SHOWN = 100
HIDDEN_TEMPLATES = frozenset({"signin_code"})
VIEW_WORDS = {
    "waiting": "Waiting",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Failed",
    "cancelled": "Not sent",
}
CHANNEL_WORDS = {"sms": "SMS", "telegram": "Telegram"}

routes = web.RouteTableDef()


@routes.get("/sending", name="console.sending")
@signed_in
async def sending_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    settings, now = app[SETTINGS], app[CLOCK].now()
    view = request.query.get("show", "waiting")
    if view not in sending.VIEWS:
        return error_page(request, 400, "Unknown list", "Pick one of the lists on the page.")
    async with app[DB].session() as session:
        found = await sending.rows(session, viewer.roles, view, limit=SHOWN)
        counts = await sending.counts(session, viewer.roles)
    zone = ZoneInfo(settings.default_timezone)
    items = []
    for row in found:
        m, person = row.message, row.person
        if person is not None:
            to = person.name.strip() or f"person #{person.id}"
        else:
            to = "A Telegram group" if m.channel == "telegram" else "Someone not on record"
        items.append(
            {
                "id": m.id,
                "to": to,
                "channel": CHANNEL_WORDS.get(m.channel, m.channel),
                "about": row.action_title or "",
                "text": "A sign-in code (not shown)"
                if m.template in HIDDEN_TEMPLATES
                else m.body[:320],
                "status": status_words(m, person, now, settings),
                "written": m.created_at.astimezone(zone).strftime("%d %b %H:%M"),
                "cancellable": m.status == "queued",
            }
        )
    return render(
        request,
        "sending.html",
        {
            "title": "Sending",
            "view": view,
            "views": [
                {"key": key, "label": label, "count": counts[key], "current": key == view}
                for key, label in VIEW_WORDS.items()
            ],
            "rows": items,
            "more": counts[view] > len(items),
            "shown": SHOWN,
            "done": request.query.get("done", ""),
            "leader": viewer.scope is not None,
        },
    )


@routes.post(r"/sending/{id:\d{1,18}}/cancel", name="console.sending_cancel")
@signed_in
async def cancel(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    message_id = parse_id(request.match_info["id"])
    if message_id is None:
        return error_page(request, 400, "No such message", "Pick a message from the list.")
    async with request.app[DB].session() as session:
        done = await cancel_message(
            session,
            message_id,
            roles=viewer.roles,
            actor=viewer.actor,
            now=request.app[CLOCK].now(),
        )
    outcome = "cancelled" if done else "gone"
    raise see_other(url(request, "console.sending") + f"?done={outcome}")


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_nav(app, "Sending", "console.sending", 70)
