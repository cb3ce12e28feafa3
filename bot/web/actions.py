"""Actions in the console: the list (``/actions``), creating one (``/actions/new``), an
action's page (``/actions/{slug}``: details, the numbers per institution (live), the reminder
ladder with each step on or off, commitments, the attendee list by reply state), editing it,
rescheduling or cancelling it after a preview of the notice and how many people get it, and
the attendee list as CSV.

Every write goes through its use case (scheduler/actions.py, scheduler/reminders.py) and is
recorded in the audit log. Organisers may change an action; a leader sees the same pages
limited to their institutions and may set their own institutions' commitments.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.keys import HUB
from bot.web.live import Feed, Scope, stream
from bot.web.pages import (
    action_in_path,
    add_nav,
    csv_download,
    error_page,
    organisers_only,
    render,
    see_other,
    signed_in,
    url,
)
from bot.web.params import parse_id
from bot.web.viewer import Viewer
from config.messages import format_when
from config.messages import render as render_message
from config.settings import Settings
from scheduler import actions as use
from scheduler.invitations import rehearse
from scheduler.reminders import DEFAULT_LADDER, STEP_KINDS, ladder_for, reset_step, set_step
from storage import counters
from storage.actions import action_by_slug
from storage.attendees import REPLY_STATES, attendees, count_attendees
from storage.audit import record
from storage.db import Database
from storage.export import CsvExport
from storage.live import numbers_version
from storage.models import ACTION_KINDS, Action, Institution
from storage.rollup import Rollup, RollupRow

TOPIC = "action:"
FRAGMENT = "_action_numbers.html"
SLUG = r"{slug:[a-z0-9][a-z0-9-]{1,31}}"
RESERVED = frozenset({"new"})
SHOWN_ATTENDEES = 100
MAX_COMMITMENT = 100_000

KIND_WORDS = {
    "assembly": "Assembly",
    "action": "Action",
    "house_meeting": "House meeting",
    "training": "Training",
}
REPLY_WORDS = {
    "yes": "Yes",
    "maybe": "Maybe",
    "no": "No",
    "none": "Not replied",
    "attended": "Came (checked in)",
}
STEP_WORDS = {
    "still_coming": ("Still coming?", "to people who said yes or maybe"),
    "nudge": ("A nudge", "to people who have not replied"),
    "day_of": ("On the day", "time, place and what to bring, to people who said yes"),
    "did_you_make_it": ("Did you make it?", "to people who said yes and did not check in"),
    "thank_you": ("Thank you", "with the result, to everyone who came"),
}
DONE = {
    "created": "The action is created. Invite people when you are ready.",
    "edited": "Your changes are saved.",
    "unchanged": "Nothing was changed.",
    "rescheduled": "The action is moved, and the people coming are being told.",
    "cancelled": "The action is cancelled, and the people coming are being told.",
    "reminder": "The reminder is changed. It takes effect at the next planning run.",
    "commitment": "The commitment is saved.",
    "invited": "The invitations are queued.",
}

routes = web.RouteTableDef()


# -- shared helpers --------------------------------------------------------------------------


_organisers = organisers_only(
    "Only organisers can do this",
    "Changing an action is for the alliance's organisers. Ask one of them.",
)


def not_found(request: web.Request) -> web.Response:
    return error_page(request, 404, "No such action", "There is no action with that name.")


def _to_action(request: web.Request, slug: str, done: str) -> web.HTTPSeeOther:
    """Back to the action's page, saying what was done (``done``: the query and fragment)."""
    return see_other(url(request, "console.action", slug=slug) + done)


def when(moment: datetime, settings: Settings) -> str:
    return format_when(moment, "en", settings.default_timezone)


def local_input(moment: datetime, settings: Settings) -> str:
    """A moment as a ``datetime-local`` input shows it (the alliance's time zone)."""
    return moment.astimezone(ZoneInfo(settings.default_timezone)).strftime("%Y-%m-%dT%H:%M")


def parse_local(value: str, settings: Settings) -> datetime | None:
    """``2026-03-14T18:30`` (or with a space) in the alliance's time zone; None if unreadable."""
    text = value.strip().replace(" ", "T")
    if not text or len(text) > 25:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.default_timezone))
    return parsed


