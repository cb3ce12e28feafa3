"""What listening adds up to: the theme table (the mandate), the follow-up pipeline, who waits
for a follow-up, answer lists and CSV exports, and the digest's listening section.

Counting rules, shared by every view:

* A person in two institutions counts in both rows (each institution listened to them); people
  in no institution have their own "No institution" row; totals count each person once.
* ``scope`` (a list of institution ids) is what a leader may see: only people in those
  institutions, and no "No institution" row. ``None`` is an organiser's view: everyone.
* Quotes come only from people who said yes to being followed up, and never carry a name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import Select, and_, case, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.export import CsvExport
from storage.listening_themes import label
from storage.models import (
    Action,
    Attendance,
    Institution,
    Invitation,
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningCampaign,
    ListeningContact,
    ListeningFollowUp,
    ListeningQuestion,
    ListeningTheme,
    Membership,
    Person,
)
from storage.rollup import NO_INSTITUTION

QUOTES_PER_THEME = 3
QUOTE_MAX = 200
Scope = Sequence[int] | None


def _in_scope(person_col: Any, scope: Scope) -> ColumnElement[bool]:
    if scope is None:
        return true()
    return (
        exists()
        .where(Membership.person_id == person_col)
        .where(Membership.institution_id.in_(list(scope)))
    )


async def _institution_names(session: AsyncSession, scope: Scope) -> list[tuple[int, str]]:
    query = select(Institution.id, Institution.name).order_by(Institution.name)
    if scope is not None:
        query = query.where(Institution.id.in_(list(scope)))
    else:
        query = query.where(Institution.status != "former")
    return [(int(i), str(n)) for i, n in await session.execute(query)]


# -- themes -------------------------------------------------------------------------------------


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
    in_scope = _in_scope(a.person_id, scope)
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
        institutions=await _institution_names(session, scope),
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
        .where(_in_scope(a.person_id, scope))
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


# -- pipeline -----------------------------------------------------------------------------------


@dataclass
class PipelineRow:
    """listened -> consented -> followed up -> came to an action (each step a subset of the
    one before). ``coming``: followed-up people with a YES to an action still ahead."""

    key: int | None
    label: str
    listened: int = 0
    consented: int = 0
    followed_up: int = 0
    came: int = 0
    coming: int = 0

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return None if whole == 0 else part / whole

    @property
    def consent_rate(self) -> float | None:
        return self.rate(self.consented, self.listened)

    @property
    def follow_up_rate(self) -> float | None:
        return self.rate(self.followed_up, self.consented)

    @property
    def came_rate(self) -> float | None:
        return self.rate(self.came, self.followed_up)


@dataclass
class Pipeline:
    rows: list[PipelineRow]
    no_institution: PipelineRow | None
    total: PipelineRow
    target: int | None = None


def _pipeline_select(now: datetime, group: Any | None) -> Select[Any]:
    """Counts over listened-to contacts, grouped by ``group`` (first column) if given."""
    c = ListeningContact
    followed = (
        select(ListeningFollowUp.campaign_id, ListeningFollowUp.person_id)
        .group_by(ListeningFollowUp.campaign_id, ListeningFollowUp.person_id)
        .subquery("followed")
    )
    attended = (
        select(Attendance.person_id, func.max(Attendance.at).label("last_at"))
        .group_by(Attendance.person_id)
        .subquery("attended")
    )
    coming = (
        select(Invitation.person_id, func.max(Invitation.responded_at).label("yes_at"))
        .join(Action, Action.id == Invitation.action_id)
        .where(Invitation.response == "yes")
        .where(Action.status == "scheduled")
        .where(Action.ends_at > now)
        .group_by(Invitation.person_id)
        .subquery("coming")
    )
    consented = c.consent == "yes"
    was_followed = and_(consented, followed.c.person_id.is_not(None))
    came = and_(
        was_followed,
        attended.c.last_at.is_not(None),
        attended.c.last_at >= c.first_answer_at,
    )
    will_come = and_(was_followed, ~came, coming.c.person_id.is_not(None))

    def total(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    counts = [func.count(), total(consented), total(was_followed), total(came), total(will_come)]
    query = (
        select(*([] if group is None else [group]), *counts)
        .select_from(c)
        .outerjoin(
            followed,
            and_(followed.c.campaign_id == c.campaign_id, followed.c.person_id == c.person_id),
        )
        .outerjoin(attended, attended.c.person_id == c.person_id)
        .outerjoin(coming, coming.c.person_id == c.person_id)
        .where(c.first_answer_at.is_not(None))
    )
    return query if group is None else query.group_by(group)


def _fill(row: PipelineRow, values: Sequence[Any]) -> PipelineRow:
    row.listened, row.consented, row.followed_up, row.came, row.coming = (int(v) for v in values)
    return row


async def pipeline(
    session: AsyncSession,
    now: datetime,
    *,
    campaign: ListeningCampaign | None = None,
    scope: Scope = None,
) -> Pipeline:
    """The follow-up pipeline per institution, for one campaign or all of them (then a person
    listened to in two campaigns counts in each)."""
    c = ListeningContact
    by_institution = _pipeline_select(now, Membership.institution_id).outerjoin(
        Membership, Membership.person_id == c.person_id
    )
    overall = _pipeline_select(now, None).where(_in_scope(c.person_id, scope))
    if campaign is not None:
        by_institution = by_institution.where(c.campaign_id == campaign.id)
        overall = overall.where(c.campaign_id == campaign.id)
    if scope is not None:
        by_institution = by_institution.where(Membership.institution_id.in_(list(scope)))
    found = {row[0]: row[1:] for row in await session.execute(by_institution)}
    rows = [
        _fill(PipelineRow(iid, name), found.get(iid, (0, 0, 0, 0, 0)))
        for iid, name in await _institution_names(session, scope)
    ]
    no_institution = None
    if scope is None:
        no_institution = _fill(PipelineRow(None, NO_INSTITUTION), found.get(None, (0,) * 5))
    total = _fill(PipelineRow(None, "Total"), (await session.execute(overall)).one())
    return Pipeline(rows, no_institution, total, campaign.target if campaign else None)


async def pipeline_by_campaign(
    session: AsyncSession, now: datetime, *, scope: Scope = None
) -> list[tuple[ListeningCampaign, PipelineRow]]:
    c = ListeningContact
    query = _pipeline_select(now, c.campaign_id).where(_in_scope(c.person_id, scope))
    found = {row[0]: row[1:] for row in await session.execute(query)}
    campaigns = await session.scalars(
        select(ListeningCampaign).order_by(ListeningCampaign.starts_at.desc())
    )
    return [
        (camp, _fill(PipelineRow(camp.id, camp.title), found.get(camp.id, (0,) * 5)))
        for camp in campaigns
    ]


@dataclass
class Waiting:
    person_id: int
    name: str
    institutions: str
    campaign: str
    consented_at: datetime
    waited: timedelta


async def waiting_for_follow_up(
    session: AsyncSession,
    now: datetime,
    *,
    campaign: ListeningCampaign | None = None,
    scope: Scope = None,
) -> list[Waiting]:
    """People who said yes to a follow-up and have not had one, longest wait first."""
    c = ListeningContact
    query = (
        select(c.person_id, Person.name, ListeningCampaign.slug, c.consent_at)
        .join(Person, Person.id == c.person_id)
        .join(ListeningCampaign, ListeningCampaign.id == c.campaign_id)
        .where(c.consent == "yes")
        .where(
            ~exists()
            .where(ListeningFollowUp.campaign_id == c.campaign_id)
            .where(ListeningFollowUp.person_id == c.person_id)
        )
        .where(_in_scope(c.person_id, scope))
        .order_by(c.consent_at, c.id)
    )
    if campaign is not None:
        query = query.where(c.campaign_id == campaign.id)
    rows = (await session.execute(query)).all()
    names = await institution_names_for(session, [int(r[0]) for r in rows])
    out = []
    for pid, name, slug, consented_at in rows:
        since = consented_at or now
        institutions = names.get(int(pid), NO_INSTITUTION)
        out.append(Waiting(int(pid), str(name), institutions, str(slug), since, now - since))
    return out


async def institution_names_for(session: AsyncSession, person_ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    ids = list(dict.fromkeys(person_ids))
    for start in range(0, len(ids), 1000):
        rows = await session.execute(
            select(Membership.person_id, Institution.name)
            .join(Institution, Institution.id == Membership.institution_id)
            .where(Membership.person_id.in_(ids[start : start + 1000]))
            .order_by(Institution.name)
        )
        for pid, name in rows:
            out.setdefault(int(pid), []).append(str(name))
    return {pid: "; ".join(names) for pid, names in out.items()}


# -- answers ------------------------------------------------------------------------------------


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
        .where(_in_scope(a.person_id, scope))
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


# -- the digest's listening section ---------------------------------------------------------------


@dataclass
class ListeningSummary:
    """For the organisers' daily digest: counts only, never what anyone said."""

    new_answers: int
    new_people: int
    top_themes: list[tuple[str, int, int]]  # label, people, of whom new since yesterday
    waiting: int
    oldest_wait: timedelta | None
    campaigns: list[tuple[str, int, int | None]]  # title, people listened to, target

    def __bool__(self) -> bool:
        return bool(self.new_answers or self.waiting or self.campaigns)

    def lines(self) -> list[str]:
        """Plain English lines, for the digest's text body."""
        if not self:
            return []
        out = ["Listening"]
        for title, listened, target in self.campaigns:
            out.append(f"{title}: {listened} listened to" + (f" of {target}" if target else ""))
        out.append(f"New answers since yesterday: {self.new_answers} from {self.new_people} people")
        if self.top_themes:
            themes = ", ".join(f"{lab} {people} (+{new})" for lab, people, new in self.top_themes)
            out.append(f"Top themes (people): {themes}")
        if self.waiting:
            days = self.oldest_wait.days if self.oldest_wait else 0
            out.append(f"Waiting for a follow-up: {self.waiting}, longest {days} days")
        return out


