"""Actions, the use cases: create one, invite people, reschedule or cancel it (with the
re-notifications); and the writes people make about one: an institution's commitment
(:func:`commit`), an RSVP (:func:`record_rsvp`), a check-in (:func:`check_in`), a headcount at
the door (:func:`record_headcount`). Each of those has this one place, whichever door it comes
through (SMS, Telegram, the console), so whatever must follow every such write goes here.

What the CLI calls (``turnout actions create/list``, ``turnout invite``). Every change is
idempotent where it can be and validated with errors that say what is wrong
(:class:`ActionError`, a ``ValueError``). Finding the action a message is about (open
invitations, the check-in window) is a query: storage/actions.py.

Rescheduling or cancelling bumps ``action.revision``: queued messages about the old version
(invitations not sent yet, reminders) are cancelled (error_code ``superseded``), an unsent
invitation is replaced by one with the new details, and everyone who said yes or maybe gets
one notice per change (dedupe key ``moved:`` / ``cancelled:{action}:r{revision}:{person}``).
The reminder ladder then plans afresh for the new revision (scheduler/planner.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Select, Table, bindparam, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from config.settings import Settings
from scheduler.outbound import (
    Placement,
    bulk_not_before,
    channel_for,
    place_message,
    place_messages,
    urgent_not_before,
    when_for,
    zone_of,
)
from storage import counters, fast, keys
from storage.actions import action_by_slug
from storage.commitments import set_commitment
from storage.invitations import add_invitations, invitees
from storage.models import (
    ACTION_KINDS,
    Action,
    Attendance,
    Commitment,
    Headcount,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
    RsvpEvent,
)
from storage.outbox import Draft, Written
from storage.telegram import record_headcount as add_headcount

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
# Typographic characters people paste from documents; each would turn an SMS into UCS-2
# (70 characters a segment instead of 160), so titles and places are stored plain.
_PLAIN = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\xa0": " "})


class ActionError(ValueError):
    """The action cannot be created or changed as asked; the message says why."""


@dataclass
class InviteReport:
    invited: int = 0  # new invitations
    already_invited: int = 0
    queued: int = 0  # invitation messages newly queued
    dropped: int = 0  # quiet hours would hold the message until after the start
    skipped_opted_out: int = 0
    skipped_unreachable: int = 0  # no usable phone (invalid, landline, none) and no Telegram

    @property
    def people(self) -> int:
        """Everyone the invitation was for: each is counted in exactly one of the above."""
        return (
            self.invited + self.already_invited + self.skipped_opted_out + self.skipped_unreachable
        )


@dataclass
class ChangeReport:
    revision: int
    changed: bool = True
    notified: int = 0  # yes and maybe people told about the change
    superseded: int = 0  # queued messages about the old version cancelled
    reinvited: int = 0  # unsent invitations replaced with the new details


def plain(text: str) -> str:
    return " ".join(text.translate(_PLAIN).split())


def _check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ActionError(f"{name} must carry a time zone (got {value.isoformat()})")
    if ends_at <= starts_at:
        raise ActionError(
            f"the action must end after it starts ({starts_at.isoformat()} -> "
            f"{ends_at.isoformat()})"
        )
    if starts_at <= now:
        raise ActionError(f"the start {starts_at.isoformat()} is in the past")
    if ends_at - starts_at > timedelta(days=2):
        raise ActionError("an action lasts at most two days")


async def create_action(
    session: AsyncSession,
    *,
    slug: str,
    title: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    place: str,
    bring: str = "",
    target: int | None = None,
    now: datetime,
) -> Action:
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise ActionError(
            f"the name {slug!r} must be 2 to 32 characters: lower-case letters, digits and "
            "hyphens, starting with a letter or digit (e.g. assembly-mar)"
        )
    title, place, bring = plain(title), plain(place), plain(bring)
    _check_details(title, place, bring, kind, target)
    _check_times(starts_at, ends_at, now)
    if await session.scalar(select(Action.id).where(Action.slug == slug)) is not None:
        raise ActionError(f"an action called {slug!r} already exists")
    action = Action(
        slug=slug,
        title=title,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        place=place,
        bring=bring,
        target=target,
        status="scheduled",
        revision=0,
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    await session.flush()
    return action


def _check_details(title: str, place: str, bring: str, kind: str, target: int | None) -> None:
    if not title:
        raise ActionError("the title is empty")
    if len(title) > 80:
        raise ActionError(f"the title is {len(title)} characters; keep it to 80 (it goes by SMS)")
    if not place:
        raise ActionError("the place is empty: say where people should go")
    if len(place) > 120 or len(bring) > 120:
        raise ActionError("keep the place and what to bring to 120 characters each (SMS)")
    if kind not in ACTION_KINDS:
        raise ActionError(f"unknown kind {kind!r}: expected one of {', '.join(ACTION_KINDS)}")
    if target is not None and target <= 0:
        raise ActionError(f"the target must be a positive number, got {target}")


async def edit_action(
    session: AsyncSession,
    action: Action,
    *,
    title: str,
    kind: str,
    bring: str,
    target: int | None,
    now: datetime,
) -> list[str]:
    """Change what people are not told about again: the title, kind, what to bring, the
    target (the time and place change through :func:`reschedule`, which tells people). Messages
    already queued keep the old wording; the next ones use the new. Returns the names of the
    fields that changed (empty: nothing did, nothing written)."""
    if action.status != "scheduled":
        raise ActionError(f"cannot edit {action.slug!r}: it is {action.status}")
    title, bring = plain(title), plain(bring)
    _check_details(title, action.place, bring, kind, target)
    new = {"title": title, "kind": kind, "bring": bring, "target": target}
    changed = [name for name, value in new.items() if getattr(action, name) != value]
    for name in changed:
        setattr(action, name, new[name])
    if changed:
        action.updated_at = now
        await session.flush()
    return changed


async def get_action(session: AsyncSession, slug: str) -> Action:
    action = await action_by_slug(session, slug)
    if action is None:
        raise ActionError(f"no action called {slug!r}")
    return action


async def list_actions(
    session: AsyncSession, *, now: datetime, include_past: bool = False
) -> list[Action]:
    """Upcoming scheduled actions, soonest first (with ``include_past``, all of them)."""
    query = select(Action).order_by(Action.starts_at)
    if not include_past:
        query = query.where(Action.status == "scheduled").where(Action.ends_at > now)
    return list(await session.scalars(query))


def _require_open(action: Action, now: datetime, doing: str) -> None:
    if action.status != "scheduled":
        raise ActionError(f"cannot {doing} {action.slug!r}: it is {action.status}")
    if action.starts_at <= now:
        raise ActionError(f"cannot {doing} {action.slug!r}: it has already started")


async def invite(
    session: AsyncSession,
    action: Action,
    *,
    institution_id: int | None = None,
    among: Select[int] | None = None,
    settings: Settings,
    now: datetime,
) -> InviteReport:
    """Invite everyone (or one institution's members, or those ``among`` a query of person ids:
    a segment, storage/segments.py) to ``action``: an Invitation row each and the
    ``invite`` SMS (key ``invite:{action}:{person}``, bulk, after the person's quiet hours,
    expiring at the start). Running it again invites only the people added since."""
    _require_open(action, now, "invite people to")
    report = InviteReport()
    query = select(Person.id)
    if among is not None:
        query = query.where(Person.id.in_(among))
    if institution_id is not None:
        query = query.join(Membership, Membership.person_id == Person.id).where(
            Membership.institution_id == institution_id
        )
    people = await invitees(session, query)
    reachable: list[Person] = []
    for person in people:
        if person.opted_out:
            report.skipped_opted_out += 1
        elif channel_for(person, now) is None:
            report.skipped_unreachable += 1
        else:
            reachable.append(person)
    invited = set(
        await session.scalars(select(Invitation.person_id).where(Invitation.action_id == action.id))
    )
    # Written in bulk; whoever another invite took a moment ago is not invited twice.
    new_invitations = await add_invitations(
        session, action.id, [p.id for p in reachable if p.id not in invited], now
    )
    report.invited = len(new_invitations)
    report.already_invited = len(reachable) - report.invited
    sent_keys = set(
        await session.scalars(
            select(OutboxMessage.dedupe_key)
            .where(OutboxMessage.action_id == action.id)
            .where(OutboxMessage.dedupe_key.like(keys.invite_prefix(action.id) + "%"))
        )
    )
    unsent = [p for p in reachable if keys.invite(action.id, p.id) not in sent_keys]
    for row in await _send_invites(session, action, unsent, settings, now):
        if row.template == "invite":
            report.queued += row.status == "queued"
            report.dropped += row.status == "cancelled"
    await counters.invited(session, action.id, new_invitations, now)
    return report


async def _send_invites(
    session: AsyncSession,
    action: Action,
    people: list[Person],
    settings: Settings,
    now: datetime,
) -> list[Written]:
    """The ``invite`` text to each of ``people`` (key ``invite:{action}:{person}``), in bulk:
    what :func:`_send_invite` does for one. The wording and the quiet hours are worked out once
    per language and time zone."""
    zones: dict[str, str] = {}
    whens: dict[tuple[str, str], str] = {}
    openings: dict[str, datetime] = {}
    placements: list[Placement] = []
    for person in people:
        if person.timezone not in zones:
            zones[person.timezone] = zone_of(person, settings)
        zone = zones[person.timezone]
        if zone not in openings:
            openings[zone] = bulk_not_before(person, now, settings)
        if (person.language, zone) not in whens:
            whens[(person.language, zone)] = when_for(person, action.starts_at, settings)
        draft = Draft(
            "invite",
            {
                "title": action.title,
                "when": whens[(person.language, zone)],
                "place": action.place,
            },
        )
        placements.append(
            Placement(person, draft, keys.invite(action.id, person.id), openings[zone])
        )
    return await place_messages(
        session,
        placements,
        settings=settings,
        now=now,
        deadline=action.starts_at,
        action_id=action.id,
    )


async def _send_invite(
    session: AsyncSession,
    action: Action,
    person: Person,
    key: str,
    settings: Settings,
    now: datetime,
) -> str:
    draft = Draft(
        "invite",
        {
            "title": action.title,
            "when": when_for(person, action.starts_at, settings),
            "place": action.place,
        },
    )
    return await place_message(
        session,
        person,
        draft,
        settings=settings,
        key=key,
        now=now,
        not_before=bulk_not_before(person, now, settings),
        deadline=action.starts_at,
        action_id=action.id,
    )


async def reschedule(
    session: AsyncSession,
    action: Action,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    place: str | None = None,
    now: datetime,
    settings: Settings,
) -> ChangeReport:
    """Move the action (a new start keeps the length unless ``ends_at`` is given) and/or its
    place. Tells everyone who said yes or maybe, once; changes nothing if nothing changed."""
    _require_open(action, now, "reschedule")
    new_start = starts_at or action.starts_at
    new_end = ends_at or (new_start + (action.ends_at - action.starts_at))
    new_place = action.place if place is None else plain(place)
    if not new_place:
        raise ActionError("the place is empty: say where people should go")
    _check_times(new_start, new_end, now)
    if (new_start, new_end, new_place) == (action.starts_at, action.ends_at, action.place):
        return ChangeReport(revision=action.revision, changed=False)
    old_start = action.starts_at
    action.starts_at, action.ends_at, action.place = new_start, new_end, new_place
    report, unsent = await _new_revision(session, action, now)
    for person in await session.scalars(
        select(Person).where(Person.id.in_(unsent)).where(Person.consent != "opted_out")
    ):
        key = keys.reinvite(action.id, action.revision, person.id)
        outcome = await _send_invite(session, action, person, key, settings, now)
        report.reinvited += outcome == "queued"
    # Whoever might travel at the old time or the new one must hear before the earlier one.
    deadline = min(old_start, new_start)
    for person in await _yes_and_maybe(session, action):
        draft = Draft(
            "action_moved",
            {
                "title": action.title,
                "when": when_for(person, new_start, settings),
                "place": new_place,
            },
        )
        outcome = await place_message(
            session,
            person,
            draft,
            settings=settings,
            key=keys.moved(action.id, action.revision, person.id),
            now=now,
            not_before=urgent_not_before(person, now, deadline, settings),
            deadline=deadline,
            action_id=action.id,
            kind="system",
        )
        report.notified += outcome == "queued"
    await session.flush()
    return report


async def cancel(
    session: AsyncSession, action: Action, *, now: datetime, settings: Settings
) -> ChangeReport:
    """Call the action off: queued messages about it are cancelled, and everyone who said yes
    or maybe is told, once."""
    _require_open(action, now, "cancel")
    action.status = "cancelled"
    report, _unsent = await _new_revision(session, action, now)
    for person in await _yes_and_maybe(session, action):
        draft = Draft(
            "action_cancelled",
            {"title": action.title, "when": when_for(person, action.starts_at, settings)},
        )
        outcome = await place_message(
            session,
            person,
            draft,
            settings=settings,
            key=keys.cancelled(action.id, action.revision, person.id),
            now=now,
            not_before=urgent_not_before(person, now, action.starts_at, settings),
            deadline=action.starts_at,
            action_id=action.id,
            kind="system",
        )
        report.notified += outcome == "queued"
    await session.flush()
    return report


async def _new_revision(
    session: AsyncSession, action: Action, now: datetime
) -> tuple[ChangeReport, list[int]]:
    """Bump the revision and cancel every queued message about the old version. Returns the
    people whose invitation had not gone out yet (they need one with the new details)."""
    action.revision += 1
    action.updated_at = now
    superseded = list(
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.action_id == action.id)
            .where(OutboxMessage.status == "queued")
            .values(
                status="cancelled",
                error_code="superseded",
                error_message=f"action changed (revision {action.revision})",
                updated_at=now,
            )
            .returning(OutboxMessage.person_id, OutboxMessage.template)
            .execution_options(synchronize_session=False)
        )
    )
    unsent = sorted({pid for pid, template in superseded if template == "invite" and pid})
    return ChangeReport(revision=action.revision, superseded=len(superseded)), unsent


async def change_audience(session: AsyncSession, action: Action) -> list[Person]:
    """Who a reschedule or a cancellation notice goes to (the yes and maybe people who have
    not opted out): what :func:`reschedule` and :func:`cancel` tell, for a preview."""
    return await _yes_and_maybe(session, action)


async def _yes_and_maybe(session: AsyncSession, action: Action) -> list[Person]:
    return list(
        await session.scalars(
            select(Person)
            .join(Invitation, Invitation.person_id == Person.id)
            .where(Invitation.action_id == action.id)
            .where(Invitation.response.in_(("yes", "maybe")))
            .where(Person.consent != "opted_out")
            .order_by(Person.id)
        )
    )


# -- what people record about an action: one place for each write ---------------------------


async def commit(
    session: AsyncSession,
    *,
    action_id: int,
    institution_id: int,
    number: int,
    set_by_id: int | None,
    channel: str,
    now: datetime,
) -> Commitment:
    """An institution pledges ``number`` people for an action (COMMIT 40, /commit 40): the
    current commitment, and its history row."""
    return await set_commitment(
        session,
        action_id=action_id,
        institution_id=institution_id,
        number=number,
        set_by_id=set_by_id,
        channel=channel,
        now=now,
    )


# The RSVP write is on the inbound hot path (every YES / NO / MAYBE): two Core statements, built
# once, instead of the ORM's unit of work at commit.
_INVITATIONS = cast(Table, Invitation.__table__)
_SET_RSVP = fast.prepare(
    update(_INVITATIONS)
    .where(_INVITATIONS.c.id == bindparam("b_id"))
    .values(
        response=bindparam("b_response"),
        guests=bindparam("b_guests"),
        responded_at=bindparam("b_at"),
        channel=bindparam("b_channel"),
    )
)
_ADD_RSVP_EVENT = fast.prepare(insert(cast(Table, RsvpEvent.__table__)))


async def record_rsvp(
    session: AsyncSession,
    invitation: Invitation,
    response: str,
    guests: int | None,
    *,
    channel: str,
    inbound_id: int | None,
    now: datetime,
) -> None:
    """Set the current RSVP and keep the history row (an SMS reply, Telegram's RSVP buttons).
    ``guests`` None (a YES without a number) keeps the guests of an earlier YES; NO and MAYBE
    clear them. The live counters move in the same transaction.

    An invitation already in the database is written at once with Core, and the object is
    given the same values as committed ones (so the session has nothing left to flush for
    it); a new one (a walk-in tapping a group's card) goes through the ORM."""
    before = (invitation.response, invitation.guests)
    if response != "yes":
        guests = 0
    elif guests is None:
        guests = invitation.guests
    if not inspect(invitation).persistent or invitation.id is None:
        invitation.response = response
        invitation.guests = guests
        invitation.responded_at = now
        invitation.channel = channel
        session.add(
            RsvpEvent(
                invitation_id=invitation.id,
                response=response,
                guests=guests,
                channel=channel,
                inbound_id=inbound_id,
                at=now,
            )
        )
    else:
        await _write_rsvp(session, invitation, response, guests, channel, inbound_id, now)
    await counters.rsvp_changed(
        session, invitation.action_id, invitation.person_id, before, (response, guests), now
    )


async def _write_rsvp(
    session: AsyncSession,
    invitation: Invitation,
    response: str,
    guests: int,
    channel: str,
    inbound_id: int | None,
    now: datetime,
) -> None:
    """The RSVP of an invitation already stored, with Core: the row, its history, and the
    object's committed values (so the session has nothing left to flush for it)."""
    connection = await session.connection()
    await fast.execute(
        connection,
        _SET_RSVP,
        {
            "b_id": invitation.id,
            "b_response": response,
            "b_guests": guests,
            "b_at": now,
            "b_channel": channel,
        },
    )
    await fast.execute(
        connection,
        _ADD_RSVP_EVENT,
        {
            "invitation_id": invitation.id,
            "response": response,
            "guests": guests,
            "channel": channel,
            "inbound_id": inbound_id,
            "at": now,
        },
    )
    for key, value in (
        ("response", response),
        ("guests", guests),
        ("responded_at", now),
        ("channel", channel),
    ):
        set_committed_value(invitation, key, value)


async def check_in(
    session: AsyncSession, action_id: int, person_id: int, *, source: str, now: datetime
) -> bool:
    """Record that the person came (``source``: ``checkin`` for HERE, ``followup`` for a YES to
    "did you make it?"). False when they were already checked in (nothing written)."""
    existing = await session.scalar(
        select(Attendance.id)
        .where(Attendance.action_id == action_id)
        .where(Attendance.person_id == person_id)
    )
    if existing is not None:
        return False
    session.add(Attendance(action_id=action_id, person_id=person_id, source=source, at=now))
    await counters.checked_in(session, action_id, person_id, now)
    return True


async def record_headcount(
    session: AsyncSession,
    *,
    action_id: int,
    institution_id: int,
    number: int,
    recorded_by_id: int | None,
    channel: str,
    now: datetime,
) -> Headcount:
    """An institution's headcount at the door (/count 37): the latest one counts."""
    row = await add_headcount(
        session,
        action_id=action_id,
        institution_id=institution_id,
        number=number,
        recorded_by_id=recorded_by_id,
        channel=channel,
        now=now,
    )
    await counters.headcount(session, action_id, institution_id, number, now)
    return row