def parse_count(value: str, *, lo: int, hi: int) -> int | None:
    text = value.strip()
    if not text.isdigit() or len(text) > 7:
        return None
    number = int(text)
    return number if lo <= number <= hi else None


def done_notice(request: web.Request) -> str:
    return DONE.get(request.query.get("done", ""), "")


# -- the numbers: the same fragment on the page and in the live stream -------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    percent: float


def _bars(row: RollupRow, scale: int) -> list[Bar]:
    values = [("Committed", row.committed), ("Confirmed", row.confirmed)]
    values.append(("Attended", row.attended))
    return [
        Bar(label, "none" if v is None else str(v), round(100 * (v or 0) / scale, 1))
        for label, v in values
    ]


def _gap(row: RollupRow) -> str:
    gap = row.gap
    if gap is None:
        return "No commitment yet"
    if gap > 0:
        return f"{gap} short of the commitment"
    return "Commitment met" if gap == 0 else f"Commitment met, {-gap} over"


def _card(row: RollupRow, scale: int) -> dict[str, Any]:
    return {
        "name": row.institution,
        "bars": _bars(row, scale),
        "gap": _gap(row),
        "behind": row.gap is not None and row.gap > 0,
        "replies": (
            f"Yes {row.yes} (+{row.guests} guests), maybe {row.maybe}, no {row.no}, "
            f"not replied {row.not_replied}"
        ),
        "headcount": row.headcount,
    }


async def rollup_for(session: AsyncSession, action: Action, scope: Scope) -> Rollup:
    """The action's numbers from the live counters (storage/counters.py): the rollup's rows
    and definitions, read from a few rows instead of grouping every RSVP on each load."""
    if scope is None:
        return await counters.counted_rollup(session, action)
    return await counters.counted_scoped_rollup(session, action, scope)


async def numbers_context(session: AsyncSession, action: Action, scope: Scope) -> dict[str, Any]:
    rollup = await rollup_for(session, action, scope)
    rows = list(rollup.rows)
    if scope is None and rollup.no_institution.invited:
        rows.append(rollup.no_institution)
    scale = max([1, *(max(r.committed or 0, r.confirmed, r.attended) for r in rows)])
    total = rollup.totals
    return {
        "action_id": action.id,
        "leader": scope is not None,
        "total": _card(total, max(1, total.committed or 0, total.confirmed, total.attended)),
        "rows": [_card(r, scale) for r in rows],
        "target": action.target,
    }


# -- pages -----------------------------------------------------------------------------------


@routes.get("/actions", name="console.actions")
@signed_in
async def list_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    settings, now = request.app[SETTINGS], request.app[CLOCK].now()
    show_all = request.query.get("all") == "1"
    async with request.app[DB].session() as session:
        found = await use.list_actions(session, now=now, include_past=show_all)
    if show_all:
        found.sort(key=lambda a: a.starts_at, reverse=True)
    items = [
        {
            "slug": a.slug,
            "title": a.title,
            "kind": KIND_WORDS.get(a.kind, a.kind),
            "when": when(a.starts_at, settings),
            "place": a.place,
            "status": "Cancelled"
            if a.status == "cancelled"
            else ("Over" if a.ends_at <= now else ("Under way" if a.starts_at <= now else "")),
        }
        for a in found
    ]
    return render(
        request,
        "actions.html",
        {
            "title": "Actions",
            "actions": items,
            "show_all": show_all,
            "organiser": viewer.scope is None,
        },
    )


def _form_values(form: MultiDictProxy[Any] | dict[str, str]) -> dict[str, str]:
    names = ("slug", "title", "kind", "starts_at", "ends_at", "place", "bring", "target")
    return {name: str(form.get(name, "")).strip() for name in names}


def _form_context(values: dict[str, str], errors: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "kinds": [(k, KIND_WORDS.get(k, k)) for k in ACTION_KINDS],
        **extra,
    }


@routes.get("/actions/new", name="console.action_new")
@signed_in
@_organisers
async def new_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    values = _form_values({"kind": "assembly"})
    return render(
        request, "action_form.html", {"title": "Create an action", **_form_context(values, {})}
    )


def _check_target(values: dict[str, str], errors: dict[str, str]) -> int | None:
    if not values["target"]:
        return None
    target = parse_count(values["target"], lo=1, hi=MAX_COMMITMENT)
    if target is None:
        errors["target"] = "Enter the target as a whole number of people, like 120"
    return target


