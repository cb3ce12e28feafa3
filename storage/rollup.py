"""The turnout rollup for one action, per institution: the one function the CLI, the digest,
Telegram's /turnout and any board use.

Per institution: the commitment, RSVP yes (+ guests), maybe, no, not replied, attended; a
"no institution" row for people who belong to none; totals. A person in two institutions counts
in both rows (each institution brought them), so the totals also give unique people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement, SQLCoreOperations

from storage.models import (
    Action,
    Attendance,
    Commitment,
    Institution,
    Invitation,
    Membership,
)

NO_INSTITUTION = "No institution"


@dataclass
class RollupRow:
    institution_id: int | None
    institution: str
    committed: int | None = None
    yes: int = 0
    guests: int = 0
    maybe: int = 0
    no: int = 0
    not_replied: int = 0
    attended: int = 0

    @property
    def confirmed(self) -> int:
        """People who said yes plus the guests they are bringing."""
        return self.yes + self.guests

    @property
    def gap(self) -> int | None:
        """How many more confirmed people the commitment needs (negative: ahead of it)."""
        return None if self.committed is None else self.committed - self.confirmed

    @property
    def invited(self) -> int:
        return self.yes + self.maybe + self.no + self.not_replied


@dataclass
class Rollup:
    action: Action
    rows: list[RollupRow]
    no_institution: RollupRow
    unique_yes: int = 0
    unique_guests: int = 0
    unique_attended: int = 0
    totals: RollupRow = field(init=False)

    def __post_init__(self) -> None:
        total = RollupRow(None, "Total", committed=0)
        for row in [*self.rows, self.no_institution]:
            for name in ("yes", "guests", "maybe", "no", "not_replied", "attended"):
                setattr(total, name, getattr(total, name) + getattr(row, name))
            if row.committed is not None:
                total.committed = (total.committed or 0) + row.committed
        self.totals = total

    def row_for(self, institution_id: int | None) -> RollupRow:
        if institution_id is None:
            return self.no_institution
        for row in self.rows:
            if row.institution_id == institution_id:
                return row
        raise KeyError(institution_id)


def _counts(
    response_col: SQLCoreOperations[Any],
    guests_col: SQLCoreOperations[Any],
    invited_col: SQLCoreOperations[Any],
    attended_col: SQLCoreOperations[Any],
) -> tuple[ColumnElement[Any], ...]:
    return (
        func.coalesce(func.sum(case((response_col == "yes", 1), else_=0)), 0),
        func.coalesce(func.sum(case((response_col == "yes", guests_col), else_=0)), 0),
        func.coalesce(func.sum(case((response_col == "maybe", 1), else_=0)), 0),
        func.coalesce(func.sum(case((response_col == "no", 1), else_=0)), 0),
        func.coalesce(
            func.sum(case((and_(invited_col.is_not(None), response_col.is_(None)), 1), else_=0)),
            0,
        ),
        func.coalesce(func.sum(case((attended_col.is_not(None), 1), else_=0)), 0),
    )


async def action_rollup(
    session: AsyncSession, action: Action, *, institution_id: int | None = None
) -> Rollup:
    """The rollup for ``action``; with ``institution_id``, only that institution's row is
    filled (what a leader may see), the rest of the institutions are left out."""
    aid = action.id
    inv = Invitation
    att = Attendance
    per_institution = (
        select(
            Institution.id,
            Institution.name,
            Commitment.number,
            *_counts(inv.response, inv.guests, inv.id, att.id),
        )
        .select_from(Institution)
        .outerjoin(Membership, Membership.institution_id == Institution.id)
        .outerjoin(inv, and_(inv.person_id == Membership.person_id, inv.action_id == aid))
        .outerjoin(att, and_(att.person_id == Membership.person_id, att.action_id == aid))
        .outerjoin(
            Commitment,
            and_(Commitment.institution_id == Institution.id, Commitment.action_id == aid),
        )
        .where((Institution.status != "former") | Commitment.id.is_not(None))
        .group_by(Institution.id, Institution.name, Commitment.number)
        .order_by(Institution.name)
    )
    if institution_id is not None:
        per_institution = per_institution.where(Institution.id == institution_id)
    rows = [
        RollupRow(iid, name, committed, int(y), int(g), int(m), int(n), int(w), int(a))
        for iid, name, committed, y, g, m, n, w, a in (await session.execute(per_institution))
    ]

    no_membership = ~exists().where(Membership.person_id == inv.person_id)
    invited_loose = (
        select(*_counts(inv.response, inv.guests, inv.id, null()))
        .where(inv.action_id == aid)
        .where(no_membership)
    )
    y, g, m, n, w, _ = tuple((await session.execute(invited_loose)).one())
    loose_attended = await session.scalar(
        select(func.count())
        .select_from(att)
        .where(att.action_id == aid)
        .where(~exists().where(Membership.person_id == att.person_id))
    )
    loose = RollupRow(None, NO_INSTITUTION, None, int(y), int(g), int(m), int(n), int(w))
    loose.attended = int(loose_attended or 0)

    unique = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((inv.response == "yes", 1), else_=0)), 0),
                func.coalesce(func.sum(case((inv.response == "yes", inv.guests), else_=0)), 0),
            ).where(inv.action_id == aid)
        )
    ).one()
    unique_attended = await session.scalar(
        select(func.count()).select_from(att).where(att.action_id == aid)
    )
    return Rollup(
        action=action,
        rows=rows,
        no_institution=loose,
        unique_yes=int(unique[0]),
        unique_guests=int(unique[1]),
        unique_attended=int(unique_attended or 0),
    )
