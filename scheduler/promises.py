"""Negotiate: the asks put to power-holders at an action and the promises they made, and the
report-back to everyone who came. What ``turnout promises`` and the console's promises pages
call (rows: storage/promises.py).

* :func:`add` records an ask (the power-holder's name, role, organisation; the ask; their
  answer: yes / no / partly / will respond; the promise's words; a date to keep it by);
  :func:`mark` says whether it was kept, broken or is still open, with a note. Every change is
  in the audit log.
* :func:`report_back` texts each person who came to the action, once (dedupe key
  storage.keys.report_back), in their language: how many came and what was promised, through
  the outbox and the outbound policy (never to someone who said STOP, after their quiet
  hours). ``preview`` counts without writing anything.

"How many came": per institution, the check-ins or the leader's headcount, whichever is
larger, plus the check-ins of people in no institution.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from scheduler.outbound import bulk_not_before, channel_for, place_message
from storage import keys
from storage.audit import Actor, record
from storage.counters import counted_rollup
from storage.models import (
    ANSWERS,
    PROMISE_STATUSES,
    Action,
    Attendance,
    OutboxMessage,
    Person,
    Promise,
)
from storage.outbox import Draft
from storage.promises import promises_for

MAX_NAME = 200
MAX_TEXT = 2000
# A report-back not sent within this long after it was asked for is not worth sending.
REPORT_BACK_WINDOW = timedelta(days=7)
PROMISED = ("yes", "partly")


class PromiseError(ValueError):
    """The ask or promise cannot be recorded as given; the message says why."""


@dataclass(frozen=True)
class AskInput:
    holder_name: str
    ask: str
    holder_role: str = ""
    holder_organisation: str = ""
    answer: str = "will_respond"
    words: str = ""
    due_on: date | None = None


def parse_due(raw: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise PromiseError(f"{raw[:40]!r} is not a date like 2026-06-30") from None


def _check(given: AskInput) -> AskInput:
    name = " ".join(given.holder_name.split())
    if not name:
        raise PromiseError("say who was asked (the power-holder's name)")
    ask = given.ask.strip()
    if not ask:
        raise PromiseError("say what they were asked")
    if given.answer not in ANSWERS:
        raise PromiseError(f"the answer must be one of {', '.join(ANSWERS)}")
    for label, value, limit in (
        ("name", name, MAX_NAME),
        ("role", given.holder_role, MAX_NAME),
        ("organisation", given.holder_organisation, MAX_NAME),
        ("ask", ask, MAX_TEXT),
        ("promise", given.words, MAX_TEXT),
    ):
        if len(value) > limit:
            raise PromiseError(f"the {label} is {len(value)} characters; keep it to {limit}")
    return AskInput(
        name,
        ask,
        " ".join(given.holder_role.split()),
        " ".join(given.holder_organisation.split()),
        given.answer,
        given.words.strip(),
        given.due_on,
    )


async def add(
    session: AsyncSession, action: Action, given: AskInput, *, actor: Actor, now: datetime
) -> Promise:
    clean = _check(given)
    promise = Promise(
        action_id=action.id,
        holder_name=clean.holder_name,
        holder_role=clean.holder_role,
        holder_organisation=clean.holder_organisation,
        ask=clean.ask,
        answer=clean.answer,
        words=clean.words,
        due_on=clean.due_on,
        status="open",
        note="",
        created_at=now,
        updated_at=now,
    )
    session.add(promise)
    await session.flush()
    await record(
        session,
        actor,
        "promise_recorded",
        "promise",
        promise.id,
        at=now,
        details={"action": action.id, "answer": clean.answer},
    )
    return promise


async def get(session: AsyncSession, promise_id: int, action_id: int | None = None) -> Promise:
    promise = await session.get(Promise, promise_id)
    if promise is None or (action_id is not None and promise.action_id != action_id):
        raise PromiseError(f"no promise {promise_id}")
    return promise


async def mark(
    session: AsyncSession,
    promise: Promise,
    status: str,
    *,
    note: str | None = None,
    actor: Actor,
    now: datetime,
) -> Promise:
    """Kept, broken or still open, with a note (None keeps the note there is)."""
    if status not in PROMISE_STATUSES:
        raise PromiseError(f"the status must be one of {', '.join(PROMISE_STATUSES)}")
    if note is not None and len(note) > MAX_TEXT:
        raise PromiseError(f"the note is {len(note)} characters; keep it to {MAX_TEXT}")
    before = promise.status
    promise.status = status
    if note is not None:
        promise.note = note.strip()
    promise.updated_at = now
    await record(
        session,
        actor,
        "promise_marked",
        "promise",
        promise.id,
        at=now,
        details={"from": before, "to": status, "action": promise.action_id},
    )
    return promise


# -- the report-back -------------------------------------------------------------------------


@dataclass
class ReportBack:
    came: int = 0  # how many came (the number in the message)
    attendees: int = 0  # people checked in: whom it is for
    queued: int = 0  # newly queued (or, in a preview, would be)
    already: int = 0  # had it already
    opted_out: int = 0
    unreachable: int = 0
    dropped: int = 0


async def how_many_came(session: AsyncSession, action: Action) -> int:
    """The number the board shows as arrived (the rollup's rule, read from the counters)."""
    return (await counted_rollup(session, action)).totals.arrived


def promised_text(promises: list[Promise]) -> str:
    """The promises as one line: "Cllr Jones (Leicester City Council): a review by June"."""
    parts = []
    for p in promises:
        if p.answer in PROMISED and p.words:
            who = (
                f"{p.holder_name} ({p.holder_organisation})"
                if p.holder_organisation
                else (p.holder_name)
            )
            parts.append(f"{who}: {p.words}")
    return "; ".join(parts)


async def report_back(
    session: AsyncSession,
    settings: Settings,
    action: Action,
    *,
    actor: Actor,
    now: datetime,
    preview: bool = False,
) -> ReportBack:
    if action.starts_at > now:
        raise PromiseError(f"{action.slug!r} has not started yet: report back after it")
    report = ReportBack(came=await how_many_came(session, action))
    people = list(
        await session.scalars(
            select(Person)
            .join(Attendance, Attendance.person_id == Person.id)
            .where(Attendance.action_id == action.id)
            .order_by(Person.id)
        )
    )
    report.attendees = len(people)
    sent = set(
        await session.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.dedupe_key.in_([keys.report_back(action.id, p.id) for p in people])
            )
        )
    )
    promised = promised_text(await promises_for(session, action.id))
    for person in people:
        key = keys.report_back(action.id, person.id)
        if key in sent:
            report.already += 1
        elif person.opted_out:
            report.opted_out += 1
        elif channel_for(person, now) is None:
            report.unreachable += 1
        elif preview:
            report.queued += 1
        else:
            params: dict[str, object] = {"title": action.title, "people": report.came}
            draft = (
                Draft("report_back", {**params, "promises": promised})
                if promised
                else Draft("report_back_none", params)
            )
            outcome = await place_message(
                session,
                person,
                draft,
                settings=settings,
                key=key,
                now=now,
                not_before=bulk_not_before(person, now, settings),
                deadline=now + REPORT_BACK_WINDOW,
                action_id=action.id,
            )
            if outcome == "queued":
                report.queued += 1
            elif outcome == "dropped":
                report.dropped += 1
            else:
                report.unreachable += 1
    if not preview:
        await record(
            session,
            actor,
            "report_back_sent",
            "action",
            action.id,
            at=now,
            details={
                "queued": report.queued,
                "already": report.already,
                "opted_out": report.opted_out,
                "came": report.came,
            },
        )
    return report
