"""Who may open the console, and the sessions it opens: the use cases behind the sign-in pages,
"Your sessions" and ``turnout organisers`` (no HTTP here: the pages call these).

Sign-in without passwords. A person who may sign in (an organiser, or a leader: one rule,
storage.roles) asks for a code with their phone number; a six-digit code is queued to them
on their own channel (Telegram if linked, else SMS), kind ``system``: ahead of bulk sends and
not held by quiet hours. Whatever the number, the browser gets the same answer and a pending
sign-in to type the code into; for a number that is nobody who may sign in (or is opted out,
unreachable, over its limit or locked out) no code exists, so every code is wrong.

Limits, counted in the database with the injected clock over the lockout window: a person gets
at most ``max_attempts`` codes and ``max_attempts`` wrong tries (then every open code is void
and they are locked out until the window has passed); one client address four times that.
A pending sign-in allows ``max_attempts`` wrong tries too, so a number nobody owns locks out
the same way a real one does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from storage import console as store
from storage import keys
from storage.audit import Actor, record
from storage.models import ConsoleSession, Person
from storage.outbox import Draft, Envelope, address_for, enqueue
from storage.people import new_person, person_by_phone
from storage.roles import ORGANISER, Roles, roles_of

SIGN_IN_LINK_PATH = "/sign-in/link/"
CODE_TEMPLATE = "signin_code"


@dataclass(frozen=True)
class Asked:
    """What asking for a code did. ``token`` is None when the client is over its limit
    (nothing was done); otherwise the browser keeps it to type the code against."""

    token: str | None
    outcome: str  # sent | unknown | not_allowed | opted_out | unreachable | throttled | locked
    channel: str = ""


def code_channel(person: Person) -> str | None:
    """Telegram if the person has linked it, else SMS, else none."""
    for channel in ("telegram", "sms"):
        if address_for(person, channel) is not None:
            return channel
    return None


async def ask_for_code(
    session: AsyncSession, settings: Settings, *, phone: str, client: str, now: datetime
) -> Asked:
    policy = store.Policy.from_settings(settings)
    since = now - policy.window
    await store.prune(session, now)
    if (
        await store.attempts(session, "request", since=since, client=client) >= policy.client_max
        or await store.attempts(session, "wrong_code", since=since, client=client)
        >= policy.client_max
    ):
        await record(
            session,
            Actor.anonymous("web"),
            "sign_in_locked",
            "person",
            None,
            at=now,
            details={"limit": "client"},
        )
        return Asked(None, "client_limit")
    person = await person_by_phone(session, phone)
    roles = await roles_of(session, person)
    channel = None
    if person is None:
        outcome = "unknown"
    elif not roles.leader_anywhere:
        outcome = "not_allowed"
    elif person.opted_out:
        outcome = "opted_out"
    elif (
        await store.attempts(session, "request", since=since, person_id=person.id)
        >= policy.max_attempts
    ):
        outcome = "throttled"
    elif (
        await store.attempts(session, "wrong_code", since=since, person_id=person.id)
        >= policy.max_attempts
    ):
        outcome = "locked"
    elif (channel := code_channel(person)) is None:
        outcome = "unreachable"
    else:
        outcome = "sent"
    person_id = person.id if person is not None else None
    await store.note_attempt(session, "request", now=now, person_id=person_id, client=client)
    gets_code = person if outcome == "sent" else None
    token, code, row = await store.create_code(
        session, person=gets_code, channel=channel or "", client=client, now=now, policy=policy
    )
    if gets_code is not None and code is not None and channel is not None:
        await enqueue(
            session,
            gets_code,
            Envelope(
                Draft(CODE_TEMPLATE, {"code": code, "minutes": settings.console_code_minutes}),
                keys.sign_in_code(row.id),
                kind="system",
                channel=channel,
                expires_at=row.expires_at,
            ),
            now=now,
            alliance=settings.alliance_name,
        )
    await record(
        session,
        Actor.anonymous("web"),
        "sign_in_requested",
        "person",
        person_id,
        at=now,
        details={"outcome": outcome, "channel": channel},
    )
    return Asked(token, outcome, channel or "")


@dataclass(frozen=True)
class Entered:
    outcome: str  # signed_in | wrong | expired | locked
    session_token: str | None = None
    person: Person | None = None


async def enter_code(
    session: AsyncSession,
    settings: Settings,
    *,
    token: str,
    code: str,
    client: str,
    user_agent: str,
    now: datetime,
) -> Entered:
    """Check a typed code against the browser's pending sign-in; sign in if it is right."""
    policy = store.Policy.from_settings(settings)
    since = now - policy.window
    row = await store.find_sign_in(session, "code", token)
    if row is None or not store.is_open(row, now):
        return Entered("expired")
    person = await session.get(Person, row.person_id) if row.person_id is not None else None
    if (
        await store.attempts(session, "wrong_code", since=since, client=client) >= policy.client_max
        or row.wrong_attempts >= policy.max_attempts
        or (
            person is not None
            and await store.attempts(session, "wrong_code", since=since, person_id=person.id)
            >= policy.max_attempts
        )
    ):
        return Entered("locked")
    right = row.code_hash is not None and secrets.compare_digest(
        store.code_hash(token, store.normalise_code(code)), row.code_hash
    )
    if right and person is not None:
        if not await store.use(session, row, now):
            return Entered("expired")
        if not (await roles_of(session, person)).leader_anywhere:
            return Entered("expired")  # their role went between the code and now
        session_token = await _open(session, settings, person, "code", user_agent, now)
        return Entered("signed_in", session_token, person)
    row.wrong_attempts += 1
    await store.note_attempt(session, "wrong_code", now=now, person_id=row.person_id, client=client)
    subject = row.person_id
    await record(
        session,
        Actor.anonymous("web"),
        "sign_in_failed",
        "person",
        subject,
        at=now,
        details={"tries": row.wrong_attempts},
    )
    over = row.wrong_attempts >= policy.max_attempts or (
        await store.attempts(session, "wrong_code", since=since, client=client) >= policy.client_max
    )
    if person is not None:
        over = over or (
            await store.attempts(session, "wrong_code", since=since, person_id=person.id)
            >= policy.max_attempts
        )
    if not over:
        return Entered("wrong")
    row.used_at = now
    if person is not None:
        await store.void_codes(session, person.id, now)
    await record(
        session,
        Actor.anonymous("web"),
        "sign_in_locked",
        "person",
        subject,
        at=now,
        details={"minutes": settings.console_lockout_minutes},
    )
    return Entered("locked")


