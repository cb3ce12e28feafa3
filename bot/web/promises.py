"""Promises on the console: ``/promises`` lists the promises falling due
(as the digest does) and the actions; ``/actions/{slug}/promises`` records the asks put to
power-holders and their answers, marks each promise kept / broken / open with a note, exports
them as CSV (storage/export.py) and sends the report-back (with a preview count first). Leaders
may read both pages (what was promised in public is no secret); only organisers change
anything or send. Every rule is in scheduler/promises.py; every change is in the audit log."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import func, select

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import (
    action_or_404,
    add_nav,
    csv_download,
    error_page,
    organisers_only,
    render,
    see_other,
    signed_in,
)
from bot.web.viewer import Viewer
from config.messages import format_when
from scheduler import promises as use
from scheduler.actions import get_action
from storage.audit import Actor
from storage.models import ANSWERS, PROMISE_STATUSES, Action, Promise
from storage.promises import ANSWER_LABELS, due, due_line, promises_for, write_csv

routes = web.RouteTableDef()
SLUG = r"/actions/{slug:[a-z0-9-]{1,64}}"
FIELDS = ("holder_name", "holder_role", "holder_organisation", "ask", "answer", "words", "due_on")
DONE = {
    "added": "Ask recorded.",
    "marked": "Promise updated.",
}


_organisers = organisers_only(
    "Organisers only", "Only an organiser can record promises or report back."
)


def _today(request: web.Request) -> Any:
    zone = ZoneInfo(request.app[SETTINGS].default_timezone)
    return request.app[CLOCK].now().astimezone(zone).date()


@routes.get("/promises", name="console.promises")
@signed_in
async def promises_page(request: web.Request, _viewer: Viewer) -> web.StreamResponse:
    today = _today(request)
    zone = request.app[SETTINGS].default_timezone
    async with request.app[DB].session() as session:
        falling = [(due_line(p, a, today), a.slug) for p, a in await due(session, today)]
        counts = dict(
            (
                await session.execute(
                    select(Promise.action_id, func.count()).group_by(Promise.action_id)
                )
            ).all()
        )
        actions = list(
            await session.scalars(select(Action).order_by(Action.starts_at.desc()).limit(30))
        )
    return render(
        request,
        "promises.html",
        {
            "title": "Promises",
            "falling": falling,
            "actions": [
                {
                    "slug": a.slug,
                    "title": a.title,
                    "when": format_when(a.starts_at, "en", zone),
                    "promises": counts.get(a.id, 0),
                }
                for a in actions
            ],
        },
    )


async def _context(request: web.Request, action: Action, viewer: Viewer) -> dict[str, Any]:
    app = request.app
    now: datetime = app[CLOCK].now()
    started = action.starts_at <= now
    can_edit = viewer.scope is None
    async with app[DB].session() as session:
        rows = await promises_for(session, action.id)
        preview = None
        if started and can_edit:
            preview = await use.report_back(
                session,
                app[SETTINGS],
                action,
                actor=Actor.anonymous("web"),
                now=now,
                preview=True,
            )
    zone = app[SETTINGS].default_timezone
    return {
        "title": f"Promises: {action.title}",
        "action": action,
        "when": format_when(action.starts_at, "en", zone),
        "promises": rows,
        "answers": [(a, ANSWER_LABELS[a]) for a in ANSWERS],
        "labels": ANSWER_LABELS,
        "statuses": PROMISE_STATUSES,
        "started": started,
        "preview": preview,
        "can_edit": can_edit,
        "errors": {},
        "form": {},
    }


@routes.get(SLUG + "/promises", name="console.action_promises")
@signed_in
async def action_promises(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    context = await _context(request, await action_or_404(request), viewer)
    done = request.query.get("done", "")
    if done in DONE:
        context["notice"] = DONE[done]
    elif done == "sent" and request.query.get("n", "").isdigit():
        n = int(request.query["n"][:6])
        context["notice"] = f"Report-back queued for {n} {'person' if n == 1 else 'people'}."
    return render(request, "action_promises.html", context)


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


@routes.post(SLUG + "/promises", name="console.action_promises_add")
@signed_in
@_organisers
async def add_promise(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    form = await request.post()
    values = {name: _text(form, name) for name in FIELDS}
    errors: dict[str, str] = {}
    try:
        given = use.AskInput(
            values["holder_name"],
            values["ask"],
            values["holder_role"],
            values["holder_organisation"],
            values["answer"] or "will_respond",
            values["words"],
            use.parse_due(values["due_on"]),
        )
        async with request.app[DB].session() as session:
            await use.add(
                session,
                await get_action(session, action.slug),
                given,
                actor=viewer.actor,
                now=request.app[CLOCK].now(),
            )
    except use.PromiseError as exc:
        message = str(exc)
        field = (
            "due_on"
            if "date" in message
            else "holder_name"
            if "who was asked" in message
            else "ask"
            if "what they were asked" in message
            else "answer"
            if "answer" in message
            else "words"
        )
        errors[field] = message[0].upper() + message[1:]
    if errors:
        context = await _context(request, action, viewer)
        context.update(errors=errors, form=values)
        return render(request, "action_promises.html", context, status=400)
    raise see_other(f"/actions/{action.slug}/promises?done=added")


@routes.post(SLUG + r"/promises/{id:\d{1,18}}", name="console.action_promise_mark")
@signed_in
@_organisers
async def mark_promise(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    form = await request.post()
    try:
        async with request.app[DB].session() as session:
            promise = await use.get(session, int(request.match_info["id"]), action.id)
            await use.mark(
                session,
                promise,
                _text(form, "status"),
                note=_text(form, "note"),
                actor=viewer.actor,
                now=request.app[CLOCK].now(),
            )
    except use.PromiseError as exc:
        return error_page(request, 400, "Nothing was changed", str(exc).capitalize() + ".")
    raise see_other(f"/actions/{action.slug}/promises?done=marked")


@routes.get(SLUG + "/promises.csv", name="console.action_promises_csv")
@signed_in
async def export(request: web.Request, _viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    out = io.StringIO(newline="")
    async with request.app[DB].session() as session:
        write_csv(out, action, await promises_for(session, action.id))
    return csv_download(out.getvalue(), f"promises-{action.slug}.csv")


@routes.post(SLUG + "/report-back", name="console.action_report_back")
@signed_in
@_organisers
async def report_back(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    action = await action_or_404(request)
    try:
        async with request.app[DB].session() as session:
            report = await use.report_back(
                session,
                request.app[SETTINGS],
                await get_action(session, action.slug),
                actor=viewer.actor,
                now=request.app[CLOCK].now(),
            )
    except use.PromiseError as exc:
        return error_page(request, 400, "Nothing was sent", str(exc).capitalize() + ".")
    raise see_other(f"/actions/{action.slug}/promises?done=sent&n={report.queued}")


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_nav(app, "Promises", "console.promises", 60)
