"""Leader links: a leader's own page for one action and one institution they lead, without an
account (bot/web/leader_link.py shows it). Who may have one is storage.roles.

A leader link is a capability link (storage/links.py, the one table ``capability_links``) of
kind "leader", with the leader in ``person_id`` and the institution in ``institution_id``: the
token is 32 random bytes (URL-safe base64) made there and shown once, in the URL; only its
SHA-256 is stored, so a copy of the database opens no page. A link works until it expires
(by default two days after the action ends: the headcount is entered at the door) and never
after it is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import links
from storage.models import Action, CapabilityLink, Institution, Invitation, Membership, Person

KIND = "leader"
# After the action ends, the link still works this long (late headcounts, the chase list).
AFTER_THE_ACTION = timedelta(days=2)
LINK_PATH = "/leader/"
NO_NAME = "(no name)"  # how the chase list shows someone we have no name for


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
    created_by_id: int | None = None,
) -> tuple[CapabilityLink, str]:
    """A new link and its token (the token is not kept: show it once)."""
    return await links.create_link(
        session,
        kind=KIND,
        action_id=action_id,
        institution_id=institution_id,
        person_id=person_id,
        created_by_id=created_by_id,
        expires_at=expires_at,
        now=now,
    )


@dataclass(frozen=True)
class OpenLink:
    """A link that works now, with what its page is about."""

    link: CapabilityLink
    leader: Person
    action: Action
    institution: Institution


async def open_link(session: AsyncSession, token: str, now: datetime) -> OpenLink | None:
    """The link ``token`` opens, if it still works (not revoked, not expired); else None: a
    wrong, revoked or expired token, or another kind of link's, all look the same."""
    if not links.TOKEN.fullmatch(token):
        return None
    row = (
        await session.execute(
            select(CapabilityLink, Person, Action, Institution)
            .join(Person, Person.id == CapabilityLink.person_id)
            .join(Action, Action.id == CapabilityLink.action_id)
            .join(Institution, Institution.id == CapabilityLink.institution_id)
            .where(CapabilityLink.token_hash == links.token_hash(token))
            .where(CapabilityLink.kind == KIND)
        )
    ).first()
    if row is None:
        return None
    link, person, action, institution = row
    if not links.is_live(link, now):
        return None
    return OpenLink(link, person, action, institution)


async def links_for(session: AsyncSession, action_id: int) -> list[tuple[CapabilityLink, str, str]]:
    """Every leader link of an action, newest first, with the leader's and the institution's
    names."""
    rows = await session.execute(
        select(CapabilityLink, Person.name, Institution.name)
        .join(Person, Person.id == CapabilityLink.person_id)
        .join(Institution, Institution.id == CapabilityLink.institution_id)
        .where(CapabilityLink.action_id == action_id)
        .where(CapabilityLink.kind == KIND)
        .order_by(CapabilityLink.id.desc())
    )
    return [(link, person, institution) for link, person, institution in rows]


async def revoke(session: AsyncSession, link_id: int, now: datetime) -> CapabilityLink | None:
    """Stop a leader link working (already revoked: unchanged). None when there is no such
    leader link (a board or steward link is not revoked here)."""
    link = await session.get(CapabilityLink, link_id)
    if link is None or link.kind != KIND:
        return None
    return await links.revoke_link(session, link_id, now)


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
