"""People as the console lists them: search, filters, one page at a time, and the export of
the same list. Nothing here knows HTTP; the viewer's scope is a :class:`storage.roles.Roles`
(``roles.sees``: a leader sees only the people of the institutions they lead).

    query = PeopleQuery(text="ann", institution_id=3, reply="waiting", action_id=7)
    page = await search_people(session, roles, query, page=1)
    page.rows, page.total, page.pages

A phone number is matched only when ``phones`` is true (organisers): a leader's search never
tells them whose number is whose, even by a hit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action, Institution, Invitation, Membership, Person
from storage.roles import Roles, sees

PAGE_SIZE = 50
REPLY_STATES = ("yes", "no", "maybe", "waiting", "not_invited")
REPLY_LABELS = {
    "yes": "Yes",
    "no": "No",
    "maybe": "Maybe",
    "waiting": "Not replied",
    "not_invited": "Not invited",
}
CONSENT_LABELS = {"opted_in": "Opted in", "opted_out": "Opted out (STOP)", "unknown": "Not asked"}


@dataclass(frozen=True)
class PeopleQuery:
    """What the organiser asked for; every field optional. ``reply`` needs ``action_id``."""

    text: str = ""
    institution_id: int | None = None
    language: str | None = None
    consent: str | None = None
    action_id: int | None = None
    reply: str | None = None


@dataclass
class PersonRow:
    id: int
    name: str
    phone: str | None  # None unless the viewer may see numbers
    language: str
    consent: str
    institutions: list[str] = field(default_factory=list)
    reply: str | None = None  # for the query's action: a REPLY_STATES value

    @property
    def consent_label(self) -> str:
        return CONSENT_LABELS.get(self.consent, self.consent)

    @property
    def reply_label(self) -> str:
        return REPLY_LABELS.get(self.reply or "", "")


@dataclass
class PeoplePage:
    rows: list[PersonRow]
    total: int
    page: int
    pages: int


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _filtered(roles: Roles, query: PeopleQuery, *, phones: bool) -> Select[int]:
    """The ids of the people the query finds, within what ``roles`` may see."""
    ids = select(Person.id).where(sees(roles, Person.id))
    text = " ".join(query.text.split())
    if text:
        words = [Person.name.ilike(f"%{word}%") for word in text.split()]
        match = and_(*words)
        digits = _digits(text)
        if phones and len(digits) >= 4:
            # 07700 900123 and +447700900123 both end in the national digits.
            tail = digits.lstrip("0")
            match = or_(match, Person.phone.like(f"%{tail}%"))
        ids = ids.where(match)
    if query.institution_id is not None:
        ids = ids.where(
            exists()
            .where(Membership.person_id == Person.id)
            .where(Membership.institution_id == query.institution_id)
        )
    if query.language:
        ids = ids.where(Person.language == query.language)
    if query.consent:
        ids = ids.where(Person.consent == query.consent)
    if query.action_id is not None and query.reply:
        invited = (
            select(Invitation.id)
            .where(Invitation.person_id == Person.id)
            .where(Invitation.action_id == query.action_id)
        )
        if query.reply == "not_invited":
            ids = ids.where(not_(invited.exists()))
        elif query.reply == "waiting":
            ids = ids.where(invited.where(Invitation.response.is_(None)).exists())
        else:
            ids = ids.where(invited.where(Invitation.response == query.reply).exists())
    return ids


async def _rows(
    session: AsyncSession, ids: list[int], query: PeopleQuery, *, phones: bool
) -> list[PersonRow]:
    if not ids:
        return []
    people = (
        await session.execute(
            select(Person.id, Person.name, Person.phone, Person.language, Person.consent)
            .where(Person.id.in_(ids))
            .order_by(Person.name, Person.id)
        )
    ).all()
    rows = {
        pid: PersonRow(pid, name, phone if phones else None, language, consent)
        for pid, name, phone, language, consent in people
    }
    memberships = await session.execute(
        select(Membership.person_id, Institution.name)
        .join(Institution, Institution.id == Membership.institution_id)
        .where(Membership.person_id.in_(ids))
        .order_by(Institution.name)
    )
    for pid, name in memberships:
        rows[pid].institutions.append(name)
    if query.action_id is not None:
        for row in rows.values():
            row.reply = "not_invited"
        replies = await session.execute(
            select(Invitation.person_id, Invitation.response)
            .where(Invitation.action_id == query.action_id)
            .where(Invitation.person_id.in_(ids))
        )
        for pid, response in replies:
            rows[pid].reply = response or "waiting"
    return list(rows.values())


async def search_people(
    session: AsyncSession, roles: Roles, query: PeopleQuery, *, page: int = 1
) -> PeoplePage:
    """One page of the people ``query`` finds, by name (``roles.organiser``: numbers too)."""
    phones = roles.organiser
    ids = _filtered(roles, query, phones=phones).subquery()

    async def one_page(number: int) -> list[tuple[int, int]]:
        # The page and the number found in one pass (a window count): a search is one scan.
        found = await session.execute(
            select(Person.id, func.count().over())
            .where(Person.id.in_(select(ids.c.id)))
            .order_by(Person.name, Person.id)
            .limit(PAGE_SIZE)
            .offset((number - 1) * PAGE_SIZE)
        )
        return [(int(pid), int(n)) for pid, n in found]

    page = max(1, page)
    found = await one_page(page)
    if found:
        total = found[0][1]
    else:  # nobody, or a page past the last one: count, then show the last page
        total = int(await session.scalar(select(func.count()).select_from(ids)) or 0)
        if total and page > 1:
            page = max(1, -(-total // PAGE_SIZE))
            found = await one_page(page)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    chosen = [pid for pid, _n in found]
    return PeoplePage(await _rows(session, chosen, query, phones=phones), total, page, pages)


async def all_people(
    session: AsyncSession, roles: Roles, query: PeopleQuery, *, batch: int = 1000
) -> AsyncIterator[PersonRow]:
    """Everyone ``query`` finds, a batch at a time (the export)."""
    phones = roles.organiser
    ids = list(
        await session.scalars(
            select(Person.id)
            .where(Person.id.in_(_filtered(roles, query, phones=phones)))
            .order_by(Person.name, Person.id)
        )
    )
    for start in range(0, len(ids), batch):
        for row in await _rows(session, ids[start : start + batch], query, phones=phones):
            yield row


async def visible_person(session: AsyncSession, roles: Roles, person_id: int) -> Person | None:
    """The person, if ``roles`` may see them (else None, exactly as if they did not exist)."""
    return await session.scalar(
        select(Person).where(Person.id == person_id).where(sees(roles, Person.id))
    )


async def action_choices(session: AsyncSession, *, limit: int = 50) -> list[tuple[int, str]]:
    """Actions a reply-state filter can name, newest first: (id, title)."""
    rows = await session.execute(
        select(Action.id, Action.title, Action.slug).order_by(Action.starts_at.desc()).limit(limit)
    )
    return [(aid, f"{title} ({slug})") for aid, title, slug in rows]
