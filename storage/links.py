"""Capability links: a web address that opens one page without an account (an action's board,
a steward's phone page; a leader's page, issue 11 part B). Whoever holds the link may use it,
so the token is long and random (256 bits), only its SHA-256 is stored, and a link can be
revoked (or expire) at once.

    link, token = await create_link(session, kind="board", action_id=7, now=now)
    # show f"/board/{token}" once; later:
    found = await open_link(session, token, "board", now)   # None: unknown, revoked, expired
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import LINK_KINDS, CapabilityLink

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class LinkError(ValueError):
    """The link cannot be made as asked; the message says why."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_link(
    session: AsyncSession,
    *,
    kind: str,
    action_id: int,
    now: datetime,
    created_by_id: int | None = None,
    institution_id: int | None = None,
    person_id: int | None = None,
    label: str = "",
    expires_at: datetime | None = None,
) -> tuple[CapabilityLink, str]:
    """A new link and its token (shown once: only its hash is kept)."""
    if kind not in LINK_KINDS:
        raise LinkError(f"unknown kind of link {kind!r}: expected one of {', '.join(LINK_KINDS)}")
    token = secrets.token_urlsafe(32)
    link = CapabilityLink(
        kind=kind,
        token_hash=token_hash(token),
        action_id=action_id,
        institution_id=institution_id,
        person_id=person_id,
        label=" ".join(label.split())[:100],
        created_by_id=created_by_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(link)
    await session.flush()
    return link, token


def is_live(link: CapabilityLink, now: datetime) -> bool:
    return link.revoked_at is None and (link.expires_at is None or link.expires_at > now)


async def open_link(
    session: AsyncSession, token: str, kinds: str | Collection[str], now: datetime
) -> CapabilityLink | None:
    """The live link of one of ``kinds`` this token opens (None: malformed, unknown, another
    kind, revoked or expired: all answered alike)."""
    if not TOKEN.fullmatch(token):
        return None
    wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    link = await session.scalar(
        select(CapabilityLink).where(CapabilityLink.token_hash == token_hash(token))
    )
    if link is None or link.kind not in wanted or not is_live(link, now):
        return None
    return link


async def links_for(
    session: AsyncSession, action_id: int, kinds: Collection[str]
) -> list[CapabilityLink]:
    """The action's links of these kinds, newest first (revoked ones too)."""
    return list(
        await session.scalars(
            select(CapabilityLink)
            .where(CapabilityLink.action_id == action_id)
            .where(CapabilityLink.kind.in_(list(kinds)))
            .order_by(CapabilityLink.id.desc())
        )
    )


async def revoke_link(
    session: AsyncSession, link_id: int, now: datetime, *, action_id: int | None = None
) -> CapabilityLink | None:
    """Stop the link working (None: no such link, for this action). Revoking twice keeps the
    first time."""
    link = await session.get(CapabilityLink, link_id)
    if link is None or (action_id is not None and link.action_id != action_id):
        return None
    if link.revoked_at is None:
        link.revoked_at = now
    await session.flush()
    return link
