"""Listening (``/listening``): the campaigns with their pipeline; a campaign's page with the
funnel (listened, consented, followed up, came), the theme-by-institution table (the mandate),
the follow-up queue, the answers with their themes (tagged by hand here), and exports; a
question editor per language with a live character and SMS segment counter
(static/counter.js, counted again by the server).

Every number comes from storage/listening_reports/ (the reports the CLI and the digest use);
the edits go through scheduler/listening_edits.py, which audits them. A leader sees their own
institutions' people only, and may tag their answers; editing a question is for organisers.
"""

from __future__ import annotations

import io
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web.pages import add_nav, csv_download, organisers_only, render, see_other, signed_in, url
from bot.web.params import (
    BadInput,
    bad_request,
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
from config.messages import render as render_message
from config.segments import count_segments
from config.settings import LANGUAGES
from scheduler.listening_edits import (
    ListeningEditError,
    edit_question,
    followed_up,
    tag_by_hand,
)
from storage.audit import record
from storage.export import CsvExport
from storage.listening import campaign_by_slug, campaign_questions, question_text
from storage.listening_reports.answers import EXPORT_FIELDS, export_answers, list_answers
from storage.listening_reports.follow_ups import waiting_for_follow_up
from storage.listening_reports.pipeline import pipeline, pipeline_by_campaign
from storage.listening_reports.scope import within_scope
from storage.listening_reports.themes import QUOTES_PER_THEME, Count, export_themes, theme_table
from storage.listening_themes import campaign_themes, label
from storage.models import ListeningAnswer, ListeningCampaign, ListeningQuestion, Person
from storage.rollup import NO_INSTITUTION

routes = web.RouteTableDef()

SLUG = r"{slug:[a-z0-9][a-z0-9-]{0,63}}"
ANSWERS_PAGE = 50
LANGUAGE_NAMES = {"en": "English", "cy": "Welsh", "pl": "Polish"}
# What an answers export holds unless asked otherwise: no names, no numbers.
DEFAULT_FIELDS = ("answer_id", "received_at", "question", "text", "themes", "institution")
PERSONAL_FIELDS = ("name", "phone", "person_id")


def _scope(viewer: Viewer) -> list[int] | None:
    """The viewer's institutions as the listening reports take them (None: everyone)."""
    return None if viewer.scope is None else sorted(viewer.scope)


def _percent(part: int, whole: int) -> str:
    return "" if whole == 0 else f"{round(100 * part / whole)}%"


@routes.get("/listening", name="console.listening")
@signed_in
async def campaigns_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    now = request.app[CLOCK].now()
    zone = request.app[SETTINGS].default_timezone
    async with request.app[DB].session() as session:
        rows = await pipeline_by_campaign(session, now, scope=_scope(viewer))
    return render(
        request,
        "listening.html",
        {
            "title": "Listening",
            "campaigns": [
                {
                    "c": campaign,
                    "row": row,
                    "starts": format_when(campaign.starts_at, "en", zone),
                    "ends": format_when(campaign.ends_at, "en", zone) if campaign.ends_at else "",
                }
                for campaign, row in rows
            ],
        },
    )


async def _campaign(session: Any, slug: str) -> ListeningCampaign | None:
    return await campaign_by_slug(session, slug)


@routes.get(f"/listening/{SLUG}", name="console.listening_campaign")
@signed_in
@refuses_bad_input
async def campaign_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    after = number(request.query, "after") or 0
    untagged = text(request.query, "untagged", limit=4) == "1"
    now = request.app[CLOCK].now()
    zone = request.app[SETTINGS].default_timezone
    async with request.app[DB].session() as session:
        campaign = await _campaign(session, request.match_info["slug"])
        if campaign is None:
            return not_found(request)
        funnel = await pipeline(session, now, campaign=campaign, scope=_scope(viewer))
        table = await theme_table(session, campaign, scope=_scope(viewer), quotes=QUOTES_PER_THEME)
        waiting = await waiting_for_follow_up(session, now, campaign=campaign, scope=_scope(viewer))
        answers = await list_answers(
            session,
            campaign,
            scope=_scope(viewer),
            untagged=untagged,
            limit=ANSWERS_PAGE + 1,
            after_id=after,
        )
        themes = await campaign_themes(session, campaign.id)
        questions = await campaign_questions(session, campaign.id)
    hide = hide_phones_for(viewer, request.app[SETTINGS].default_region)
    for answer in answers:
        answer.body = hide(answer.body)
    for theme in table.rows:
        theme.quotes = [hide(quote) for quote in theme.quotes]
    total = funnel.total
    steps = [
        ("Listened", total.listened, ""),
        ("Consented", total.consented, _percent(total.consented, total.listened)),
        ("Followed up", total.followed_up, _percent(total.followed_up, total.consented)),
        ("Came to an action", total.came, _percent(total.came, total.followed_up)),
    ]
    scale = max(1, total.listened, funnel.target or 0)
    columns: list[tuple[int | None, str]] = list(table.institutions)
    if table.show_no_institution:
        columns.append((None, NO_INSTITUTION))
    return render(
        request,
        "listening_campaign.html",
        {
            "title": campaign.title,
            "campaign": campaign,
            "funnel": [
                {"label": name, "value": str(n), "percent": round(100 * n / scale, 1), "rate": rate}
                for name, n, rate in steps
            ],
            "coming": total.coming,
            "target": funnel.target,
            "funnel_rows": [
                *funnel.rows,
                *([funnel.no_institution] if funnel.no_institution else []),
            ],
            "table": table,
            "columns": columns,
            "cells": {
                row.key: [row.by_institution.get(iid, Count()).people for iid, _ in columns]
                for row in table.rows
            },
            "waiting": [
                {"w": w, "days": w.waited.days, "since": format_when(w.consented_at, "en", zone)}
                for w in waiting
            ],
            "answers": answers[:ANSWERS_PAGE],
            "more": answers[ANSWERS_PAGE - 1].id if len(answers) > ANSWERS_PAGE else None,
            "untagged": untagged,
            "themes": [(t.id, t.key, label(t, "en")) for t in themes],
            "theme_labels": {t.key: label(t, "en") for t in themes},
            "questions": [
                {"position": q.position, "text": question_text(q, "en")} for q in questions
            ],
            "organiser": viewer.roles.organiser,
            "fields": [
                f for f in EXPORT_FIELDS if viewer.roles.organiser or f not in PERSONAL_FIELDS
            ],
            "default_fields": DEFAULT_FIELDS,
            "when": lambda moment: format_when(moment, "en", zone),
            "flash": "Themes saved."
            if "tagged" in request.query
            else "Recorded: they have been followed up."
            if "followed" in request.query
            else "",
        },
    )


@routes.post(rf"/listening/{SLUG}/answers/{{id:\d{{1,18}}}}/themes", name="console.listening_tag")
@signed_in
@refuses_bad_input
async def tag_post(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    chosen = numbers(form.getall("theme", []), "theme")
    slug = request.match_info["slug"]
    async with request.app[DB].session() as session:
        campaign = await _campaign(session, slug)
        answer = await session.scalar(
            select(ListeningAnswer)
            .where(ListeningAnswer.id == row_id(request))
            .where(ListeningAnswer.campaign_id == (campaign.id if campaign else -1))
            .where(within_scope(ListeningAnswer.person_id, _scope(viewer)))
        )
        if campaign is None or answer is None:
            return not_found(request)
        try:
            await tag_by_hand(
                session, answer, chosen, actor=viewer.actor, now=request.app[CLOCK].now()
            )
        except ListeningEditError as problem:
            return bad_request(request, BadInput(problem.errors["themes"].lower()))
    raise see_other(
        url(request, "console.listening_campaign", slug=slug) + f"?tagged#answer-{answer.id}"
    )


@routes.post(
    rf"/listening/{SLUG}/follow-ups/{{id:\d{{1,18}}}}", name="console.listening_followed_up"
)
@signed_in
@refuses_bad_input
async def follow_up_post(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    note = text(form, "note", limit=5000)
    slug = request.match_info["slug"]
    async with request.app[DB].session() as session:
        campaign = await _campaign(session, slug)
        person = await session.scalar(
            select(Person)
            .where(Person.id == row_id(request))
            .where(within_scope(Person.id, _scope(viewer)))
        )
        if campaign is None or person is None:
            return not_found(request)
        try:
            await followed_up(
                session,
                campaign,
                person,
                note,
                by=viewer.current.person,
                actor=viewer.actor,
                now=request.app[CLOCK].now(),
            )
        except ListeningEditError as problem:
            return bad_request(request, BadInput(next(iter(problem.errors.values())).lower()))
    raise see_other(url(request, "console.listening_campaign", slug=slug) + "?followed#waiting")


def _wrap(position: int, language: str, alliance: str) -> tuple[str, str]:
    """The words around a question in the text people get (its first, or a later one)."""
    template = "listening_question" if position == 0 else "listening_next"
    before, _, after = render_message(
        template, language, alliance=alliance, question="\x00"
    ).partition("\x00")
    return before, after


def _count(words: str, before: str, after: str) -> str:
    message = before + words + after
    segments = count_segments(message)
    return f"{len(message)} characters, {segments} {'text' if segments == 1 else 'texts'}"


async def _question(
    session: Any, slug: str, position: int
) -> tuple[ListeningCampaign, ListeningQuestion] | None:
    campaign = await _campaign(session, slug)
    if campaign is None:
        return None
    question = await session.scalar(
        select(ListeningQuestion)
        .where(ListeningQuestion.campaign_id == campaign.id)
        .where(ListeningQuestion.position == position)
    )
    return None if question is None else (campaign, question)


def _editor(
    request: web.Request,
    campaign: ListeningCampaign,
    question: ListeningQuestion,
    texts: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> web.Response:
    alliance = request.app[SETTINGS].alliance_name
    languages = []
    for code in LANGUAGES:
        before, after = _wrap(question.position, code, alliance)
        words = texts.get(code, "")
        languages.append(
            {
                "code": code,
                "name": LANGUAGE_NAMES.get(code, code),
                "text": words,
                "before": before,
                "after": after,
                "count": _count(words, before, after) if words else "",
            }
        )
    return render(
        request,
        "listening_question.html",
        {
            "title": f"Question {question.position + 1}",
            "campaign": campaign,
            "question": question,
            "languages": languages,
            "errors": errors,
            "saved": "saved" in request.query,
        },
        status=status,
    )


_organisers = organisers_only("Only organisers edit questions", "Ask your organiser to change it.")


@routes.get(rf"/listening/{SLUG}/questions/{{n:\d{{1,3}}}}", name="console.listening_question")
@signed_in
@_organisers
async def question_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        found = await _question(
            session, request.match_info["slug"], int(request.match_info["n"]) - 1
        )
    if found is None:
        return not_found(request)
    campaign, question = found
    return _editor(request, campaign, question, dict(question.texts), {})


@routes.post(
    rf"/listening/{SLUG}/questions/{{n:\d{{1,3}}}}", name="console.listening_question_save"
)
@signed_in
@_organisers
@refuses_bad_input
async def question_save(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    texts = {code: text(form, f"text-{code}", limit=2000) for code in LANGUAGES}
    slug, n = request.match_info["slug"], request.match_info["n"]
    async with request.app[DB].session() as session:
        found = await _question(session, slug, int(n) - 1)
        if found is None:
            return not_found(request)
        campaign, question = found
        try:
            await edit_question(
                session, question, texts, actor=viewer.actor, now=request.app[CLOCK].now()
            )
        except ListeningEditError as problem:
            errors = problem.errors
        else:
            errors = {}
    if errors:
        return _editor(request, campaign, question, texts, errors, status=400)
    raise see_other(url(request, "console.listening_question", slug=slug, n=n) + "?saved")


@routes.get(f"/listening/{SLUG}/themes.csv", name="console.listening_themes_csv")
@signed_in
async def themes_csv(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    out = io.StringIO(newline="")
    async with request.app[DB].session() as session:
        campaign = await _campaign(session, request.match_info["slug"])
        if campaign is None:
            return not_found(request)
        rows = export_themes(await theme_table(session, campaign, scope=_scope(viewer)), out)
        await record(
            session,
            viewer.actor,
            "listening_themes_exported",
            "listening_campaign",
            campaign.id,
            at=request.app[CLOCK].now(),
            details={"rows": rows},
        )
    return csv_download(out.getvalue(), f"{campaign.slug}-themes.csv")


@routes.get(f"/listening/{SLUG}/answers.csv", name="console.listening_answers_csv")
@signed_in
async def answers_csv(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    fields = [f for f in request.query.getall("field", []) if isinstance(f, str)] or list(
        DEFAULT_FIELDS
    )
    allowed = [f for f in EXPORT_FIELDS if viewer.roles.organiser or f not in PERSONAL_FIELDS]
    if len(fields) > len(EXPORT_FIELDS) or any(f not in allowed for f in fields):
        return bad_request(request, BadInput("choose fields from the list"))
    out = io.StringIO(newline="")
    async with request.app[DB].session() as session:
        campaign = await _campaign(session, request.match_info["slug"])
        if campaign is None:
            return not_found(request)
        rows = await export_answers(session, campaign, fields, out, scope=_scope(viewer))
        await record(
            session,
            viewer.actor,
            "listening_answers_exported",
            "listening_campaign",
            campaign.id,
            at=request.app[CLOCK].now(),
            details={"rows": rows, "fields": fields},
        )
    return csv_download(out.getvalue(), f"{campaign.slug}-answers.csv")


@routes.get(f"/listening/{SLUG}/follow-ups.csv", name="console.listening_follow_ups_csv")
@signed_in
async def follow_ups_csv(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    out = io.StringIO(newline="")
    export = CsvExport(out, ["name", "institutions", "campaign", "consented_at", "days_waiting"])
    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        campaign = await _campaign(session, request.match_info["slug"])
        if campaign is None:
            return not_found(request)
        for w in await waiting_for_follow_up(session, now, campaign=campaign, scope=_scope(viewer)):
            export.row(
                [w.name, w.institutions, w.campaign, w.consented_at.isoformat(), w.waited.days]
            )
        await record(
            session,
            viewer.actor,
            "listening_follow_ups_exported",
            "listening_campaign",
            campaign.id,
            at=now,
            details={"rows": export.rows},
        )
    return csv_download(out.getvalue(), f"{campaign.slug}-follow-ups.csv")


def install(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_nav(app, "Listening", "console.listening", 50)
