"""The theme table (the mandate): per theme, how many answers and people, per institution, with
quotes from people who consented; and its CSV export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.export import CsvExport
from storage.listening_reports.scope import Scope, institution_names, within_scope
from storage.listening_themes import label
from storage.models import (
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningCampaign,
    ListeningContact,
    ListeningTheme,
    Membership,
)
from storage.rollup import NO_INSTITUTION

QUOTES_PER_THEME = 3
QUOTE_MAX = 200


@dataclass
class Count:
    answers: int = 0
    people: int = 0


@dataclass
class ThemeRow:
    theme_id: int
    key: str
    label: str
    answers: int = 0
    people: int = 0
    # institution id (None: no institution) -> counts
    by_institution: dict[int | None, Count] = field(default_factory=dict)
    quotes: list[str] = field(default_factory=list)


@dataclass
class ThemeTable:
    campaign: ListeningCampaign
    rows: list[ThemeRow]  # most people first
    institutions: list[tuple[int, str]]
    answers: int
    people: int
    untagged: int
    show_no_institution: bool

    def row(self, key: str) -> ThemeRow:
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)


async def theme_table(
    session: AsyncSession,
    campaign: ListeningCampaign,
    *,
    scope: Scope = None,
    language: str = "en",
    quotes: int = 0,
) -> ThemeTable:
    """Per theme: answers and distinct people, per institution and for "no institution".
    With ``quotes`` (e.g. QUOTES_PER_THEME), that many representative quotes per theme from
    people who consented to a follow-up: ask for them only for an organiser's own screen or
    export, never for a message to a group chat."""
    a, at = ListeningAnswer, ListeningAnswerTheme
    in_scope = within_scope(a.person_id, scope)
    themes = list(
        await session.scalars(
            select(ListeningTheme)
            .where(ListeningTheme.campaign_id == campaign.id)
            .order_by(ListeningTheme.position, ListeningTheme.id)
        )
    )
    rows = {t.id: ThemeRow(t.id, t.key, label(t, language)) for t in themes}
    totals = await session.execute(
        select(at.theme_id, func.count(), func.count(func.distinct(a.person_id)))
        .join(a, a.id == at.answer_id)
        .where(a.campaign_id == campaign.id)
        .where(in_scope)
        .group_by(at.theme_id)
    )
    for theme_id, answers, people in totals:
        rows[theme_id].answers, rows[theme_id].people = int(answers), int(people)
    membership = Membership.institution_id
    per_institution = (
        select(at.theme_id, membership, func.count(), func.count(func.distinct(a.person_id)))
        .join(a, a.id == at.answer_id)
        .outerjoin(Membership, Membership.person_id == a.person_id)
        .where(a.campaign_id == campaign.id)
        .group_by(at.theme_id, membership)
    )
    if scope is not None:
        per_institution = per_institution.where(membership.in_(list(scope)))
    for theme_id, institution_id, answers, people in await session.execute(per_institution):
        rows[theme_id].by_institution[institution_id] = Count(int(answers), int(people))
    overall = (
        await session.execute(
            select(
                func.count(),
                func.count(func.distinct(a.person_id)),
                func.coalesce(func.sum(case((a.tag_source == "none", 1), else_=0)), 0),
            )
            .where(a.campaign_id == campaign.id)
            .where(in_scope)
        )
    ).one()
    if quotes:
        for row in rows.values():
            if row.answers:
                row.quotes = await _quotes(session, campaign.id, row.theme_id, scope, quotes)
    ordered = sorted(rows.values(), key=lambda r: (-r.people, -r.answers, r.label))
    return ThemeTable(
        campaign=campaign,
        rows=ordered,
        institutions=await institution_names(session, scope),
        answers=int(overall[0]),
        people=int(overall[1]),
        untagged=int(overall[2]),
        show_no_institution=scope is None,
    )


async def _quotes(
    session: AsyncSession, campaign_id: int, theme_id: int, scope: Scope, limit: int
) -> list[str]:
    """Representative: one per person, of a readable length, newest first."""
    a = ListeningAnswer
    candidates = await session.execute(
        select(a.person_id, a.body)
        .join(ListeningAnswerTheme, ListeningAnswerTheme.answer_id == a.id)
        .join(
            ListeningContact,
            and_(
                ListeningContact.campaign_id == a.campaign_id,
                ListeningContact.person_id == a.person_id,
            ),
        )
        .where(a.campaign_id == campaign_id)
        .where(ListeningAnswerTheme.theme_id == theme_id)
        .where(ListeningContact.consent == "yes")
        .where(within_scope(a.person_id, scope))
        .order_by(a.received_at.desc(), a.id.desc())
        .limit(limit * 20)
    )
    seen: set[int] = set()
    readable: list[str] = []
    short: list[str] = []
    for person_id, body in candidates:
        if person_id in seen:
            continue
        seen.add(person_id)
        text = " ".join(str(body).split())
        (readable if 30 <= len(text) <= 300 else short).append(_clip(text))
    return (readable + short)[:limit]


def _clip(text: str) -> str:
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 3].rstrip() + "..."


def export_themes(table: ThemeTable, out: TextIO) -> int:
    """CSV of theme counts: one row per theme and institution, plus no institution and total."""
    export = CsvExport(out, ["theme", "label", "institution", "answers", "people"])
    columns: list[tuple[int | None, str]] = list(table.institutions)
    if table.show_no_institution:
        columns.append((None, NO_INSTITUTION))
    for row in table.rows:
        for iid, name in columns:
            count = row.by_institution.get(iid, Count())
            export.row([row.key, row.label, name, count.answers, count.people])
        export.row([row.key, row.label, "Total", row.answers, row.people])
    return export.rows