async def link_holder(session: AsyncSession, token: str, now: datetime) -> Person | None:
    """Who an unused, unexpired sign-in link is for (looking does not use it)."""
    row = await store.find_sign_in(session, "link", token)
    if row is None or not store.is_open(row, now) or row.person_id is None:
        return None
    return await session.get(Person, row.person_id)


async def use_link(
    session: AsyncSession, settings: Settings, *, token: str, user_agent: str, now: datetime
) -> Entered:
    row = await store.find_sign_in(session, "link", token)
    if row is None or row.person_id is None or not store.is_open(row, now):
        return Entered("expired")
    person = await session.get(Person, row.person_id)
    if person is None or not await store.use(session, row, now):
        return Entered("expired")
    if not (await roles_of(session, person)).leader_anywhere:
        return Entered("expired")
    return Entered("signed_in", await _open(session, settings, person, "link", user_agent, now))


async def _open(
    session: AsyncSession,
    settings: Settings,
    person: Person,
    method: str,
    user_agent: str,
    now: datetime,
) -> str:
    token, row = await store.open_session(
        session,
        person_id=person.id,
        method=method,
        user_agent=user_agent,
        now=now,
        policy=store.Policy.from_settings(settings),
    )
    await record(
        session,
        Actor.of(person, "web"),
        "sign_in_succeeded",
        "console_session",
        row.id,
        at=now,
        details={"method": method},
    )
    return token


# -- the signed-in person -------------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    session: ConsoleSession
    person: Person
    roles: Roles


