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
from storage.counters import counted_rollup, counted_scoped_rollup
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
    for action in await digest_actions(session, now):
        digest.actions.append(
            await _digest_action(
                session, settings, action, now, digest.day, institution_ids, counted=counted
            )
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
    *,
    counted: bool = False,
) -> DigestAction:
    if institution_ids is None:
        rollup = await (counted_rollup if counted else action_rollup)(session, action)
    else:
        scoped = counted_scoped_rollup if counted else scoped_rollup
        rollup = await scoped(session, action, institution_ids)
    snapshot = await session.scalar(
        select(RollupSnapshot)
        .where(RollupSnapshot.action_id == action.id)
        .where(RollupSnapshot.day < today)
        .order_by(RollupSnapshot.day.desc())
        .limit(1)
    )
    result = DigestAction(rollup, {}, None, [], started=action.starts_at <= now)
    if snapshot is not None:
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
    if not result.started:
        result.idle = await _idle(session, rollup, now - timedelta(days=settings.idle_days))
    return result


async def _idle(session: AsyncSession, rollup: Rollup, cutoff: datetime) -> list[RollupRow]:
    """Institutions invited before ``cutoff`` with no RSVP from any member since then (an
    invitation's ``responded_at`` is the time of its latest RSVP).

    Read from the rollup and the invitations since ``cutoff`` only (two range reads on the
    invitations' (action, invited_at) and (action, responded_at) indexes), never by grouping
    every invitation of the action: an institution answered lately if a member's invitation
    has an RSVP after the cutoff; it was invited before the cutoff unless every one of its
    invitations (the row's ``invited``, counted as the rollup counts) came after it."""
    aid = rollup.action.id
    by_institution = (
        select(Membership.institution_id, func.count())
        .select_from(Invitation)
        .join(Membership, Membership.person_id == Invitation.person_id)
        .where(Invitation.action_id == aid)
        .group_by(Membership.institution_id)
    )
    answered = {
        iid
        for iid, _n in await session.execute(by_institution.where(Invitation.responded_at > cutoff))
    }
    invited_since = {
        iid: int(n)
        for iid, n in await session.execute(by_institution.where(Invitation.invited_at > cutoff))
    }
    return [
        row
        for row in rollup.rows
        if row.institution_id is not None
        and row.invited > invited_since.get(row.institution_id, 0)
        and row.institution_id not in answered
    ]
