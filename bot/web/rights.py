"""People's data rights in the console, for organisers only (a leader gets a 403 page):

* ``/audit``: the audit log, filtered (action, door, person), newest first, a page at a time;
  ``/audit.csv`` the same as CSV (storage/export.py's writer), itself recorded.
* ``/people/{id}/export``: everything held about one person, one zip (storage/subject.py),
  recorded.
* ``/people/{id}/erase``: what erasing does, a confirmation, then storage/erase.py; recorded.
* ``/people/{id}/consent``: the consent history, the young-person mark, and recording an
  opt-in or opt-out the person gave an organiser (storage/consent.py).

The person's page (built elsewhere) links to the three ``/people/{id}/...`` pages. The rules
live in storage/; these handlers only ask and lay out.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import (
    ViewerHandler,
    add_nav,
    csv_download,
    download,
    error_page,
    organisers_only,
    render,
    see_other,
    signed_in,
)
from bot.web.viewer import Viewer
from config.messages import format_when
from config.phones import mask_phone
from storage import audit, consent, young
from storage.audit_export import audit_rows, write_audit_csv
from storage.erase import erase
from storage.models import AUDIT_VIA, Person
from storage.subject import gather, subject_of, write_zip
from storage.suppression import NoSuppressionSecret

routes = web.RouteTableDef()
PAGE = 50
MAX_ID = 10**18


_organisers = organisers_only(
    "Organisers only", "Only an organiser for the whole alliance can see this page."
)


def _id(raw: str) -> int | None:
    """A positive id, or None (anything else: a 400 page, never a 500)."""
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 else None


class BadFilter(ValueError):
    pass


def _filters(query: MultiMapping[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    action = query.get("action", "").strip()
    if action:
        if len(action) > 64 or not all(c.isalnum() or c == "_" for c in action):
            raise BadFilter("An action is a word like person_erased.")
        found["action"] = action
    via = query.get("via", "").strip()
    if via:
        if via not in AUDIT_VIA:
            raise BadFilter("Choose web, cli, telegram or sms.")
        found["via"] = via
    for name, key in (("person", "person_id"), ("before", "before_id")):
        raw = query.get(name, "").strip()
        if raw:
            value = _id(raw)
            if value is None:
                raise BadFilter(f"{name.capitalize()} must be a number.")
            found[key] = value
    return found


def _audit_filters(request: web.Request) -> dict[str, Any] | web.Response:
    """The audit log's filters, or a 400 page refusing them."""
    try:
        return _filters(request.query)
    except BadFilter as exc:
        return error_page(request, 400, "That filter is not right", str(exc))


@routes.get("/audit", name="console.audit")
@signed_in
@_organisers
async def audit_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    filters = _audit_filters(request)
    if isinstance(filters, web.Response):
        return filters
    async with request.app[DB].session() as session:
        rows = await audit_rows(session, limit=PAGE + 1, **filters)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    for row in rows:
        row["when"] = row["at"][:16].replace("T", " ") + " UTC"
    kept = {k: v for k, v in request.query.items() if k in ("action", "via", "person") and v}
    older = None
    if more:
        older = "/audit?" + "&".join(
            f"{k}={v}" for k, v in {**kept, "before": str(rows[-1]["id"])}.items()
        )
    csv_link = "/audit.csv" + ("?" + "&".join(f"{k}={v}" for k, v in kept.items()) if kept else "")
    return render(
        request,
        "audit.html",
        {
            "title": "Audit log",
            "rows": rows,
            "filters": kept,
            "doors": AUDIT_VIA,
            "older": older,
            "csv_link": csv_link,
        },
    )