async def current(
    session: AsyncSession, settings: Settings, token: str, now: datetime
) -> Current | None:
    """The live session a cookie names, if its person may still sign in (a session whose
    person has lost the role is ended: reason ``role_removed``)."""
    found = await store.session_for(session, token, now)
    if found is None:
        return None
    row, person = found
    roles = await roles_of(session, person)
    if not roles.leader_anywhere:
        await store.revoke(
            session, person_id=person.id, now=now, reason="role_removed", only=row.id
        )
        return None
    await store.touch(session, row, now, store.Policy.from_settings(settings))
    return Current(row, person, roles)


async def sign_out(session: AsyncSession, me: Current, now: datetime) -> None:
    await store.revoke(
        session, person_id=me.person.id, now=now, reason="signed_out", only=me.session.id
    )
    await record(
        session, Actor.of(me.person, "web"), "signed_out", "console_session", me.session.id, at=now
    )


async def end_session(session: AsyncSession, me: Current, session_id: int, now: datetime) -> bool:
    """Sign out one of my other devices. False if it is not mine or already over."""
    if session_id == me.session.id:
        await sign_out(session, me, now)
        return True
    ended = await store.revoke(
        session, person_id=me.person.id, now=now, reason="revoked", only=session_id
    )
    for sid in ended:
        await record(
            session, Actor.of(me.person, "web"), "session_revoked", "console_session", sid, at=now
        )
    return bool(ended)


async def end_other_sessions(session: AsyncSession, me: Current, now: datetime) -> int:
    ended = await store.revoke(
        session, person_id=me.person.id, now=now, reason="revoked", keep=me.session.id
    )
    for sid in ended:
        await record(
            session,
            Actor.of(me.person, "web"),
            "session_revoked",
            "console_session",
            sid,
            at=now,
            details={"everywhere_else": True},
        )
    return len(ended)


# -- the operator (turnout organisers ...) ---------------------------------------------------


class NotAllowed(ValueError):
    """The person may not sign in to the console (neither an organiser nor a leader)."""


async def sign_in_link(
    session: AsyncSession, settings: Settings, person: Person, now: datetime
) -> str:
    """A one-time sign-in link for ``person``, made by the operator (who has the server)."""
    if not (await roles_of(session, person)).leader_anywhere:
        raise NotAllowed(f"{person.name or 'that person'} is neither an organiser nor a leader")
    token, _ = await store.create_link(
        session, person=person, now=now, policy=store.Policy.from_settings(settings)
    )
    await record(
        session,
        Actor.operator(),
        "sign_in_link_created",
        "person",
        person.id,
        at=now,
        details={"minutes": settings.console_link_minutes},
    )
    return settings.public_url + SIGN_IN_LINK_PATH + token


async def add_organiser(
    session: AsyncSession,
    settings: Settings,
    *,
    name: str,
    phone: str,
    language: str,
    now: datetime,
) -> tuple[Person, bool]:
    """Make the person with ``phone`` (created if new) an organiser for the whole alliance.
    True if anything changed."""
    person = await person_by_phone(session, phone)
    if person is None:
        person = new_person(
            phone=phone,
            name=name,
            language=language,
            timezone=settings.default_timezone,
            consent="opted_in",
            consent_source="organiser",
            now=now,
        )
        session.add(person)
        await session.flush()
    elif person.alliance_role == ORGANISER:
        return person, False
    if not person.name.strip():
        person.name = name
    person.alliance_role = ORGANISER
    await record(session, Actor.operator(), "organiser_added", "person", person.id, at=now)
    return person, True


async def remove_organiser(session: AsyncSession, person: Person, now: datetime) -> int:
    """Take the alliance organiser role away; if the person may then no longer sign in, end
    their sessions. The number of sessions ended."""
    person.alliance_role = None
    await session.flush()
    await record(session, Actor.operator(), "organiser_removed", "person", person.id, at=now)
    if (await roles_of(session, person)).leader_anywhere:
        return 0
    ended = await store.revoke(session, person_id=person.id, now=now, reason="role_removed")
    for sid in ended:
        await record(session, Actor.operator(), "session_revoked", "console_session", sid, at=now)
    return len(ended)
