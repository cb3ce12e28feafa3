"""The digest's numbers: ``build_digest`` gathers, for each upcoming (or just finished) action,
the rollup from storage.rollup (per institution: commitment, yes + guests, maybe, no, not
replied, attended, gap), the change in confirmed people since the last daily snapshot, and the
institutions that have not moved (no RSVP) for ``settings.idle_days``; plus the inbox replies
and the failed messages of the last 24 hours; and the promises falling due
(storage/promises.py). Printing it is render.py, drawing it chart.py,
sending it plan.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from storage.counters import counted_rollups
from storage.listening_reports.summary import listening_summary
from storage.models import (
    Action,
    InboundMessage,
    Invitation,
    Membership,
    OutboxMessage,
    RollupSnapshot,
)
from storage.outbox import DROPPED, FAILED, SINCE
from storage.promises import due, due_line
from storage.rollup import Rollup, RollupRow, action_rollup, scoped_rollup

RECENT = timedelta(hours=36)  # a finished action stays in the digest this long (attended)


@dataclass
class DigestAction:
    rollup: Rollup
    # Change in confirmed people (yes + guests) per row key since the snapshot of ``since``.
    change: dict[str, int]
    since: date | None
    idle: list[RollupRow]  # institutions with no RSVP for ``idle_days``
    started: bool

    @property
    def action(self) -> Action:
        return self.rollup.action

    def key(self, row: RollupRow) -> str:
        if row is self.rollup.totals:
            return "total"
        if row is self.rollup.unique:
            return "unique"  # not in the snapshots: no change shown
        return "none" if row.institution_id is None else str(row.institution_id)

    def change_for(self, row: RollupRow) -> int | None:
        return self.change.get(self.key(row))

    def shown_rows(self) -> list[RollupRow]:
        """Institutions with a commitment or anyone invited."""
        return [r for r in self.rollup.rows if r.committed is not None or r.invited or r.attended]


@dataclass
class Digest:
    alliance: str
    now: datetime
    timezone: str
    day: date
    idle_days: int
    actions: list[DigestAction] = field(default_factory=list)
    inbox_replies: int = 0  # open inbox messages received in the last 24 hours
    inbox_open: int = 0  # open inbox messages, however old
    failed_messages: int = 0  # outbox rows failed or undelivered in the last 24 hours
    dropped_messages: int = 0  # dropped on purpose (too late) in the last 24 hours
    listening: list[str] = field(default_factory=list)  # counts and themes, never anyone's words
    # Open promises due within a week or overdue, one line each (storage.promises.due_line).
    promises_due: list[str] = field(default_factory=list)


def local_day(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


async def digest_actions(session: AsyncSession, now: datetime) -> list[Action]:
    """Scheduled actions not over yet, and those that ended in the last 36 hours."""
    return list(
        await session.scalars(
            select(Action)
            .where(Action.status == "scheduled")
            .where(Action.ends_at > now - RECENT)
            .order_by(Action.starts_at)
        )
    )


async def build_digest(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    *,
    institution_ids: frozenset[int] | None = None,
    counted: bool = False,
) -> Digest:
    """The digest for the whole alliance, or with ``institution_ids`` only what a leader of
    those institutions may see: their rows (totals are theirs, no "no institution" row), the
    inbox and failures of their own members, and no listening summary.

    With ``counted`` the rollups are read from the live counters (storage/counters.py: a few
    rows per action, the same numbers, kept in the same transaction as every write and
    verified against the raw rows) instead of grouping every RSVP: what the console's Today
    page asks for on every load. The digest that is sent keeps the raw-row reference."""
    tz = settings.default_timezone
    digest = Digest(settings.alliance_name, now, tz, local_day(now, tz), settings.idle_days)
    actions = await digest_actions(session, now)
    if counted:
        digest.actions = await _counted_actions(
            session, settings, actions, now, digest.day, institution_ids
        )
    else:
        for action in actions:
            digest.actions.append(
                await _digest_action(session, settings, action, now, digest.day, institution_ids)
            )
    since = now - SINCE
    open_inbox = InboundMessage.inbox_status == "open"
    if institution_ids is not None:
        open_inbox &= InboundMessage.person_id.in_(_members_of(institution_ids))
    digest.inbox_open = await _count(InboundMessage, session, open_inbox)
    digest.inbox_replies = await _count(
        InboundMessage, session, open_inbox & (InboundMessage.received_at >= since)
    )
    mine = (
        true()
        if institution_ids is None
        else OutboxMessage.person_id.in_(_members_of(institution_ids))
    )
    digest.failed_messages = await _outbox_count(
        session, since, OutboxMessage.status.in_(FAILED) & mine
    )
    digest.dropped_messages = await _outbox_count(
        session,
        since,
        (OutboxMessage.status == "cancelled") & OutboxMessage.error_code.in_(DROPPED) & mine,
    )
    if institution_ids is None:
        summary = await listening_summary(session, now)
        if summary:
            digest.listening = summary.lines()
        digest.promises_due = [
            due_line(p, a, digest.day) for p, a in await due(session, digest.day)
        ]
    return digest


def _members_of(institution_ids: frozenset[int]) -> Any:
    return select(Membership.person_id).where(Membership.institution_id.in_(institution_ids))


async def _count(model: Any, session: AsyncSession, condition: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(condition)) or 0)


async def _outbox_count(session: AsyncSession, since: datetime, condition: Any) -> int:
    return await _count(OutboxMessage, session, condition & (OutboxMessage.updated_at >= since))


async def _digest_action(
    session: AsyncSession,
    settings: Settings,
    action: Action,
    now: datetime,
    today: date,
    institution_ids: frozenset[int] | None = None,
) -> DigestAction:
    if institution_ids is None:
        rollup = await action_rollup(session, action)
    else:
        rollup = await scoped_rollup(session, action, institution_ids)
    snapshots = await _latest_snapshots(session, [action.id], today)
    result = DigestAction(rollup, {}, None, [], started=action.starts_at <= now)
    _compare(result, snapshots.get(action.id), institution_ids)
    if not result.started:
        answered, invited_since = await _activity_since(
            session, [action.id], now - timedelta(days=settings.idle_days)
        )
        result.idle = _quiet(rollup, answered, invited_since)
    return result


async def _counted_actions(
    session: AsyncSession,
    settings: Settings,
    actions: list[Action],
    now: datetime,
    today: date,
    institution_ids: frozenset[int] | None,
) -> list[DigestAction]:
    """_digest_action for every action at once, the rollups from the live counters: a few
    queries for them all (the rollups, the snapshots, the activity since the idle cutoff),
    not a few each."""
    rollups = await counted_rollups(session, actions, institution_ids)
    snapshots = await _latest_snapshots(session, [a.id for a in actions], today)
    waiting = [a.id for a in actions if a.starts_at > now]
    answered, invited_since = await _activity_since(
        session, waiting, now - timedelta(days=settings.idle_days)
    )
    found = []
    for action in actions:
        result = DigestAction(rollups[action.id], {}, None, [], started=action.starts_at <= now)
        _compare(result, snapshots.get(action.id), institution_ids)
        if not result.started:
            result.idle = _quiet(result.rollup, answered, invited_since)
        found.append(result)
    return found


async def _latest_snapshots(
    session: AsyncSession, action_ids: list[int], today: date
) -> dict[int, RollupSnapshot]:
    """Each action's latest daily snapshot from before ``today``."""
    if not action_ids:
        return {}
    latest = (
        select(RollupSnapshot.action_id, func.max(RollupSnapshot.day).label("day"))
        .where(RollupSnapshot.action_id.in_(action_ids))
        .where(RollupSnapshot.day < today)
        .group_by(RollupSnapshot.action_id)
        .subquery()
    )
    found = await session.scalars(
        select(RollupSnapshot).join(
            latest,
            (RollupSnapshot.action_id == latest.c.action_id) & (RollupSnapshot.day == latest.c.day),
        )
    )
    return {snapshot.action_id: snapshot for snapshot in found}


