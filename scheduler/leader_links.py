"""Leader links, the use cases: an organiser makes (and revokes) a leader's link for an action
and an institution they lead; through it the leader nudges one of their people ("are you
coming?") and enters the headcount at the door. The rows are storage/leader_links.py; the page
is bot/web/leader_link.py; ``turnout leaders link`` prints a link.

A nudge goes through the outbox under the outbound policy (scheduler/outbound.py): never to
someone who said STOP, held until the person's quiet hours end, dropped on record if that
would be after the action starts; and at most once a day per person and action (the dedupe
key, storage.keys.chase_nudge, carries the person's local day), whichever leader asks.
Everything done here is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from scheduler.actions import ActionError, record_headcount
from scheduler.outbound import bulk_not_before, place_message, zone_of
from storage import keys
from storage.audit import Actor, record
from storage.institutions import match_institution
from storage.leader_links import LINK_PATH, OpenLink, create_link, default_expiry, revoke
from storage.models import (
    Action,
    CapabilityLink,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
)
from storage.outbox import Draft
from storage.roles import institutions_led, roles_of

NUDGE_TEMPLATE = "leader_check"
MAX_HEADCOUNT = 100_000


class LinkError(ValueError):
    """The link cannot be made or used as asked; the message says why."""


@dataclass(frozen=True)
class MadeLink:
    link: CapabilityLink
    url: str
    leader: Person
    institution: str


def link_url(settings: Settings, token: str) -> str:
    return settings.public_url + LINK_PATH + token


async def make_link(
    session: AsyncSession,
    settings: Settings,
    *,
    action: Action,
    leader: Person,
    institution: str = "",
    institution_id: int | None = None,
    actor: Actor,
    now: datetime,
    expires_at: datetime | None = None,
) -> MadeLink:
    """A new link for ``leader`` on ``action``, for the institution they lead (named by
    ``institution`` or ``institution_id`` when they lead several). Organisers of the whole
    alliance are not leaders of every institution here: the link is for an institution the
    person leads in our records (memberships)."""
    if action.status != "scheduled":
        raise LinkError(f"{action.slug!r} is {action.status}")
    expiry = expires_at or default_expiry(action)
    if expiry <= now:
        raise LinkError(f"{action.slug!r} is over: a link would not work")
    roles = await roles_of(session, leader)
    led = [i for i in await institutions_led(session, roles) if i.id in roles.leads]
    if not led:
        raise LinkError(f"{leader.name.strip() or 'this person'} leads no institution")
    if institution_id is not None:
        chosen = next((i for i in led if i.id == institution_id), None)
        if chosen is None:
            raise LinkError("they do not lead that institution")
    else:
        match = match_institution(led, institution)
        if match.found is None:
            raise LinkError(
                f"they lead {', '.join(i.name for i in led)}: say which institution"
                if not institution.strip()
                else match.problem()
            )
        chosen = match.found
    link, token = await create_link(
        session,
        person_id=leader.id,
        action_id=action.id,
        institution_id=chosen.id,
        expires_at=expiry,
        now=now,
        created_by_id=actor.person_id,
    )
    await record(
        session,
        actor,
        "leader_link_created",
        "leader_link",
        link.id,
        at=now,
        details={"action": action.id, "institution": chosen.id, "leader": leader.id},
    )
    return MadeLink(link, link_url(settings, token), leader, chosen.name)


async def revoke_link(session: AsyncSession, link_id: int, *, actor: Actor, now: datetime) -> bool:
    """Stop a link working. False when there is no such link."""
    link = await revoke(session, link_id, now)
    if link is None:
        return False
    await record(session, actor, "leader_link_revoked", "leader_link", link.id, at=now)
    return True


NudgeOutcome = Literal[
    "queued", "held", "already", "opted_out", "unreachable", "too_late", "not_theirs"
]


async def nudge(
    session: AsyncSession,
    settings: Settings,
    opened: OpenLink,
    person_id: int,
    *,
    now: datetime,
) -> NudgeOutcome:
    """Queue "<leader> from <institution> asked us to check: are you coming?" to one of the
    link's institution's people invited to the action (see the module docstring)."""
    action, institution = opened.action, opened.institution
    person = await session.scalar(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .join(Invitation, Invitation.person_id == Person.id)
        .where(Person.id == person_id)
        .where(Membership.institution_id == institution.id)
        .where(Invitation.action_id == action.id)
    )
    if person is None:
        return "not_theirs"
    actor = Actor.of(opened.leader, "web")
    outcome: NudgeOutcome
    if person.opted_out:
        outcome = "opted_out"
    elif action.status != "scheduled" or action.starts_at <= now:
        outcome = "too_late"
    else:
        day = now.astimezone(ZoneInfo(zone_of(person, settings))).date()
        key = keys.chase_nudge(day, action.id, person.id)
        taken = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)
        )
        if taken is not None:
            outcome = "already"
        else:
            leader_name = (opened.leader.name.split() or ["Your leader"])[0]
            draft = Draft(
                NUDGE_TEMPLATE,
                {"name": leader_name, "institution": institution.name, "title": action.title},
            )
            not_before = bulk_not_before(person, now, settings)
            placed = await place_message(
                session,
                person,
                draft,
                settings=settings,
                key=key,
                now=now,
                not_before=not_before,
                deadline=action.starts_at,
                action_id=action.id,
            )
            if placed == "queued":
                outcome = "held" if not_before > now else "queued"
            elif placed == "dropped":
                outcome = "too_late"
            else:
                outcome = "unreachable"
    await record(
        session,
        actor,
        "leader_nudge",
        "person",
        person.id,
        at=now,
        details={"action": action.id, "institution": institution.id, "outcome": outcome},
    )
    return outcome


async def headcount(session: AsyncSession, opened: OpenLink, number: int, *, now: datetime) -> None:
    """The institution's headcount at the door, from the leader's page (the latest counts)."""
    if not 0 <= number <= MAX_HEADCOUNT:
        raise ActionError(f"a headcount is a number from 0 to {MAX_HEADCOUNT}")
    await record_headcount(
        session,
        action_id=opened.action.id,
        institution_id=opened.institution.id,
        number=number,
        recorded_by_id=opened.leader.id,
        channel="web",
        now=now,
    )
    await record(
        session,
        Actor.of(opened.leader, "web"),
        "headcount_recorded",
        "institution",
        opened.institution.id,
        at=now,
        details={"action": opened.action.id, "number": number, "via_link": opened.link.id},
    )


async def touch(opened: OpenLink, now: datetime) -> None:
    opened.link.last_used_at = now
