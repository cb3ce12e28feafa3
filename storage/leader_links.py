"""Leader links: a leader's own page for one action and one institution they lead, without an
account (bot/web/leader_link.py shows it). Rows only; who may have one is storage.roles.

The token is 32 random bytes (URL-safe base64) made here and shown once, in the URL; only its
SHA-256 is stored, so a copy of the database opens no page. A link works until it expires
(by default two days after the action ends: the headcount is entered at the door) and never
after it is revoked. Part A of issue 11 has a generic capability-link table (storage/links.py);
this one may be folded into it later.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action, Institution, Invitation, LeaderLink, Membership, Person

# After the action ends, the link still works this long (late headcounts, the chase list).
AFTER_THE_ACTION = timedelta(days=2)
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
LINK_PATH = "/leader/"
NO_NAME = "(no name)"  # how the chase list shows someone we have no name for


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def default_expiry(action: Action) -> datetime:
    return action.ends_at + AFTER_THE_ACTION


async def create_link(
    session: AsyncSession,
    *,
    person_id: int,
    action_id: int,
    institution_id: int,
    expires_at: datetime,
    now: datetime,
) -> tuple[LeaderLink, str]:
    """A new link and its token (the token is not kept: show it once)."""
    token = new_token()
    link = LeaderLink(
        token_hash=token_hash(token),
        person_id=person_id,
        action_id=action_id,
        institution_id=institution_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(link)
    await session.flush()
    return link, token


@dataclass(frozen=True)
class OpenLink:
    """A link that works now, with what its page is about."""

    link: LeaderLink
    leader: Person
    action: Action
    institution: Institution


async def open_link(session: AsyncSession, token: str, now: datetime) -> OpenLink | None:
    """The link ``token`` opens, if it still works (not revoked, not expired); else None: a
    wrong, revoked or expired token all look the same."""
    if not TOKEN.fullmatch(token):
        return None
    row = (
        await session.execute(
            select(LeaderLink, Person, Action, Institution)
            .join(Person, Person.id == LeaderLink.person_id)
            .join(Action, Action.id == LeaderLink.action_id)
            .join(Institution, Institution.id == LeaderLink.institution_id)
            .where(LeaderLink.token_hash == token_hash(token))
        )
    ).first()
    if row is None:
        return None
    link, person, action, institution = row
    if link.revoked_at is not None or link.expires_at <= now:
        return None
    return OpenLink(link, person, action, institution)


async def links_for(session: AsyncSession, action_id: int) -> list[tuple[LeaderLink, str, str]]:
    """Every link of an action, newest first, with the leader's and the institution's names."""
    rows = await session.execute(
        select(LeaderLink, Person.name, Institution.name)
        .join(Person, Person.id == LeaderLink.person_id)
        .join(Institution, Institution.id == LeaderLink.institution_id)
        .where(LeaderLink.action_id == action_id)
        .order_by(LeaderLink.id.desc())
    )
    return [(link, person, institution) for link, person, institution in rows]


async def revoke(session: AsyncSession, link_id: int, now: datetime) -> LeaderLink | None:
    """Stop a link working (already revoked: unchanged). None when there is no such link."""
    link = await session.get(LeaderLink, link_id)
    if link is not None and link.revoked_at is None:
        link.revoked_at = now
    return link


@dataclass(frozen=True)
class ChaseEntry:
    """One person on a leader's chase list: a name and a reply, never a number."""

    person_id: int
    name: str
    reply: str  # yes | maybe | no | none
    guests: int
    opted_out: bool


async def chase_list(
    session: AsyncSession, action_id: int, institution_id: int
) -> list[ChaseEntry]:
    """The institution's people invited to the action, not replied first, then maybe, yes, no;
    by name within each."""
    rows = await session.execute(
        select(Person.id, Person.name, Person.consent, Invitation.response, Invitation.guests)
        .join(Membership, Membership.person_id == Person.id)
        .join(Invitation, Invitation.person_id == Person.id)
        .where(Membership.institution_id == institution_id)
        .where(Invitation.action_id == action_id)
    )
    order = {None: 0, "maybe": 1, "yes": 2, "no": 3}
    entries = sorted(rows, key=lambda r: (order.get(r.response, 4), r.name.strip().lower(), r.id))
    return [
        ChaseEntry(
            r.id,
            r.name.strip() or NO_NAME,
            r.response or "none",
            r.guests,
            r.consent == "opted_out",
        )
        for r in entries
    ]


async def is_member(session: AsyncSession, person_id: int, institution_id: int) -> bool:
    found = await session.scalar(
        select(Membership.id)
        .where(Membership.person_id == person_id)
        .where(Membership.institution_id == institution_id)
    )
    return found is not None
