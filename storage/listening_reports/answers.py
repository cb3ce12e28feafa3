"""Answer lists (names, never phone numbers, unless a field asks for them) and the answers' CSV
export, with exactly the fields asked for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.export import CsvExport
from storage.listening_reports.scope import Scope, institution_names_for, within_scope
from storage.models import (
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningCampaign,
    ListeningContact,
    ListeningQuestion,
    ListeningTheme,
    Person,
)
from storage.rollup import NO_INSTITUTION


@dataclass
class AnswerView:
    id: int
    person_id: int
    name: str
    phone: str | None
    institutions: str
    question: int | None  # 1-based; None for a conversation or an attached message
    body: str
    themes: list[str]
    tag_source: str
    language: str
    source: str
    consent: str | None
    received_at: datetime


async def list_answers(
    session: AsyncSession,
    campaign: ListeningCampaign,
    *,
    scope: Scope = None,
    untagged: bool = False,
    theme_key: str | None = None,
    limit: int | None = None,
    after_id: int = 0,
) -> list[AnswerView]:
    a = ListeningAnswer
    query = (
        select(a, Person.name, Person.phone, ListeningQuestion.position, ListeningContact.consent)
        .join(Person, Person.id == a.person_id)
        .outerjoin(ListeningQuestion, ListeningQuestion.id == a.question_id)
        .outerjoin(
            ListeningContact,
            and_(
                ListeningContact.campaign_id == a.campaign_id,
                ListeningContact.person_id == a.person_id,
            ),
        )
        .where(a.campaign_id == campaign.id)
        .where(a.id > after_id)
        .where(within_scope(a.person_id, scope))
        .order_by(a.id)
    )
    if untagged:
        query = query.where(a.tag_source == "none")
    if theme_key is not None:
        query = query.where(
            exists()
            .where(ListeningAnswerTheme.answer_id == a.id)
            .where(ListeningAnswerTheme.theme_id == ListeningTheme.id)
            .where(ListeningTheme.key == theme_key)
            .where(ListeningTheme.campaign_id == campaign.id)
        )
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).all()
    ids = [row[0].id for row in rows]
    themes: dict[int, list[str]] = {}
    for start in range(0, len(ids), 1000):
        links = await session.execute(
            select(ListeningAnswerTheme.answer_id, ListeningTheme.key)
            .join(ListeningTheme, ListeningTheme.id == ListeningAnswerTheme.theme_id)
            .where(ListeningAnswerTheme.answer_id.in_(ids[start : start + 1000]))
            .order_by(ListeningTheme.position)
        )
        for answer_id, key in links:
            themes.setdefault(int(answer_id), []).append(str(key))
    names = await institution_names_for(session, [row[0].person_id for row in rows])
    return [
        AnswerView(
            id=answer.id,
            person_id=answer.person_id,
            name=str(name),
            phone=phone,
            institutions=names.get(answer.person_id, NO_INSTITUTION),
            question=None if position is None else int(position) + 1,
            body=answer.body,
            themes=themes.get(answer.id, []),
            tag_source=answer.tag_source,
            language=answer.language,
            source=answer.source,
            consent=consent,
            received_at=answer.received_at,
        )
        for answer, name, phone, position, consent in rows
    ]


EXPORT_FIELDS: dict[str, Callable[[AnswerView], object]] = {
    "answer_id": lambda v: v.id,
    "received_at": lambda v: v.received_at.isoformat(),
    "question": lambda v: "" if v.question is None else v.question,
    "text": lambda v: v.body,
    "themes": lambda v: ";".join(v.themes),
    "tagged_by": lambda v: v.tag_source,
    "institution": lambda v: v.institutions,
    "language": lambda v: v.language,
    "source": lambda v: v.source,
    "consent": lambda v: v.consent or "",
    "person_id": lambda v: v.person_id,
    "name": lambda v: v.name,
    "phone": lambda v: v.phone or "",
}


def check_fields(fields: Sequence[str]) -> list[str]:
    unknown = [f for f in fields if f not in EXPORT_FIELDS]
    if unknown or not fields:
        raise ValueError(
            f"unknown or missing fields {unknown}: choose from {', '.join(EXPORT_FIELDS)}"
        )
    return list(fields)


async def export_answers(
    session: AsyncSession,
    campaign: ListeningCampaign,
    fields: Sequence[str],
    out: TextIO,
    *,
    scope: Scope = None,
    batch: int = 2000,
) -> int:
    """CSV of the campaign's answers with exactly ``fields`` (nothing else leaves)."""
    fields = check_fields(fields)
    export = CsvExport(out, fields)
    after = 0
    while True:
        views = await list_answers(session, campaign, scope=scope, limit=batch, after_id=after)
        if not views:
            return export.rows
        for view in views:
            export.row(EXPORT_FIELDS[f](view) for f in fields)
        after = views[-1].id
