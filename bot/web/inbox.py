"""The inbox (``/inbox``): texts no rule handled, as conversations by person, newest first;
the open count is Today's "Open in the inbox". A conversation's page shows the texts both ways
with their delivery status and lets the viewer reply (through the outbox, under the outbound
policy: never to someone who said STOP, held through their quiet hours), attach a text to a
listening question, mark the conversation done, or assign it to a leader. Every change goes
through scheduler/inbox.py, which audits it. A leader sees their own people's texts only.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import add_nav, render, see_other, signed_in, url
from bot.web.params import (
    MAX_ID,
    BadInput,
    bad_request,
    hide_phones_for,
    not_found,
    number,
    refuses_bad_input,
    row_id,
    text,
)
from bot.web.viewer import Viewer
from config.messages import format_when
from config.segments import count_segments
from scheduler.inbox import MAX_REPLY, InboxError, assign, attach, mark_done, reopen, reply
from scheduler.outbound import zone_of
from storage.inbox import (
    assignee_choices,
    assignees,
    conversations,
    inbox_message,
    open_count,
    open_in_conversation,
)
from storage.listening import question_text
from storage.models import InboundMessage, ListeningCampaign, ListeningQuestion, Person
from storage.timeline import timeline

routes = web.RouteTableDef()
THREAD_LIMIT = 100
NOTICES = {
    "sent": "Your reply is in the outbox and goes out now.",
    "again": "That reply was already sent to this text, so it was not sent again.",
    "assigned": "Assigned.",
    "unassigned": "Nobody is assigned now.",
    "reopened": "Back in the inbox.",
}


@routes.get("/inbox", name="console.inbox")
@signed_in
@refuses_bad_input
async def inbox_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    page_number = number(request.query, "page") or 1
    mine = text(request.query, "mine", limit=8) == "1"
    done = number(request.query, "done")
    zone = request.app[SETTINGS].default_timezone
    async with request.app[DB].session() as session:
        total_open = await open_count(session, viewer.roles)
        items, total = await conversations(
            session, viewer.roles, mine=viewer.person_id if mine else None, page=page_number
        )
    hide = hide_phones_for(viewer, request.app[SETTINGS].default_region)
    for item in items:
        item.latest_body = hide(item.latest_body)
    pages = max(1, -(-total // 50))
    return render(
        request,
        "inbox.html",
        {
            "title": "Inbox",
            "open": total_open,
            "items": [{"c": c, "when": format_when(c.latest_at, "en", zone)} for c in items],
            "total": total,
            "mine": mine,
            "page": min(page_number, pages),
            "pages": pages,
            "done": done,
        },
    )


def _id(request: web.Request) -> int:
    return row_id(request)


async def _thread(
    request: web.Request, viewer: Viewer, message: InboundMessage, session: Any
) -> dict[str, Any]:
    zone = request.app[SETTINGS].default_timezone
    now = request.app[CLOCK].now()
    person = None
    if message.person_id is not None:
        person = await session.get(Person, message.person_id)
        hide = hide_phones_for(viewer, request.app[SETTINGS].default_region)
        events = [
            replace(e, text=hide(e.text), detail=hide(e.detail))
            for e in await timeline(session, message.person_id, limit=THREAD_LIMIT)
            if e.kind in ("in", "out")
        ]
    else:
        events = []
    open_texts = await open_in_conversation(session, message)
    assigned = await assignees(session, [m.id for m in open_texts] or [message.id])
    campaigns = list(
        await session.scalars(
            select(ListeningCampaign)
            .where(ListeningCampaign.status == "open")
            .order_by(ListeningCampaign.starts_at.desc())
        )
    )
    targets: list[tuple[str, str]] = []
    for campaign in campaigns:
        targets.append((str(campaign.id), f"{campaign.title}: no particular question"))
        questions = await session.scalars(
            select(ListeningQuestion)
            .where(ListeningQuestion.campaign_id == campaign.id)
            .order_by(ListeningQuestion.position)
        )
        for q in questions:
            words = question_text(q, "en")
            short = words if len(words) <= 60 else words[:57] + "..."
            targets.append(
                (f"{campaign.id}:{q.id}", f"{campaign.title}, question {q.position + 1}: {short}")
            )
    return {
        "title": "Conversation",
        "message": message,
        "person": person,
        "sender": message.sender if viewer.roles.organiser and person is None else None,
        "phone": person.phone if person is not None and viewer.roles.organiser else None,
        "events": [{"when": format_when(e.at, "en", zone), "event": e} for e in events],
        "received": format_when(message.received_at, "en", zone),
        "open_texts": len(open_texts),
        "assigned": next(iter(assigned.values()), ""),
        "choices": await assignee_choices(session, message.person_id),
        "targets": targets,
        "max_reply": MAX_REPLY,
        "draft": "",
        "errors": {},
        "counter": _counter(""),
        "local_now": now.astimezone(ZoneInfo(zone)).strftime("%H:%M"),
        "flash": NOTICES.get(request.query_string.split("=")[0], ""),
    }


def _counter(words: str) -> str:
    chars = len(words)
    segments = count_segments(words)
    return f"{chars} characters, {segments} {'text' if segments == 1 else 'texts'}"


@routes.get(r"/inbox/{id:\d{1,18}}", name="console.inbox_item")
@signed_in
async def item_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        message = await inbox_message(session, viewer.roles, _id(request))
        if message is None:
            return not_found(request)
        context = await _thread(request, viewer, message, session)
    held = request.query.get("held", "")
    if re.fullmatch(r"\d\d:\d\d", held):
        context["flash"] = (
            "Your reply is in the outbox. It is their quiet hours, so it waits until "
            f"{held} their time."
        )
    return render(request, "inbox_item.html", context)


def _back(request: web.Request, message_id: int, note: str) -> web.HTTPSeeOther:
    return see_other(url(request, "console.inbox_item", id=str(message_id)) + "?" + note)


async def _refuse(
    request: web.Request, viewer: Viewer, message_id: int, errors: dict[str, str], draft: str = ""
) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        message = await inbox_message(session, viewer.roles, message_id)
        if message is None:
            return not_found(request)
        context = await _thread(request, viewer, message, session)
    context.update(errors=errors, draft=draft, counter=_counter(draft))
    return render(request, "inbox_item.html", context, status=400)


@routes.post(r"/inbox/{id:\d{1,18}}/reply", name="console.inbox_reply")
@signed_in
@refuses_bad_input
async def reply_post(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    message_id = _id(request)
    form = await request.post()
    body = text(form, "reply", limit=5000)
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        message = await inbox_message(session, viewer.roles, message_id)
        if message is None:
            return not_found(request)
        try:
            result = await reply(
                session, message, body, settings=settings, actor=viewer.actor, now=now
            )
        except InboxError as problem:
            error = str(problem)
        else:
            error = ""
            person = await session.get_one(Person, result.row.person_id)
            zone = ZoneInfo(zone_of(person, settings))
    if error:
        return await _refuse(request, viewer, message_id, {"reply": error}, body)
    if not result.new:
        raise _back(request, message_id, "again")
    if result.held_until is not None:
        raise _back(
            request, message_id, "held=" + result.held_until.astimezone(zone).strftime("%H:%M")
        )
    raise _back(request, message_id, "sent")


@routes.post(r"/inbox/{id:\d{1,18}}/done", name="console.inbox_done")
@signed_in
async def done_post(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        message = await inbox_message(session, viewer.roles, _id(request))
        if message is None:
            return not_found(request)
        count = await mark_done(session, message, actor=viewer.actor, now=request.app[CLOCK].now())
    raise see_other(url(request, "console.inbox") + f"?done={count}")


@routes.post(r"/inbox/{id:\d{1,18}}/reopen", name="console.inbox_reopen")
@signed_in
async def reopen_post(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        message = await inbox_message(session, viewer.roles, _id(request))
        if message is None:
            return not_found(request)
        await reopen(session, message, actor=viewer.actor, now=request.app[CLOCK].now())
    raise _back(request, _id(request), "reopened")


@routes.post(r"/inbox/{id:\d{1,18}}/assign", name="console.inbox_assign")
@signed_in
@refuses_bad_input
async def assign_post(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    message_id = _id(request)
    form = await request.post()
    assignee = number(form, "assignee")
    async with request.app[DB].session() as session:
        message = await inbox_message(session, viewer.roles, message_id)
        if message is None:
            return not_found(request)
        try:
            await assign(
                session,
                message,
                assignee,
                by=viewer.current.person,
                actor=viewer.actor,
                now=request.app[CLOCK].now(),
            )
        except InboxError as problem:
            error = str(problem)
        else:
            error = ""
    if error:
        return await _refuse(request, viewer, message_id, {"assignee": error})
    raise _back(request, message_id, "assigned" if assignee is not None else "unassigned")


def _target(value: str) -> tuple[int, int | None]:
    campaign, _, question = value.partition(":")
    if not (campaign.isascii() and campaign.isdigit()) or (
        question and not (question.isascii() and question.isdigit())
    ):
        raise BadInput("choose a campaign or question from the list")
    ids = [int(campaign), *([int(question)] if question else [])]
    if any(n > MAX_ID for n in ids):
        raise BadInput("choose a campaign or question from the list")
    return ids[0], ids[1] if len(ids) > 1 else None


@routes.post(r"/inbox/{id:\d{1,18}}/attach", name="console.inbox_attach")
@signed_in
@refuses_bad_input
async def attach_post(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    message_id = _id(request)
    form = await request.post()
    campaign_id, question_id = _target(text(form, "target", limit=64))
    async with request.app[DB].session() as session:
        message = await inbox_message(session, viewer.roles, message_id)
        if message is None:
            return not_found(request)
        campaign = await session.get(ListeningCampaign, campaign_id)
        question = (
            await session.get(ListeningQuestion, question_id) if question_id is not None else None
        )
        if campaign is None or (question_id is not None and question is None):
            return bad_request(request, BadInput("that campaign or question does not exist"))
        try:
            await attach(
                session,
                message,
                campaign,
                question,
                actor=viewer.actor,
                now=request.app[CLOCK].now(),
            )
        except InboxError as problem:
            error = str(problem)
        else:
            error = ""
    if error:
        return await _refuse(request, viewer, message_id, {"target": error})
    raise see_other(url(request, "console.inbox") + "?done=1")


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_nav(app, "Inbox", "console.inbox", 40)
