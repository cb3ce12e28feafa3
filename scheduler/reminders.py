"""The reminder ladder: who hears what about an action, when, and until when it is still worth
sending. The planner (scheduler/planner.py) turns it into outbox rows.

The default ladder, per action (each step can be moved or switched off per action with
:func:`set_step`; times are relative to the action's start or end):

=================  ====================================  ===============  ======================
step               to                                    due              dropped if it cannot
                                                                          arrive by
=================  ====================================  ===============  ======================
confirmation       whoever replies YES or MAYBE          at once          (see below)
still_coming       yes and maybe (answered before due)   start - 2 days   start - 12 h
nudge              not replied (invited before due)      start - 2 days   start - 12 h
day_of             yes: time, place, what to bring       start - 3 h      start - 30 min
did_you_make_it    yes but not checked in                end + 1 h        end + 12 h
thank_you          everyone who attended, with result    end + 20 h       end + 3 days
=================  ====================================  ===============  ======================

The *confirmation* is the inbound handler's own answer to the RSVP (``rsvp_yes``,
``rsvp_yes_guests``, ``rsvp_maybe`` from bot.handlers.rsvp): it is written as a reply, so it goes
at once (replies are exempt from quiet hours) and ahead of bulk sends. The planner never sends a
second one, so it is not a step here.

A YES within :data:`FOLLOWUP_WINDOW` of a ``did_you_make_it`` question (when that question is
the last thing we asked the person) records attendance: see bot.handlers.followup.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import String, cast, delete, exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from storage import keys
from storage.models import (
    Action,
    ActionReminder,
    Attendance,
    Invitation,
    OutboxMessage,
    Person,
)

# A YES this long after a "did you make it?" question counts as a check-in.
FOLLOWUP_WINDOW = timedelta(hours=24)
FOLLOWUP_TEMPLATE = "did_you_make_it"
# Messages that ask the person something; their reply answers the latest of them.
ASKING_TEMPLATES = (
    "invite",
    "still_coming",
    "still_maybe",
    "nudge",
    "action_moved",
    FOLLOWUP_TEMPLATE,
)

Anchor = Literal["start", "end"]


@dataclass(frozen=True)
class Step:
    kind: str
    anchor: Anchor
    offset: timedelta  # from the anchor; negative = before it
    latest: timedelta  # from the anchor: the last useful moment for the message to arrive

    def _anchor(self, action: Action) -> datetime:
        return action.starts_at if self.anchor == "start" else action.ends_at

    def due(self, action: Action) -> datetime:
        return self._anchor(action) + self.offset

    def deadline(self, action: Action) -> datetime:
        """From this moment the message is useless (``expires_at``, exclusive, as the sender
        treats it): a row that could not go out before it is dropped."""
        return self._anchor(action) + max(self.latest, self.offset)


H = timedelta(hours=1)
DEFAULT_LADDER: tuple[Step, ...] = (
    Step("still_coming", "start", -48 * H, -12 * H),
    Step("nudge", "start", -48 * H, -12 * H),
    Step("day_of", "start", -3 * H, -H / 2),
    Step("did_you_make_it", "end", 1 * H, 12 * H),
    Step("thank_you", "end", 20 * H, 72 * H),
)
STEP_KINDS = tuple(step.kind for step in DEFAULT_LADDER)


class LadderError(ValueError):
    pass


async def ladder_for(session: AsyncSession, action: Action) -> list[Step]:
    """The action's ladder: the default, with its per-action changes applied."""
    overrides = {
        r.kind: r.offset_minutes
        for r in await session.scalars(
            select(ActionReminder).where(ActionReminder.action_id == action.id)
        )
    }
    steps = []
    for step in DEFAULT_LADDER:
        if step.kind not in overrides:
            steps.append(step)
        elif (minutes := overrides[step.kind]) is not None:
            steps.append(replace(step, offset=timedelta(minutes=minutes)))
    return steps


async def ladder_schedule(
    session: AsyncSession, action: Action
) -> list[tuple[Step, datetime, datetime]]:
    """The action's ladder as (step, due, last useful moment), soonest first: for the CLI."""
    steps = await ladder_for(session, action)
    return sorted(((s, s.due(action), s.deadline(action)) for s in steps), key=lambda t: t[1])


async def set_step(
    session: AsyncSession,
    action: Action,
    kind: str,
    offset: timedelta | None,
    *,
    now: datetime,
) -> None:
    """Move one step of an action's ladder (``offset`` from its anchor: the start for
    still_coming, nudge and day_of, the end for did_you_make_it and thank_you), or switch it off
    (``None``). Takes effect at the next planning run; rows already planned stay."""
    if kind not in STEP_KINDS:
        raise LadderError(f"unknown reminder {kind!r}: expected one of {', '.join(STEP_KINDS)}")
    row = await session.scalar(
        select(ActionReminder)
        .where(ActionReminder.action_id == action.id)
        .where(ActionReminder.kind == kind)
    )
    if row is None:
        row = ActionReminder(action_id=action.id, kind=kind)
        session.add(row)
    row.offset_minutes = None if offset is None else int(offset.total_seconds() // 60)
    row.updated_at = now
    await session.flush()


async def reset_step(session: AsyncSession, action: Action, kind: str) -> None:
    """Back to the default for this step."""
    await session.execute(
        delete(ActionReminder)
        .where(ActionReminder.action_id == action.id)
        .where(ActionReminder.kind == kind)
    )


def audience(action: Action, step: Step, due: datetime) -> Select[int]:
    """Ids of the people this step goes to who do not have their row yet (an anti-join on the
    outbox's unique dedupe key, so a replan over a large action costs one indexed scan)."""
    inv = Invitation
    prefix = keys.reminder_prefix(step.kind, action.id, action.revision)
    key = literal(prefix, String) + cast(Person.id, String(20))
    planned = exists().where(OutboxMessage.dedupe_key == key)
    checked_in = (
        exists().where(Attendance.action_id == action.id).where(Attendance.person_id == Person.id)
    )
    if step.kind == "thank_you":
        query = select(Person.id).join(Attendance, Attendance.person_id == Person.id)
        query = query.where(Attendance.action_id == action.id)
    else:
        query = select(Person.id).join(inv, inv.person_id == Person.id)
        query = query.where(inv.action_id == action.id)
        if step.kind == "still_coming":
            query = query.where(inv.response.in_(("yes", "maybe"))).where(inv.responded_at <= due)
        elif step.kind == "nudge":
            query = query.where(inv.response.is_(None)).where(inv.invited_at <= due)
        elif step.kind == "day_of":
            query = query.where(inv.response == "yes")
        elif step.kind == "did_you_make_it":
            query = query.where(inv.response == "yes").where(~checked_in)
        else:
            raise LadderError(f"unknown reminder {step.kind!r}")
    return query.where(Person.consent != "opted_out").where(~planned).order_by(Person.id)
