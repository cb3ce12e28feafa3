"""Inviting a segment to an action (``/actions/{slug}/invite``): pick who (everyone,
institutions, people who replied X to another action, people who raised a listening theme,
people not yet invited), see a preview of what would be queued (people by channel, SMS
segments and the estimated cost, who is opted out or unreachable, when quiet hours let it go),
then confirm. The preview is the invitation use case rehearsed (scheduler/invitations.py);
confirming runs it for real, through the outbox, audited. A second submit queues nothing twice
(the invitation keys are taken). A leader's segment is limited to their institutions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.exc import IntegrityError

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.actions import not_found, when
from bot.web.keys import HUB
from bot.web.pages import error_page, render, signed_in
from bot.web.params import parse_id
from bot.web.viewer import Viewer
from scheduler import actions as use
from scheduler.invitations import preview, queue
from storage import segments
from storage.actions import action_by_slug
from storage.audit import record
from storage.segments import REPLIES, Segment, SegmentError

SLUG = r"{slug:[a-z0-9][a-z0-9-]{1,31}}"
KINDS = [
    ("everyone", "Everyone", "Every person on record."),
    ("institutions", "Institutions", "The members of the institutions you pick."),
    ("replied", "People who replied to another action", "Yes, maybe, no, not replied, or came."),
    ("theme", "People who raised a listening theme", "Anyone whose answer has that theme."),
    ("not_asked", "People not yet invited", "Everyone not yet invited to this action."),
]
REPLY_WORDS = {
    "yes": "Said yes",
    "maybe": "Said maybe",
    "no": "Said no",
    "none": "Did not reply",
    "attended": "Came",
}
CHANNEL_WORDS = {"sms": "By SMS", "telegram": "By Telegram"}

routes = web.RouteTableDef()


def parse_segment(form: MultiDictProxy[Any]) -> tuple[Segment | None, dict[str, str]]:
    """The segment a form picked, or the errors to show beside its fields."""
    kind = str(form.get("segment", ""))
    errors: dict[str, str] = {}
    if kind not in segments.SEGMENT_KINDS:
        return None, {"segment-everyone": "Pick who to invite"}
    institution_ids: list[int] = []
    for value in form.getall("institution", []):
        number = parse_id(str(value))
        if number is None:
            errors["institution"] = "Pick institutions from the list"
        else:
            institution_ids.append(number)
    other = parse_id(str(form.get("other_action", "")))
    reply = str(form.get("reply", ""))
    theme = parse_id(str(form.get("theme", "")))
    if kind == "institutions" and not institution_ids and "institution" not in errors:
        errors["institution"] = "Pick at least one institution"
    if kind == "replied":
        if other is None:
            errors["other_action"] = "Pick the other action"
        if reply not in REPLIES:
            errors["reply"] = "Pick the reply"
    if kind == "theme" and theme is None:
        errors["theme"] = "Pick a listening theme"
    if errors:
        return None, errors
    return (
        Segment(
            kind=kind,
            institution_ids=tuple(sorted(set(institution_ids))) if kind == "institutions" else (),
            action_id=other if kind == "replied" else None,
            reply=reply if kind == "replied" else None,
            theme_id=theme if kind == "theme" else None,
        ),
        {},
    )


def hidden_fields(segment: Segment) -> list[tuple[str, str]]:
    fields = [("segment", segment.kind)]
    fields += [("institution", str(i)) for i in segment.institution_ids]
    if segment.action_id is not None:
        fields.append(("other_action", str(segment.action_id)))
    if segment.reply is not None:
        fields.append(("reply", segment.reply))
    if segment.theme_id is not None:
        fields.append(("theme", str(segment.theme_id)))
    return fields


async def _form(
    request: web.Request,
    viewer: Viewer,
    slug: str,
    *,
    errors: dict[str, str] | None = None,
    picked: MultiDictProxy[Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        action = await action_by_slug(session, slug)
        if action is None:
            return not_found(request)
        institutions = await segments.institution_choices(session, viewer.scope)
        others = await segments.action_choices(session, besides=action.id)
        themes = await segments.theme_choices(session)
    if action.status != "scheduled" or action.starts_at <= now:
        return error_page(
            request, 400, "Too late to invite", "This action is cancelled, under way or over."
        )
    return render(
        request,
        "invite.html",
        {
            "title": f"Invite people to {action.title}",
            "action": {"slug": action.slug, "title": action.title},
            "kinds": KINDS,
            "institutions": institutions,
            "others": others,
            "themes": themes,
            "replies": list(REPLY_WORDS.items()),
            "errors": errors or {},
            "picked": {
                "segment": str(picked.get("segment", "")) if picked else "",
                "institution": [str(v) for v in picked.getall("institution", [])] if picked else [],
                "other_action": str(picked.get("other_action", "")) if picked else "",
                "reply": str(picked.get("reply", "")) if picked else "",
                "theme": str(picked.get("theme", "")) if picked else "",
            },
            "leader": viewer.scope is not None,
        },
        status=status,
    )


@routes.get(f"/actions/{SLUG}/invite", name="console.invite")
@signed_in
async def invite_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _form(request, viewer, request.match_info["slug"])


@routes.post(f"/actions/{SLUG}/invite", name="console.invite_preview")
@signed_in
async def invite_preview(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    settings, now, slug = app[SETTINGS], app[CLOCK].now(), request.match_info["slug"]
    form = await request.post()
    segment, errors = parse_segment(form)
    async with app[DB].session() as session:
        action = await action_by_slug(session, slug)
        if action is None:
            return not_found(request)
        if segment is not None:
            try:
                await segments.check_exists(session, segment)
            except SegmentError as exc:
                errors["segment-" + segment.kind] = str(exc).capitalize()
    if segment is None or errors:
        return await _form(request, viewer, slug, errors=errors, picked=form, status=400)
    try:
        result = await preview(
            app[DB], action.id, segment, scope=viewer.scope, settings=settings, now=now
        )
    except use.ActionError as exc:
        return error_page(request, 400, "Too late to invite", str(exc).capitalize())
    zone = settings.default_timezone
    return render(
        request,
        "invite_preview.html",
        {
            "title": "Check the invitation",
            "action": {"slug": action.slug, "title": action.title},
            "preview": result,
            "channels": [
                (CHANNEL_WORDS.get(c, c), n) for c, n in sorted(result.by_channel.items())
            ],
            "price": settings.sms_price,
            "cost": f"{result.cost:.2f}",
            "first_held": when(result.first_held_until, settings)
            if result.first_held_until
            else "",
            "last_held": when(result.last_held_until, settings) if result.last_held_until else "",
            "zone": zone,
            "hidden": hidden_fields(segment),
            "segment_words": _segment_words(segment),
        },
    )


def _segment_words(segment: Segment) -> str:
    return next(label for kind, label, _hint in KINDS if kind == segment.kind)


@routes.post(f"/actions/{SLUG}/invite/confirm", name="console.invite_confirm")
@signed_in
async def invite_confirm(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    app = request.app
    settings, now, slug = app[SETTINGS], app[CLOCK].now(), request.match_info["slug"]
    form = await request.post()
    segment, errors = parse_segment(form)
    if segment is None or errors:
        return error_page(
            request, 400, "Nothing was queued", "The invitation's choices were not readable."
        )
    try:
        async with app[DB].session() as session:
            action = await action_by_slug(session, slug)
            if action is None:
                return not_found(request)
            report = await queue(
                session, action, segment, scope=viewer.scope, settings=settings, now=now
            )
            await record(
                session,
                viewer.actor,
                "invitations_queued",
                "action",
                action.id,
                at=now,
                details={
                    "segment": segment.kind,
                    "invited": report.invited,
                    "queued": report.queued,
                    "dropped": report.dropped,
                    "opted_out": report.skipped_opted_out,
                    "unreachable": report.skipped_unreachable,
                },
            )
    except (use.ActionError, SegmentError) as exc:
        return error_page(request, 400, "Nothing was queued", str(exc).capitalize())
    except IntegrityError:
        # Another submit of the same invitation won the race: its rows stand, nothing twice.
        return error_page(
            request,
            409,
            "Already being queued",
            "These invitations were just queued by another submit. Nothing was queued twice.",
        )
    app[HUB].poke()
    return render(
        request,
        "invite_done.html",
        {"title": "Invitations queued", "action": {"slug": slug}, "report": report},
    )


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
