"""The console's sign-in records: one-time codes and links, attempts, sessions.

Everything takes a session and ``now`` (the injected clock's); nothing here knows HTTP. A
token (a browser's pending sign-in, a link, a session) is made here, returned once in clear,
and only its SHA-256 is stored. A code's hash is bound to its browser's token, so the stored
hash of a six-digit code cannot be reversed without the cookie that never reaches the
database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from storage.models import ConsoleSession, Person, SignInAttempt, SignInCode

CODE_DIGITS = 6
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session
CLIENT_FACTOR = 4  # a client address may make this many times a person's attempts
KEEP = timedelta(days=7)  # ended sessions, used codes and old attempts are pruned after this


@dataclass(frozen=True)
class Policy:
    """The limits, from settings (TURNOUT_CONSOLE_*)."""

    code_ttl: timedelta
    link_ttl: timedelta
    max_attempts: int  # codes asked for, and wrong codes, per person per window
    window: timedelta
    idle: timedelta
    max_age: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            code_ttl=timedelta(minutes=settings.console_code_minutes),
            link_ttl=timedelta(minutes=settings.console_link_minutes),
            max_attempts=settings.console_max_attempts,
            window=timedelta(minutes=settings.console_lockout_minutes),
            idle=timedelta(hours=settings.console_session_idle_hours),
            max_age=timedelta(days=settings.console_session_max_days),
        )

    @property
    def client_max(self) -> int:
        return self.max_attempts * CLIENT_FACTOR


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(token: str, code: str) -> str:
    return hashlib.sha256(f"{token}:{code}".encode()).hexdigest()


def normalise_code(text: str) -> str:
    """``123 456`` or ``123-456`` as typed from a text: the digits."""
    return "".join(ch for ch in text if ch.isdigit())


def client_key(address: str) -> str:
    """How a client address is counted (its hash: the address itself is not kept)."""
    return hashlib.sha256(f"client:{address}".encode()).hexdigest()


# -- attempts -------------------------------------------------------------------------------


async def note_attempt(
    session: AsyncSession, kind: str, *, now: datetime, person_id: int | None, client: str
) -> None:
    session.add(SignInAttempt(at=now, kind=kind, person_id=person_id, client=client))
    await session.flush()


async def attempts(
    session: AsyncSession,
    kind: str,
    *,
    since: datetime,
    person_id: int | None = None,
    client: str | None = None,
) -> int:
    """How many attempts of ``kind`` since ``since``, by one person or from one client."""
    query = (
        select(func.count())
        .select_from(SignInAttempt)
        .where(SignInAttempt.kind == kind)
        .where(SignInAttempt.at > since)
    )
    if person_id is not None:
        query = query.where(SignInAttempt.person_id == person_id)
    if client is not None:
        query = query.where(SignInAttempt.client == client)
    return int(await session.scalar(query) or 0)


# -- codes and links ------------------------------------------------------------------------


async def create_code(
    session: AsyncSession,
    *,
    person: Person | None,
    channel: str,
    client: str,
    now: datetime,
    policy: Policy,
) -> tuple[str, str | None, SignInCode]:
    """A pending sign-in for a browser: its token, the code (None when ``person`` is None:
    the number is nobody who may sign in, and no code exists) and the row."""
    token = new_token()
    code = new_code() if person is not None else None
    row = SignInCode(
        token_hash=token_hash(token),
        kind="code",
        person_id=person.id if person is not None else None,
        code_hash=code_hash(token, code) if code is not None else None,
        channel=channel,
        client=client,
        created_at=now,
        expires_at=now + policy.code_ttl,
        wrong_attempts=0,
    )
    session.add(row)
    await session.flush()
    return token, code, row


async def create_link(
    session: AsyncSession, *, person: Person, now: datetime, policy: Policy
) -> tuple[str, SignInCode]:
    token = new_token()
    row = SignInCode(
        token_hash=token_hash(token),
        kind="link",
        person_id=person.id,
        channel="",
        client="",
        created_at=now,
        expires_at=now + policy.link_ttl,
        wrong_attempts=0,
    )
    session.add(row)
    await session.flush()
    return token, row


async def find_sign_in(session: AsyncSession, kind: str, token: str) -> SignInCode | None:
    """The code or link row for a token, used or not, expired or not."""
    if not token:
        return None
    return await session.scalar(
        select(SignInCode)
        .where(SignInCode.token_hash == token_hash(token))
        .where(SignInCode.kind == kind)
    )


def is_open(row: SignInCode, now: datetime) -> bool:
    return row.used_at is None and row.expires_at > now


async def use(session: AsyncSession, row: SignInCode, now: datetime) -> bool:
    """Mark it used, once: of two browsers racing with one code or link, exactly one wins."""
    result: Any = await session.execute(
        update(SignInCode)
        .where(SignInCode.id == row.id)
        .where(SignInCode.used_at.is_(None))
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return False
    row.used_at = now
    return True


async def void_codes(session: AsyncSession, person_id: int, now: datetime) -> None:
    """Every open code of this person stops working (a lockout)."""
    await session.execute(
        update(SignInCode)
        .where(SignInCode.person_id == person_id)
        .where(SignInCode.kind == "code")
        .where(SignInCode.used_at.is_(None))
        .values(used_at=now)
    )


# -- sessions -------------------------------------------------------------------------------


async def open_session(
    session: AsyncSession,
    *,
    person_id: int,
    method: str,
    user_agent: str,
    now: datetime,
    policy: Policy,
) -> tuple[str, ConsoleSession]:
    token = new_token()
    row = ConsoleSession(
        token_hash=token_hash(token),
        person_id=person_id,
        method=method,
        user_agent=user_agent[:100],
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + policy.idle, now + policy.max_age),
    )
    session.add(row)
    await session.flush()
    return token, row


def _live(now: datetime) -> Any:
    return (ConsoleSession.revoked_at.is_(None)) & (ConsoleSession.expires_at > now)


async def session_for(
    session: AsyncSession, token: str, now: datetime
) -> tuple[ConsoleSession, Person] | None:
    """The live session (not revoked, not expired) a cookie's token names, with its person."""
    if not token:
        return None
    found = (
        await session.execute(
            select(ConsoleSession, Person)
            .join(Person, Person.id == ConsoleSession.person_id)
            .where(ConsoleSession.token_hash == token_hash(token))
            .where(_live(now))
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def touch(session: AsyncSession, row: ConsoleSession, now: datetime, policy: Policy) -> bool:
    """Slide the idle timeout (never past the absolute maximum). Written at most once per
    SEEN_EVERY: a page view is a read, not a write, most of the time."""
    if now - row.last_seen_at < SEEN_EVERY:
        return False
    expires = min(now + policy.idle, row.created_at + policy.max_age)
    result: Any = await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == row.id)
        .where(ConsoleSession.last_seen_at <= now - SEEN_EVERY)
        .values(last_seen_at=now, expires_at=expires)
    )
    if result.rowcount == 1:
        row.last_seen_at, row.expires_at = now, expires
    return bool(result.rowcount == 1)


