"""People (``/people``): search by name (and number, for organisers), filters (institution,
language, consent, reply state for an action), a page at a time; a person's page with their
whole timeline (storage/timeline.py); editing their name, language and institutions through
scheduler/people.py; the CSV export of the list through storage/export.py.

A leader sees only the people of the institutions they lead and never a phone number: the
viewer's roles filter every query (storage.roles.sees), and a person outside them is "not
found", exactly like one who does not exist. Edits, exports and timeline reads are audited.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import add_nav, csv_download, render, see_other, signed_in, url
from bot.web.params import (
    BadInput,
    bad_request,
    choice,
    hide_phones_for,
    not_found,
    number,
    numbers,
    refuses_bad_input,
    row_id,
    text,
)
from bot.web.viewer import Viewer
from config.messages import format_when
from config.settings import LANGUAGES
from scheduler.people import PersonEdit, PersonEditError, edit_person
from storage import young
from storage.audit import record
from storage.directory import (
    CONSENT_LABELS,
    REPLY_LABELS,
    REPLY_STATES,
    PeopleQuery,
    action_choices,
    all_people,
    search_people,
    visible_person,
)
from storage.export import CsvExport
from storage.models import CONSENT_STATES, InboundMessage, Institution, Membership
from storage.roles import institutions_led
from storage.timeline import timeline

routes = web.RouteTableDef()

LANGUAGE_NAMES = {"en": "English", "cy": "Welsh", "pl": "Polish"}
TIMELINE_LIMIT = 200


def _query(params: Any) -> PeopleQuery:
    action_id = number(params, "action")
    reply = choice(params, "reply", REPLY_STATES)
    if reply is not None and action_id is None:
        raise BadInput("a reply state needs an action")
    return PeopleQuery(
        text=text(params, "q", limit=200),
        institution_id=number(params, "institution"),
        language=choice(params, "language", LANGUAGES),
        consent=choice(params, "consent", CONSENT_STATES),
        action_id=action_id,
        reply=reply,
    )


def _filters(query: PeopleQuery) -> dict[str, str]:
    """The query as URL parameters (paging and export links keep the filters)."""
    values = {
        "q": query.text,
        "institution": "" if query.institution_id is None else str(query.institution_id),
        "language": query.language or "",
        "consent": query.consent or "",
        "action": "" if query.action_id is None else str(query.action_id),
        "reply": query.reply or "",
    }
    return {k: v for k, v in values.items() if v}


@routes.get("/people", name="console.people")
@signed_in
@refuses_bad_input
async def people_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    query = _query(request.query)
    page_number = number(request.query, "page") or 1
    async with request.app[DB].session() as session:
        institutions = await institutions_led(session, viewer.roles)
        if query.institution_id is not None and query.institution_id not in {
            i.id for i in institutions
        }:
            return bad_request(request, BadInput("that institution is not one you can see"))
        actions = await action_choices(session)
        page = await search_people(session, viewer.roles, query, page=page_number)
    filters = _filters(query)

    def page_link(n: int) -> str:
        return str(request.rel_url.with_path("/people").with_query({**filters, "page": str(n)}))

    return render(
        request,
        "people.html",
        {
            "title": "People",
            "query": query,
            "page": page,
            "institution_options": [(i.id, i.name) for i in institutions],
            "actions": actions,
            "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES],
            "consents": list(CONSENT_LABELS.items()),
            "replies": list(REPLY_LABELS.items()),
            "phones": viewer.roles.organiser,
            "filtered": bool(filters),
            "previous": page_link(page.page - 1) if page.page > 1 else None,
            "next": page_link(page.page + 1) if page.page < page.pages else None,
            "export": str(request.rel_url.with_path("/people/export.csv").with_query(filters)),
        },
    )


@routes.get("/people/export.csv", name="console.people_export")
@signed_in
@refuses_bad_input
async def people_export(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    query = _query(request.query)
    phones = viewer.roles.organiser
    out = io.StringIO(newline="")
    header = ["name", *(["phone"] if phones else []), "language", "consent", "institutions"]
    if query.action_id is not None:
        header.append("reply")
    export = CsvExport(out, header)
    async with request.app[DB].session() as session:
        async for row in all_people(session, viewer.roles, query):
            values: list[object] = [row.name]
            if phones:
                values.append(row.phone or "")
            values += [row.language, row.consent, "; ".join(row.institutions)]
            if query.action_id is not None:
                values.append(row.reply or "")
            export.row(values)
        await record(
            session,
            viewer.actor,
            "people_exported",
            "person",
            None,
            at=request.app[CLOCK].now(),
            details={"rows": export.rows, "phones": phones, "filters": sorted(_filters(query))},
        )
    return csv_download(out.getvalue(), "people.csv")


def _person_id(request: web.Request) -> int:
    return row_id(request)


@routes.get(r"/people/{id:\d{1,18}}", name="console.person")
@signed_in
async def person_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    zone = request.app[SETTINGS].default_timezone
    async with request.app[DB].session() as session:
        person = await visible_person(session, viewer.roles, _person_id(request))
        if person is None:
            return not_found(request)
        hide = hide_phones_for(viewer, request.app[SETTINGS].default_region)
        events = [
            replace(e, text=hide(e.text), detail=hide(e.detail))
            for e in await timeline(session, person.id, limit=TIMELINE_LIMIT)
        ]
        memberships = (
            await session.execute(
                select(Institution.name, Membership.role)
                .join(Institution, Institution.id == Membership.institution_id)
                .where(Membership.person_id == person.id)
                .order_by(Institution.name)
            )
        ).all()
        inbox = (
            await session.execute(
                select(func.count(), func.max(InboundMessage.id))
                .where(InboundMessage.person_id == person.id)
                .where(InboundMessage.inbox_status == "open")
            )
        ).one()
        await record(
            session,
            viewer.actor,
            "person_viewed",
            "person",
            person.id,
            at=now,
            details={"events": len(events)},
        )
    return render(
        request,
        "people_person.html",
        {
            "title": person.name or "A person",
            "person": person,
            "phone": person.phone if viewer.roles.organiser else None,
            "language": LANGUAGE_NAMES.get(person.language, person.language),
            "consent": CONSENT_LABELS.get(person.consent, person.consent),
            "memberships": [{"name": name, "role": role} for name, role in memberships],
            "events": [{"when": format_when(e.at, "en", zone), "event": e} for e in events],
            "limit": TIMELINE_LIMIT,
            "inbox": {"open": inbox[0], "latest": inbox[1]} if inbox[0] else None,
            "saved": "saved" in request.query,
            "young": young.describe(person, now),
            "organiser": viewer.roles.organiser,
        },
    )


async def _edit_context(
    request: web.Request, viewer: Viewer, person_id: int
) -> dict[str, Any] | None:
    async with request.app[DB].session() as session:
        person = await visible_person(session, viewer.roles, person_id)
        if person is None:
            return None
        choices = await institutions_led(session, viewer.roles)
        held = set(
            await session.scalars(
                select(Membership.institution_id).where(Membership.person_id == person.id)
            )
        )
    return {
        "title": f"Edit {person.name or 'a person'}",
        "person": person,
        "name": person.name,
        "language": person.language,
        "chosen": held,
        "institutions": choices,
        "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES],
        "errors": {},
    }


@routes.get(r"/people/{id:\d{1,18}}/edit", name="console.person_edit")
@signed_in
async def edit_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    context = await _edit_context(request, viewer, _person_id(request))
    if context is None:
        return not_found(request)
    return render(request, "people_edit.html", context)


@routes.post(r"/people/{id:\d{1,18}}/edit", name="console.person_save")
@signed_in
@refuses_bad_input
async def edit_save(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    person_id = _person_id(request)
    form = await request.post()
    name = text(form, "name", limit=1000)
    language = text(form, "language", limit=16)
    chosen = numbers(form.getall("institution", []), "institution")
    edit = PersonEdit(name, language, chosen)
    async with request.app[DB].session() as session:
        person = await visible_person(session, viewer.roles, person_id)
        if person is None:
            return not_found(request)
        try:
            await edit_person(
                session,
                person,
                edit,
                editable=viewer.scope,
                actor=viewer.actor,
                now=request.app[CLOCK].now(),
            )
        except PersonEditError as problem:
            errors = problem.errors
        else:
            errors = {}
    if not errors:
        raise see_other(url(request, "console.person", id=str(person_id)) + "?saved")
    context = await _edit_context(request, viewer, person_id)
    if context is None:
        return not_found(request)
    context.update(name=name, language=language, chosen=chosen, errors=errors)
    return render(request, "people_edit.html", context, status=400)


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_nav(app, "People", "console.people", 30)