def _compare(
    result: DigestAction, snapshot: RollupSnapshot | None, institution_ids: frozenset[int] | None
) -> None:
    """The change in confirmed people per row since ``snapshot``."""
    if snapshot is None:
        return
    rollup = result.rollup
    result.since = snapshot.day
    for row in [*rollup.rows, rollup.no_institution, rollup.totals]:
        before = snapshot.counts.get(result.key(row))
        if before is not None:
            result.change[result.key(row)] = row.confirmed - (
                int(before["yes"]) + int(before["guests"])
            )
    if institution_ids is not None:
        # The snapshot's total is the alliance's: these institutions' total moved by the
        # sum of their own changes (when every one of them was in the snapshot).
        result.change.pop("none", None)
        result.change.pop("total", None)
        changes = [result.change.get(result.key(r)) for r in rollup.rows]
        if rollup.rows and all(c is not None for c in changes):
            result.change["total"] = sum(c for c in changes if c is not None)


Activity = tuple[set[tuple[int, int]], dict[tuple[int, int], int]]


async def _activity_since(
    session: AsyncSession, action_ids: list[int], cutoff: datetime
) -> Activity:
    """Per (action, institution): whether a member's invitation has an RSVP after ``cutoff``,
    and how many of the members' invitations were made after it. Two range reads on the
    invitations' (action, responded_at) and (action, invited_at) indexes, never a pass over
    every invitation of the actions."""
    if not action_ids:
        return set(), {}
    by_institution = (
        select(Invitation.action_id, Membership.institution_id, func.count())
        .select_from(Invitation)
        .join(Membership, Membership.person_id == Invitation.person_id)
        .where(Invitation.action_id.in_(action_ids))
        .group_by(Invitation.action_id, Membership.institution_id)
    )
    answered = {
        (aid, iid)
        for aid, iid, _n in await session.execute(
            by_institution.where(Invitation.responded_at > cutoff)
        )
    }
    invited_since = {
        (aid, iid): int(n)
        for aid, iid, n in await session.execute(
            by_institution.where(Invitation.invited_at > cutoff)
        )
    }
    return answered, invited_since


def _quiet(
    rollup: Rollup, answered: set[tuple[int, int]], invited_since: dict[tuple[int, int], int]
) -> list[RollupRow]:
    """Institutions invited before the cutoff with no RSVP from any member since then (an
    invitation's ``responded_at`` is the time of its latest RSVP): none answered since, and
    not every one of its invitations (the row's ``invited``, counted as the rollup counts)
    came after the cutoff."""
    aid = rollup.action.id
    return [
        row
        for row in rollup.rows
        if row.institution_id is not None
        and row.invited > invited_since.get((aid, row.institution_id), 0)
        and (aid, row.institution_id) not in answered
    ]