def _error_field(message: str) -> str:
    """Which form field a use case's error is about (for the summary's link)."""
    for word, name in (
        ("name", "slug"),
        ("called", "slug"),
        ("title", "title"),
        ("place", "place"),
        ("bring", "bring"),
        ("kind", "kind"),
        ("target", "target"),
        ("end", "ends_at"),
    ):
        if word in message:
            return name
    return "starts_at"


@routes.post("/actions/new", name="console.action_create")
@signed_in
@_organisers
async def create(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    settings, now = request.app[SETTINGS], request.app[CLOCK].now()
    values = _form_values(await request.post())
    errors: dict[str, str] = {}
    if values["slug"].lower() in RESERVED:
        errors["slug"] = "That short name is taken by the console: pick another"
    starts = parse_local(values["starts_at"], settings)
    ends = parse_local(values["ends_at"], settings)
    if starts is None:
        errors["starts_at"] = "Enter when it starts, like 2026-03-14 18:30"
    if ends is None:
        errors["ends_at"] = "Enter when it ends, like 2026-03-14 20:30"
    target = _check_target(values, errors)
    slug = values["slug"].lower()
    if not errors and starts is not None and ends is not None:
        try:
            async with request.app[DB].session() as session:
                action = await use.create_action(
                    session,
                    slug=slug,
                    title=values["title"],
                    kind=values["kind"],
                    starts_at=starts,
                    ends_at=ends,
                    place=values["place"],
                    bring=values["bring"],
                    target=target,
                    now=now,
                )
                await record(
                    session,
                    viewer.actor,
                    "action_created",
                    "action",
                    action.id,
                    at=now,
                    details={"slug": action.slug},
                )
        except use.ActionError as exc:
            errors[_error_field(str(exc))] = str(exc).capitalize()
    if errors:
        return render(
            request,
            "action_form.html",
            {"title": "Create an action", **_form_context(values, errors)},
            status=400,
        )
    raise _to_action(request, slug, "?done=created")


async def _ladder(
    session: AsyncSession, action: Action, settings: Settings
) -> list[dict[str, Any]]:
    on = {step.kind: step for step in await ladder_for(session, action)}
    steps: list[dict[str, Any]] = []
    for default in DEFAULT_LADDER:
        step = on.get(default.kind, default)
        title, audience = STEP_WORDS[default.kind]
        steps.append(
            {
                "kind": default.kind,
                "title": title,
                "audience": audience,
                "due": when(step.due(action), settings),
                "at": step.due(action),
                "on": default.kind in on,
            }
        )
    return sorted(steps, key=lambda s: s["at"])


@routes.get(f"/actions/{SLUG}", name="console.action")
@signed_in
async def action_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    settings, now = app[SETTINGS], app[CLOCK].now()
    reply = request.query.get("reply", "")
    if reply and reply not in REPLY_STATES:
        return error_page(request, 400, "Unknown reply", "Pick a reply from the list to filter by.")
    async with app[DB].session() as session:
        action = await action_by_slug(session, request.match_info["slug"])
        if action is None:
            return not_found(request)
        numbers = await numbers_context(session, action, viewer.scope)
        ladder = await _ladder(session, action, settings)
        people = await attendees(
            session, action.id, reply=reply or None, scope=viewer.scope, limit=SHOWN_ATTENDEES
        )
        total = await count_attendees(session, action.id, reply=reply or None, scope=viewer.scope)
        institutions = [
            {"id": i.id, "name": i.name}
            for i in await session.scalars(
                select(Institution).where(Institution.status != "former").order_by(Institution.name)
            )
            if viewer.sees(i.id)
        ]
    open_ = action.status == "scheduled" and action.starts_at > now
    return render(
        request,
        "action.html",
        {
            "title": action.title,
            "action": {
                "slug": action.slug,
                "title": action.title,
                "kind": KIND_WORDS.get(action.kind, action.kind),
                "when": when(action.starts_at, settings),
                "ends": when(action.ends_at, settings),
                "place": action.place,
                "bring": action.bring,
                "target": action.target,
                "status": action.status,
                "open": open_,
            },
            "organiser": viewer.scope is None,
            "done": done_notice(request),
            "ladder": ladder,
            "institutions": institutions,
            "attendees": [
                {
                    "name": a.name,
                    "institutions": ", ".join(a.institutions) or "No institution",
                    "reply": REPLY_WORDS["none" if a.response is None else a.response],
                    "guests": a.guests,
                    "came": a.attended,
                    "channel": a.channel or "",
                }
                for a in people
            ],
            "attendee_total": total,
            "shown": SHOWN_ATTENDEES,
            "reply": reply,
            "replies": list(REPLY_WORDS.items()),
            "step_kinds": STEP_KINDS,
            **numbers,
        },
    )


@routes.get(f"/actions/{SLUG}/live", name="console.action_live")
@signed_in
async def live(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    if (action := await action_in_path(request)) is None:
        return not_found(request)
    return await stream(request, request.app[HUB], f"{TOPIC}{action.id}", viewer.scope)


@routes.get(f"/actions/{SLUG}/edit", name="console.action_edit")
@signed_in
@_organisers
async def edit_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    if (action := await action_in_path(request)) is None:
        return not_found(request)
    values = {
        "title": action.title,
        "kind": action.kind,
        "bring": action.bring,
        "target": "" if action.target is None else str(action.target),
    }
    return render(
        request,
        "action_edit.html",
        {"title": f"Edit {action.title}", "slug": action.slug, **_form_context(values, {})},
    )


@routes.post(f"/actions/{SLUG}/edit", name="console.action_save")
@signed_in
@_organisers
async def save(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    form = await request.post()
    values = {n: str(form.get(n, "")).strip() for n in ("title", "kind", "bring", "target")}
    errors: dict[str, str] = {}
    target = _check_target(values, errors)
    slug = request.match_info["slug"]
    changed: list[str] = []
    if not errors:
        try:
            async with request.app[DB].session() as session:
                action = await action_by_slug(session, slug)
                if action is None:
                    return not_found(request)
                changed = await use.edit_action(
                    session,
                    action,
                    title=values["title"],
                    kind=values["kind"],
                    bring=values["bring"],
                    target=target,
                    now=now,
                )
                if changed:
                    await record(
                        session,
                        viewer.actor,
                        "action_edited",
                        "action",
                        action.id,
                        at=now,
                        details={"fields": changed},
                    )
        except use.ActionError as exc:
            errors[_error_field(str(exc))] = str(exc).capitalize()
    if errors:
        return render(
            request,
            "action_edit.html",
            {"title": "Edit the action", "slug": slug, **_form_context(values, errors)},
            status=400,
        )
    done = "edited" if changed else "unchanged"
    raise _to_action(request, slug, f"?done={done}")


# -- reschedule and cancel: a preview of the notice first --------------------------------------


@dataclass
class ChangePreview:
    notified: int
    superseded: int
    reinvited: int
    text: str


async def _preview_change(
    db: Database,
    slug: str,
    settings: Settings,
    now: datetime,
    change: dict[str, Any] | None,
) -> ChangePreview:
    """The change rehearsed (scheduler.actions.reschedule or cancel, rolled back): how many
    people it tells and what the notice says (in English; each person gets their language)."""

    async def body(session: AsyncSession) -> ChangePreview:
        action = await use.get_action(session, slug)
        if change is None:
            report = await use.cancel(session, action, now=now, settings=settings)
            text = render_message(
                "action_cancelled",
                "en",
                alliance=settings.alliance_name,
                title=action.title,
                when=when(action.starts_at, settings),
            )
        else:
            report = await use.reschedule(session, action, now=now, settings=settings, **change)
            text = render_message(
                "action_moved",
                "en",
                alliance=settings.alliance_name,
                title=action.title,
                when=when(action.starts_at, settings),
                place=action.place,
            )
        if not report.changed:
            raise use.ActionError("that is the time and place it already has")
        return ChangePreview(report.notified, report.superseded, report.reinvited, text)

    return await rehearse(db, body)


@routes.get(f"/actions/{SLUG}/reschedule", name="console.action_reschedule")
@signed_in
@_organisers
async def reschedule_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if (action := await action_in_path(request)) is None:
        return not_found(request)
    values = {
        "starts_at": local_input(action.starts_at, settings),
        "ends_at": local_input(action.ends_at, settings),
        "place": action.place,
    }
    return render(
        request,
        "action_reschedule.html",
        {"title": f"Move {action.title}", "slug": action.slug, "values": values, "errors": {}},
    )


@routes.post(f"/actions/{SLUG}/reschedule", name="console.action_reschedule_post")
@signed_in
@_organisers
async def reschedule(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    settings, now, slug = app[SETTINGS], app[CLOCK].now(), request.match_info["slug"]
    form = await request.post()
    values = {n: str(form.get(n, "")).strip() for n in ("starts_at", "ends_at", "place")}
    errors: dict[str, str] = {}
    starts = parse_local(values["starts_at"], settings)
    ends = parse_local(values["ends_at"], settings)
    if starts is None:
        errors["starts_at"] = "Enter when it starts, like 2026-03-14 18:30"
    if ends is None:
        errors["ends_at"] = "Enter when it ends, like 2026-03-14 20:30"
    if await action_in_path(request) is None:
        return not_found(request)
    change: dict[str, Any] = {"starts_at": starts, "ends_at": ends, "place": values["place"]}
    preview: ChangePreview | None = None
    if not errors:
        try:
            preview = await _preview_change(app[DB], slug, settings, now, change)
        except use.ActionError as exc:
            errors[_error_field(str(exc))] = str(exc).capitalize()
    if errors or preview is None:
        return render(
            request,
            "action_reschedule.html",
            {"title": "Move the action", "slug": slug, "values": values, "errors": errors},
            status=400,
        )
    if form.get("confirm") != "yes":
        return render(
            request,
            "action_change_preview.html",
            {
                "title": "Check the change",
                "slug": slug,
                "cancelling": False,
                "preview": preview,
                "values": values,
                "when": when(starts, settings) if starts else "",
            },
        )
    try:
        async with app[DB].session() as session:
            action = await use.get_action(session, slug)
            report = await use.reschedule(
                session,
                action,
                starts_at=starts,
                ends_at=ends,
                place=values["place"],
                now=now,
                settings=settings,
            )
            await record(
                session,
                viewer.actor,
                "action_rescheduled",
                "action",
                action.id,
                at=now,
                details={
                    "revision": report.revision,
                    "notified": report.notified,
                    "superseded": report.superseded,
                },
            )
    except use.ActionError as exc:
        return error_page(request, 400, "The action cannot be moved", str(exc).capitalize())
    app[HUB].poke()
    raise _to_action(request, slug, "?done=rescheduled")


@routes.get(f"/actions/{SLUG}/cancel", name="console.action_cancel")
@signed_in
@_organisers
async def cancel_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    slug = request.match_info["slug"]
    if await action_in_path(request) is None:
        return not_found(request)
    try:
        preview = await _preview_change(app[DB], slug, app[SETTINGS], app[CLOCK].now(), None)
    except use.ActionError as exc:
        return error_page(request, 400, "The action cannot be cancelled", str(exc).capitalize())
    return render(
        request,
        "action_change_preview.html",
        {
            "title": "Check the cancellation",
            "slug": slug,
            "cancelling": True,
            "preview": preview,
            "values": {},
            "when": "",
        },
    )


@routes.post(f"/actions/{SLUG}/cancel", name="console.action_cancel_post")
@signed_in
@_organisers
async def cancel(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    settings, now, slug = app[SETTINGS], app[CLOCK].now(), request.match_info["slug"]
    try:
        async with app[DB].session() as session:
            action = await action_by_slug(session, slug)
            if action is None:
                return not_found(request)
            report = await use.cancel(session, action, now=now, settings=settings)
            await record(
                session,
                viewer.actor,
                "action_cancelled",
                "action",
                action.id,
                at=now,
                details={"notified": report.notified, "superseded": report.superseded},
            )
    except use.ActionError as exc:
        return error_page(request, 400, "The action cannot be cancelled", str(exc).capitalize())
    app[HUB].poke()
    raise _to_action(request, slug, "?done=cancelled")


# -- the reminder ladder, commitments ----------------------------------------------------------


@routes.post(f"/actions/{SLUG}/reminders", name="console.action_reminder")
@signed_in
@_organisers
async def reminder(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    now, slug = request.app[CLOCK].now(), request.match_info["slug"]
    form = await request.post()
    kind, state = str(form.get("step", "")), str(form.get("state", ""))
    if kind not in STEP_KINDS or state not in ("on", "off"):
        return error_page(
            request, 400, "Unknown reminder", "Pick a reminder from the action's page."
        )
    async with request.app[DB].session() as session:
        action = await action_by_slug(session, slug)
        if action is None:
            return not_found(request)
        if state == "off":
            await set_step(session, action, kind, None, now=now)
        else:
            await reset_step(session, action, kind)
        await record(
            session,
            viewer.actor,
            "reminder_step_set",
            "action",
            action.id,
            at=now,
            details={"step": kind, "state": state},
        )
    raise _to_action(request, slug, "?done=reminder#reminders")


@routes.post(f"/actions/{SLUG}/commitments", name="console.action_commit")
@signed_in
async def commitment(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    now, slug = request.app[CLOCK].now(), request.match_info["slug"]
    form = await request.post()
    raw_institution = str(form.get("institution", ""))
    number = parse_count(str(form.get("number", "")), lo=0, hi=MAX_COMMITMENT)
    institution_id = parse_id(raw_institution)
    if number is None or institution_id is None:
        return error_page(
            request,
            400,
            "The commitment was not saved",
            "Pick an institution and enter how many people it pledges, as a whole number "
            f"from 0 to {MAX_COMMITMENT}.",
        )
    if not viewer.sees(institution_id):
        return error_page(
            request,
            403,
            "Not your institution",
            "You can set the commitments of institutions you lead.",
        )
    async with request.app[DB].session() as session:
        action = await action_by_slug(session, slug)
        if action is None:
            return not_found(request)
        if await session.get(Institution, institution_id) is None:
            return error_page(request, 400, "No such institution", "Pick one from the list.")
        await use.commit(
            session,
            action_id=action.id,
            institution_id=institution_id,
            number=number,
            set_by_id=viewer.person_id,
            channel="web",
            now=now,
        )
        await record(
            session,
            viewer.actor,
            "commitment_set",
            "action",
            action.id,
            at=now,
            details={"institution_id": institution_id, "number": number},
        )
    request.app[HUB].poke()
    raise _to_action(request, slug, "?done=commitment")


# -- the attendee list as CSV ----------------------------------------------------------------


@routes.get(f"/actions/{SLUG}/attendees.csv", name="console.action_export")
@signed_in
async def export(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    settings, now = app[SETTINGS], app[CLOCK].now()
    reply = request.query.get("reply", "")
    if reply and reply not in REPLY_STATES:
        return error_page(request, 400, "Unknown reply", "Pick a reply from the list.")
    out = io.StringIO(newline="")
    organiser = viewer.scope is None
    header = ["name", "institutions", "reply", "guests", "replied_at", "channel", "came"]
    if organiser:
        header.insert(1, "phone")
    csv = CsvExport(out, header)
    async with app[DB].session() as session:
        action = await action_by_slug(session, request.match_info["slug"])
        if action is None:
            return not_found(request)
        for a in await attendees(session, action.id, reply=reply or None, scope=viewer.scope):
            cells: list[object] = [
                a.name,
                "; ".join(a.institutions),
                a.response or "not replied",
                a.guests,
                a.responded_at.astimezone(ZoneInfo(settings.default_timezone)).strftime(
                    "%Y-%m-%d %H:%M"
                )
                if a.responded_at
                else "",
                a.channel or "",
                "yes" if a.attended else "no",
            ]
            if organiser:
                cells.insert(1, a.phone or "")
            csv.row(cells)
        await record(
            session,
            viewer.actor,
            "attendees_exported",
            "action",
            action.id,
            at=now,
            details={"rows": csv.rows, "reply": reply or "all", "phones": organiser},
        )
    name = f"{action.slug}-attendees{'-' + reply if reply else ''}.csv"
    return csv_download(out.getvalue(), name)


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_nav(app, "Actions", "console.actions", 20)

    async def version(_argument: str) -> object:
        async with app[DB].session() as session:
            return await numbers_version(session, app[CLOCK].now())

    async def snapshot(argument: str, scope: Scope) -> str:
        async with app[DB].session() as session:
            action = await session.get(Action, int(argument))
            if action is None:
                return ""
            context = await numbers_context(session, action, scope)
        template = aiohttp_jinja2.get_env(app).get_template(FRAGMENT)
        return template.render(context)

    app[HUB].add_feed("action", Feed(version, snapshot))