@routes.get("/audit.csv", name="console.audit_csv")
@signed_in
@_organisers
async def audit_csv(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    filters = _audit_filters(request)
    if isinstance(filters, web.Response):
        return filters
    filters.pop("before_id", None)
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        rows = await audit_rows(session, limit=None, **filters)
        await audit.record(
            session,
            viewer.actor,
            "audit_exported",
            "audit_log",
            None,
            at=now,
            details={"rows": len(rows)},
        )
    out = io.StringIO(newline="")
    write_audit_csv(out, rows)
    return csv_download(out.getvalue(), f"audit-{now:%Y%m%d}.csv")


PersonHandler = Callable[[web.Request, Viewer, Person], Awaitable[web.StreamResponse]]


def _for_person(handler: PersonHandler) -> ViewerHandler:
    """Organisers only; the person the path names, or a 404 page."""

    @functools.wraps(handler)
    async def loaded(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        person_id = _id(request.match_info["id"])
        async with request.app[DB].session() as session:
            person = await session.get(Person, person_id) if person_id is not None else None
        if person is None:
            return error_page(request, 404, "Nobody here", "There is no person with that number.")
        return await handler(request, viewer, person)

    return _organisers(loaded)


def _label(person: Person) -> str:
    if person.erased_at is not None:
        return f"Erased person #{person.id}"
    return person.name.strip() or f"Person #{person.id}"


def _common(request: web.Request, person: Person) -> dict[str, Any]:
    now = request.app[CLOCK].now()
    return {
        "person": person,
        "who": _label(person),
        "phone": mask_phone(person.phone),
        "young": young.describe(person, now),
    }


PERSON = r"/people/{id:[^/]{1,40}}"


@routes.get(PERSON + "/export", name="console.person_export")
@signed_in
@_for_person
async def export_page(request: web.Request, viewer: Viewer, person: Person) -> web.StreamResponse:
    return render(
        request,
        "person_export.html",
        {"title": "Export " + _label(person), **_common(request, person)},
    )


@routes.post(PERSON + "/export", name="console.person_export_zip")
@signed_in
@_for_person
async def export_zip(request: web.Request, viewer: Viewer, person: Person) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        data = await gather(session, subject_of(person))
        await audit.record(
            session,
            viewer.actor,
            "person_exported",
            "person",
            person.id,
            at=now,
            details={"tables": len(data)},
        )
    out = io.BytesIO()
    write_zip(data, out, at=now)
    return download(out.getvalue(), f"person-{person.id}.zip", "application/zip")


@routes.get(PERSON + "/erase", name="console.person_erase")
@signed_in
@_for_person
async def erase_page(request: web.Request, viewer: Viewer, person: Person) -> web.StreamResponse:
    return render(
        request,
        "person_erase.html",
        {"title": "Erase " + _label(person), "errors": {}, **_common(request, person)},
    )


@routes.post(PERSON + "/erase", name="console.person_erase_confirm")
@signed_in
@_for_person
async def erase_confirm(request: web.Request, viewer: Viewer, person: Person) -> web.StreamResponse:
    form = await request.post()
    if form.get("confirm") != "erase":
        return render(
            request,
            "person_erase.html",
            {
                "title": "Erase " + _label(person),
                "errors": {"confirm": "Tick the box to confirm you want to erase them"},
                **_common(request, person),
            },
            status=400,
        )
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    try:
        async with request.app[DB].session() as session:
            row = await session.get_one(Person, person.id)
            report = await erase(
                session,
                row,
                secret=settings.suppression_secret,
                region=settings.default_region,
                now=now,
            )
            if not report.already:
                await audit.record(
                    session,
                    viewer.actor,
                    "person_erased",
                    "person",
                    person.id,
                    at=now,
                    details={"cancelled": report.cancelled},
                )
    except NoSuppressionSecret:
        return error_page(
            request,
            409,
            "Erasing is not set up",
            "The server needs TURNOUT_SUPPRESSION_SECRET before anyone can be erased, so that "
            "an import never brings them back. Nothing was changed.",
        )
    raise see_other(f"/people/{person.id}/consent?erased=1")


def _when(request: web.Request, moment: datetime) -> str:
    return format_when(moment, "en", request.app[SETTINGS].default_timezone)


SOURCE_NAMES = {
    "texted_in": "Texted us",
    "import": "Imported",
    "stop_word": "Texted STOP",
    "start_word": "Texted START",
    "carrier": "Unsubscribed at the carrier (21610)",
    "organiser": "Told an organiser",
    "telegram": "Linked Telegram",
    "face_to_face": "Met face to face (not asked)",
    "door": "Agreed at the door",
    "erased": "Erased",
    "backfill": "When history began",
}


async def _consent_page(
    request: web.Request, person: Person, *, errors: dict[str, str], status: int = 200
) -> web.Response:
    async with request.app[DB].session() as session:
        events = await consent.history(session, person.id)
    return render(
        request,
        "person_consent.html",
        {
            "title": "Consent: " + _label(person),
            "errors": errors,
            "erased": request.query.get("erased") == "1",
            "recorded": request.query.get("recorded") == "1",
            "events": [
                {
                    "when": _when(request, e.at),
                    "state": "Opted in"
                    if e.state == "opted_in"
                    else "Opted out"
                    if e.state == "opted_out"
                    else "Unknown",
                    "source": SOURCE_NAMES.get(e.source, e.source),
                    "channel": e.channel or "",
                    "words": e.words or "",
                }
                for e in reversed(events)
            ],
            **_common(request, person),
        },
        status=status,
    )


@routes.get(PERSON + "/consent", name="console.person_consent")
@signed_in
@_for_person
async def consent_page(request: web.Request, viewer: Viewer, person: Person) -> web.StreamResponse:
    return await _consent_page(request, person, errors={})


@routes.post(PERSON + "/consent", name="console.person_consent_record")
@signed_in
@_for_person
async def consent_record(
    request: web.Request, viewer: Viewer, person: Person
) -> web.StreamResponse:
    form = await request.post()
    state = form.get("state")
    if state not in ("opted_in", "opted_out") or person.erased_at is not None:
        message = "Choose opted in or opted out" if person.erased_at is None else "They were erased"
        return await _consent_page(request, person, errors={"state": message}, status=400)
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        row = await session.get_one(Person, person.id)
        changed = consent.change(
            session, row, str(state), source="organiser", channel="web", at=now
        )
        if changed:
            await audit.record(
                session,
                viewer.actor,
                "consent_recorded",
                "person",
                person.id,
                at=now,
                details={"state": str(state)},
            )
    raise see_other(f"/people/{person.id}/consent?recorded=1")


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_nav(app, "Audit", "console.audit", 80, organiser_only=True)