async def listening_summary(
    session: AsyncSession, now: datetime, *, top: int = 3, scope: Scope = None
) -> ListeningSummary:
    """New answers in the last 24 hours, the top themes of the campaigns still open (or closed
    in the last week), and the follow-ups waiting."""
    since = now - timedelta(days=1)
    a = ListeningAnswer
    new = (
        await session.execute(
            select(func.count(), func.count(func.distinct(a.person_id)))
            .where(a.received_at >= since)
            .where(_in_scope(a.person_id, scope))
        )
    ).one()
    live = select(ListeningCampaign).where(
        or_(
            ListeningCampaign.status == "open",
            ListeningCampaign.closed_at >= now - timedelta(days=7),
        )
    )
    campaigns = list(await session.scalars(live.order_by(ListeningCampaign.starts_at)))
    ids = [c.id for c in campaigns]
    listened = dict(
        (
            await session.execute(
                select(ListeningContact.campaign_id, func.count())
                .where(ListeningContact.campaign_id.in_(ids))
                .where(ListeningContact.first_answer_at.is_not(None))
                .where(_in_scope(ListeningContact.person_id, scope))
                .group_by(ListeningContact.campaign_id)
            )
        ).all()
    )
    labels = {
        str(key): (labels or {}).get("en") or str(key)
        for key, labels in await session.execute(
            select(ListeningTheme.key, ListeningTheme.labels).where(
                ListeningTheme.campaign_id.in_(ids)
            )
        )
    }
    # JSON cannot be grouped on PostgreSQL: group by key, labels looked up above.
    themes = await session.execute(
        select(
            ListeningTheme.key,
            func.count(func.distinct(a.person_id)),
            func.count(func.distinct(case((a.received_at >= since, a.person_id)))),
        )
        .join(ListeningAnswerTheme, ListeningAnswerTheme.theme_id == ListeningTheme.id)
        .join(a, a.id == ListeningAnswerTheme.answer_id)
        .where(ListeningTheme.campaign_id.in_(ids))
        .where(_in_scope(a.person_id, scope))
        .group_by(ListeningTheme.key)
    )
    merged: dict[str, list[Any]] = {}
    for key, people, fresh in themes:
        entry = merged.setdefault(str(key), [labels.get(str(key), key), 0, 0])
        entry[1] += int(people)
        entry[2] += int(fresh)
    ranked = sorted(merged.values(), key=lambda e: (-e[1], e[0]))[:top]
    waiting = await waiting_for_follow_up(session, now, scope=scope)
    return ListeningSummary(
        new_answers=int(new[0]),
        new_people=int(new[1]),
        top_themes=[(str(lab), int(p), int(n)) for lab, p, n in ranked],
        waiting=len(waiting),
        oldest_wait=waiting[0].waited if waiting else None,
        campaigns=[(c.title, int(listened.get(c.id, 0)), c.target) for c in campaigns],
    )