async def live_sessions(
    session: AsyncSession, person_id: int, now: datetime
) -> list[ConsoleSession]:
    """A person's live sessions, most recently used first."""
    return list(
        await session.scalars(
            select(ConsoleSession)
            .where(ConsoleSession.person_id == person_id)
            .where(_live(now))
            .order_by(ConsoleSession.last_seen_at.desc(), ConsoleSession.id.desc())
        )
    )


async def revoke(
    session: AsyncSession,
    *,
    person_id: int,
    now: datetime,
    reason: str,
    only: int | None = None,
    keep: int | None = None,
) -> list[int]:
    """End the person's live sessions (just ``only``, or all but ``keep``); their ids."""
    query = select(ConsoleSession.id).where(ConsoleSession.person_id == person_id).where(_live(now))
    if only is not None:
        query = query.where(ConsoleSession.id == only)
    if keep is not None:
        query = query.where(ConsoleSession.id != keep)
    ids = list(await session.scalars(query))
    if ids:
        await session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id.in_(ids))
            .values(revoked_at=now, revoked_reason=reason)
        )
    return ids


async def prune(session: AsyncSession, now: datetime) -> None:
    """Forget what no longer matters: attempts, codes and sessions that ended over KEEP ago."""
    cutoff = now - KEEP
    await session.execute(delete(SignInAttempt).where(SignInAttempt.at < cutoff))
    await session.execute(delete(SignInCode).where(SignInCode.expires_at < cutoff))
    await session.execute(
        delete(ConsoleSession).where(
            or_(ConsoleSession.expires_at < cutoff, ConsoleSession.revoked_at < cutoff)
        )
    )
