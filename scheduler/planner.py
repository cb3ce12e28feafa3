"""Planning: turn every action's reminder ladder into outbox rows, idempotently.

``plan(db, settings, now)`` looks at each scheduled action that has not long ended, and for each
ladder step due by ``now`` (plus ``settings.plan_ahead_minutes``) writes one row per person in
the step's audience, with

- the dedupe key ``reminder:{kind}:{action.id}:r{revision}:{person.id}``: planning again, from
  this process or after a restart, adds nothing; a reschedule (new revision) plans afresh;
- ``not_before``: the due time, pushed past the person's quiet hours in their own time zone;
- ``expires_at``: the step's last useful moment. A row that cannot arrive by then (quiet hours,
  or it fell due while the process was down for too long) is written as ``cancelled`` with
  error_code ``too_late`` and counted in :attr:`PlanReport.dropped`: dropped on purpose, on
  record, never sent late and never silently lost. The sender must also drop (not send) a row
  whose ``expires_at`` has passed by the time it is claimed.

A step whose due time is before the action's last change (``updated_at``: creation, reschedule)
belongs to an earlier version of the action and is skipped: the change notice replaced it.
Steps are looked at until ``STEP_GRACE`` after their last useful moment, so a planner that was
down records what it missed. Passing a future ``now`` is the "as if" fast-forward.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from scheduler.outbound import bulk_not_before, local_time, place_message, when_for
from scheduler.reminders import Step, audience, ladder_for
from storage import keys
from storage.db import Database
from storage.models import Action, Invitation, Membership, Person
from storage.outbox import Draft
from storage.rollup import Rollup, action_rollup

log = logging.getLogger(__name__)

# Steps are still looked at this long after their last useful moment (to record drops).
STEP_GRACE = timedelta(days=2)
CHUNK = 500  # people per transaction: SQLite's single writer is never held for long


@dataclass
class PlanReport:
    now: datetime
    planned: Counter[str] = field(default_factory=Counter)  # new rows to send, per step
    dropped: Counter[str] = field(default_factory=Counter)  # too late, per step
    unreachable: int = 0  # no working phone and no Telegram
    actions: int = 0

    @property
    def total_planned(self) -> int:
        return sum(self.planned.values())

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def summary(self) -> str:
        def fmt(counts: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"

        return (
            f"planned {self.total_planned} ({fmt(self.planned)}); dropped as too late "
            f"{self.total_dropped} ({fmt(self.dropped)}); unreachable {self.unreachable}; "
            f"{self.actions} action(s) looked at"
        )


async def plan(db: Database, settings: Settings, now: datetime) -> PlanReport:
    """Plan every reminder due by ``now`` (+ plan-ahead). Safe to run any number of times."""
    report = PlanReport(now=now)
    ahead = timedelta(minutes=settings.plan_ahead_minutes)
    async with db.session() as session:
        actions = list(
            await session.scalars(
                select(Action)
                .where(Action.status == "scheduled")
                .where(Action.ends_at >= now - timedelta(days=7) - STEP_GRACE)
                .order_by(Action.starts_at)
            )
        )
        ladders = {a.id: await ladder_for(session, a) for a in actions}
    for action in actions:
        live = [
            step
            for step in ladders[action.id]
            if action.updated_at <= step.due(action) <= now + ahead
            and now <= step.deadline(action) + STEP_GRACE
        ]
        if live:
            report.actions += 1
        for step in live:
            await _plan_step(db, settings, action, step, now, report)
    if report.total_planned or report.total_dropped:
        log.info("planner at %s: %s", now.isoformat(), report.summary())
    for kind, count in report.dropped.items():
        log.warning("planner dropped %d %s reminder(s) as too late", count, kind)
    return report


async def _plan_step(
    db: Database, settings: Settings, action: Action, step: Step, now: datetime, report: PlanReport
) -> None:
    due = step.due(action)
    async with db.session() as session:
        person_ids = list(await session.scalars(audience(action, step, due)))
    if not person_ids:
        return
    result: _Result | None = None
    if step.kind == "thank_you":
        async with db.session() as session:
            result = _Result(await action_rollup(session, action))
    for start in range(0, len(person_ids), CHUNK):
        async with db.session() as session:
            chunk = person_ids[start : start + CHUNK]
            await _plan_chunk(session, settings, action, step, chunk, now, report, result)


async def _plan_chunk(
    session: AsyncSession,
    settings: Settings,
    action: Action,
    step: Step,
    person_ids: list[int],
    now: datetime,
    report: PlanReport,
    result: _Result | None,
) -> None:
    people = list(await session.scalars(select(Person).where(Person.id.in_(person_ids))))
    responses = {
        pid: response
        for pid, response in await session.execute(
            select(Invitation.person_id, Invitation.response)
            .where(Invitation.action_id == action.id)
            .where(Invitation.person_id.in_(person_ids))
        )
    }
    memberships: dict[int, list[int]] = {}
    if result is not None:
        for pid, iid in await session.execute(
            select(Membership.person_id, Membership.institution_id)
            .where(Membership.person_id.in_(person_ids))
            .order_by(Membership.id)
        ):
            memberships.setdefault(pid, []).append(iid)
    due = step.due(action)
    deadline = step.deadline(action)
    for person in sorted(people, key=lambda p: p.id):
        if step.kind == "thank_you":
            assert result is not None
            draft = result.draft(action, memberships.get(person.id, []))
        else:
            draft = _draft(step, action, person, responses.get(person.id), settings)
        outcome = await place_message(
            session,
            person,
            draft,
            settings=settings,
            key=keys.reminder(step.kind, action.id, action.revision, person.id),
            now=now,
            not_before=bulk_not_before(person, max(due, now), settings),
            deadline=deadline,
            action_id=action.id,
        )
        if outcome == "queued":
            report.planned[step.kind] += 1
        elif outcome == "dropped":
            report.dropped[step.kind] += 1
        else:
            report.unreachable += 1


def _draft(
    step: Step, action: Action, person: Person, response: str | None, settings: Settings
) -> Draft:
    common = {"title": action.title, "place": action.place}
    if step.kind in ("still_coming", "nudge"):
        template = step.kind
        if step.kind == "still_coming" and response == "maybe":
            template = "still_maybe"
        return Draft(template, {**common, "when": when_for(person, action.starts_at, settings)})
    if step.kind == "day_of":
        params = {**common, "time": local_time(person, action.starts_at, settings)}
        if action.bring.strip():
            return Draft("day_of", {**params, "bring": action.bring.strip()})
        return Draft("day_of_plain", params)
    if step.kind == "did_you_make_it":
        return Draft("did_you_make_it", {"title": action.title})
    raise ValueError(f"no draft for reminder {step.kind!r}")


@dataclass
class _Result:
    """The thank-you's numbers: the alliance's total, and the person's institution's."""

    rollup: Rollup

    def draft(self, action: Action, institution_ids: list[int]) -> Draft:
        total = self.rollup.unique_attended
        rows = []
        for iid in institution_ids:
            try:
                rows.append(self.rollup.row_for(iid))
            except KeyError:  # a former institution without a commitment
                continue
        # The institution that made a promise speaks first.
        rows.sort(key=lambda r: r.committed is None)
        if not rows:
            return Draft("thanks", {"title": action.title, "total": total})
        row = rows[0]
        params = {
            "title": action.title,
            "total": total,
            "institution": row.institution,
            "brought": row.attended,
        }
        if row.committed is not None:
            return Draft("thanks_committed", {**params, "committed": row.committed})
        return Draft("thanks_institution", params)
