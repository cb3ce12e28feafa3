"""Asks and promises (rows and queries): per action, what was asked of each power-holder,
their answer, the promise's words, the date by which it should be kept, and whether it was.
The use cases (validation, the audit log, the report-back) are scheduler/promises.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.export import CsvExport
from storage.models import Action, Promise

# A promise "falls due" this many days before its date (and stays due until marked).
DUE_SOON = timedelta(days=7)
ANSWER_LABELS = {"yes": "Yes", "no": "No", "partly": "Partly", "will_respond": "Will respond"}
CSV_HEADER = (
    "action",
    "power_holder",
    "role",
    "organisation",
    "ask",
    "answer",
    "promise",
    "due",
    "status",
    "note",
)


async def promises_for(session: AsyncSession, action_id: int) -> list[Promise]:
    return list(
        await session.scalars(
            select(Promise).where(Promise.action_id == action_id).order_by(Promise.id)
        )
    )


async def due(session: AsyncSession, today: date) -> list[tuple[Promise, Action]]:
    """Open promises whose date is within :data:`DUE_SOON` of ``today``, or past: soonest
    (most overdue) first."""
    rows = await session.execute(
        select(Promise, Action)
        .join(Action, Action.id == Promise.action_id)
        .where(Promise.status == "open")
        .where(Promise.due_on.is_not(None))
        .where(Promise.due_on <= today + DUE_SOON)
        .order_by(Promise.due_on, Promise.id)
    )
    return [(p, a) for p, a in rows]


def due_line(promise: Promise, action: Action, today: date) -> str:
    """One line for the digest and the console: who, what, when, how late."""
    assert promise.due_on is not None
    days = (promise.due_on - today).days
    when = (
        f"{-days} days overdue"
        if days < -1
        else "1 day overdue"
        if days == -1
        else "due today"
        if days == 0
        else f"due in {days} days"
    )
    said = promise.words or promise.ask
    return f"{promise.holder_name}: {said} ({action.title}, {when})"


def write_csv(out: TextIO, action: Action, promises: Sequence[Promise]) -> int:
    """The promises of ``action`` as CSV through the one formula-safe writer; returns rows."""
    export = CsvExport(out, CSV_HEADER)
    for p in promises:
        export.row(
            [
                action.slug,
                p.holder_name,
                p.holder_role,
                p.holder_organisation,
                p.ask,
                ANSWER_LABELS.get(p.answer, p.answer),
                p.words,
                "" if p.due_on is None else p.due_on.isoformat(),
                p.status,
                p.note,
            ]
        )
    return export.rows
