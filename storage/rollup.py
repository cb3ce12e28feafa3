"""The turnout rollup for one action, per institution: the one function the CLI, the digest,
Telegram's /turnout and any board use.

Per institution: the commitment, RSVP yes (+ guests), maybe, no, not replied, attended; a
"no institution" row for people who belong to none; the total of the rows; unique people. A
person in two institutions counts in both rows (each institution brought them), so the total
row is a sum of rows, not of people: the unique row counts each person once. The total gap is
the sum of the shortfalls of the institutions behind their pledge: an institution ahead of its
pledge does not hide one behind.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import (
    Action,
    Attendance,
    Commitment,
    Headcount,
    Institution,
    Invitation,
    Membership,
)

NO_INSTITUTION = "No institution"
TOTAL = "Total"
UNIQUE_PEOPLE = "Unique people"
# What the total and unique rows mean, printed under every table that shows them.
TOTALS_NOTE = (
    "Total adds up the rows: a person in two institutions counts in both; Unique people\n"
    "counts each person once. The total gap is the sum of the shortfalls of institutions\n"
    "behind their pledge."
)


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
    # A leader's headcount on the day (Telegram /count 37), kept apart from check-ins.
    headcount: int | None = None

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

    @property
    def arrived(self) -> int:
        """Who came: the check-ins, or the leader's headcount at the door when it is higher.
        Not their sum: a headcount counts everyone from the institution at the door, those
        who texted HERE too."""
        return max(self.attended, self.headcount or 0)


@dataclass
class TotalRow(RollupRow):
    """The rows added up (a person in two institutions counts twice). Its ``gap`` is the sum
    of the shortfalls of the institutions behind their pledge (None when none has pledged),
    not the net of the sums: an institution ahead does not hide one behind."""

    shortfall: int | None = None
    arrived_rows: int = 0

    @property
    def gap(self) -> int | None:
        return self.shortfall

    @property
    def arrived(self) -> int:
        """The rows' arrivals added up (each row's own rule: see RollupRow.arrived)."""
        return self.arrived_rows


@dataclass
class Rollup:
    action: Action
    rows: list[RollupRow]
    no_institution: RollupRow
    # Each person once, whatever their institutions (no commitment, no gap).
    unique: RollupRow = field(default_factory=lambda: RollupRow(None, UNIQUE_PEOPLE))
    totals: TotalRow = field(init=False)

    def __post_init__(self) -> None:
        # A sum per column, not getattr/setattr per cell: a board reads 1,000 rows live.
        every = [*self.rows, self.no_institution]
        total = TotalRow(
            None,
            TOTAL,
            committed=0,
            yes=sum(r.yes for r in every),
            guests=sum(r.guests for r in every),
            maybe=sum(r.maybe for r in every),
            no=sum(r.no for r in every),
            not_replied=sum(r.not_replied for r in every),
            attended=sum(r.attended for r in every),
        )
        pledged = [r for r in every if r.committed is not None]
        if pledged:
            total.committed = sum(r.committed or 0 for r in pledged)
            total.shortfall = sum(max(r.gap or 0, 0) for r in pledged)
        counted = [r.headcount for r in every if r.headcount is not None]
        if counted:
            total.headcount = sum(counted)
        total.arrived_rows = sum(r.arrived for r in every)
        self.totals = total

    @property
    def unique_yes(self) -> int:
        return self.unique.yes

    @property
    def unique_guests(self) -> int:
        return self.unique.guests

    @property
    def unique_attended(self) -> int:
        return self.unique.attended

    def row_for(self, institution_id: int | None) -> RollupRow:
        if institution_id is None:
            return self.no_institution
        for row in self.rows:
            if row.institution_id == institution_id:
                return row
        raise KeyError(institution_id)


# The RSVP numbers of a group of invitations, in RollupRow's order (yes, guests, maybe, no,
# not replied): every row counted is an invitation, so "not replied" is "no response yet".
def _rsvp_counts() -> tuple[ColumnElement[Any], ...]:
    inv = Invitation
    return (
        func.coalesce(func.sum(case((inv.response == "yes", 1), else_=0)), 0),
        func.coalesce(func.sum(case((inv.response == "yes", inv.guests), else_=0)), 0),
        func.coalesce(func.sum(case((inv.response == "maybe", 1), else_=0)), 0),
        func.coalesce(func.sum(case((inv.response == "no", 1), else_=0)), 0),
        func.coalesce(func.sum(case((inv.response.is_(None), 1), else_=0)), 0),
    )


Counts = tuple[int, int, int, int, int]


async def _rsvps_by_institution(
    session: AsyncSession, action_id: int, institution_id: int | None
) -> dict[int | None, Counts]:
    """RSVP counts per institution of the invited person; the ``None`` key holds the people
    who belong to no institution. A person in two institutions counts in both.

    The whole action is one pass: invitations LEFT JOIN memberships, grouped by institution
    (the NULL group is the no-institution row). For one institution (a leader's view), only
    its members' invitations, through the memberships index: a leader's COUNT stays cheap
    however large the action."""
    inv = Invitation
    if institution_id is None:
        query = (
            select(Membership.institution_id, *_rsvp_counts())
            .select_from(inv)
            .outerjoin(Membership, Membership.person_id == inv.person_id)
            .where(inv.action_id == action_id)
            .group_by(Membership.institution_id)
        )
        return {iid: _ints(counts) for iid, *counts in await session.execute(query)}
    mine = (
        select(*_rsvp_counts())
        .select_from(inv)
        .join(Membership, Membership.person_id == inv.person_id)
        .where(inv.action_id == action_id)
        .where(Membership.institution_id == institution_id)
    )
    return {institution_id: _ints((await session.execute(mine)).one())}


def _ints(values: Any) -> Counts:
    yes, guests, maybe, no, waiting = (int(v) for v in values)
    return yes, guests, maybe, no, waiting


def listed_institutions(action_id: int) -> Select[int, str, int]:
    """The institutions a rollup lists, by name, with their commitment: every one that is
    not former, and a former one that pledged for this action."""
    return (
        select(Institution.id, Institution.name, Commitment.number)
        .outerjoin(
            Commitment,
            and_(Commitment.institution_id == Institution.id, Commitment.action_id == action_id),
        )
        .where((Institution.status != "former") | Commitment.id.is_not(None))
        .order_by(Institution.name)
    )


async def action_rollup(
    session: AsyncSession, action: Action, *, institution_id: int | None = None
) -> Rollup:
    """The rollup for ``action``; with ``institution_id``, only that institution's row (what
    a leader may see): the other institutions and the no-institution row are left out, and
    the unique figures are that institution's own.

    Four small queries instead of one wide join: the RSVPs per institution (one pass over the
    action's invitations, see _rsvps_by_institution), check-ins per institution, the
    institutions with their commitments, and the unique totals. At 1,000,000 RSVPs the wide
    join (institutions x memberships x invitations x attendance x commitments, then a NOT
    EXISTS pass for the no-institution row) took 2.4x longer: see docs/benchmarks-digest.md."""
    aid = action.id
    rsvps = await _rsvps_by_institution(session, aid, institution_id)

    attended_query = (
        select(Membership.institution_id, func.count())
        .select_from(Attendance)
        .outerjoin(Membership, Membership.person_id == Attendance.person_id)
        .where(Attendance.action_id == aid)
        .group_by(Membership.institution_id)
    )
    if institution_id is not None:
        attended_query = attended_query.where(Membership.institution_id == institution_id)
    attended: dict[int | None, int] = {
        iid: int(n) for iid, n in await session.execute(attended_query)
    }

    institutions = listed_institutions(aid)
    if institution_id is not None:
        institutions = institutions.where(Institution.id == institution_id)
    nothing: Counts = (0, 0, 0, 0, 0)
    rows = [
        RollupRow(iid, name, committed, *rsvps.get(iid, nothing), attended.get(iid, 0))
        for iid, name, committed in await session.execute(institutions)
    ]
    loose = RollupRow(None, NO_INSTITUTION, None, *rsvps.get(None, nothing), attended.get(None, 0))
    latest = (
        select(func.max(Headcount.id))
        .where(Headcount.action_id == aid)
        .group_by(Headcount.institution_id)
    )
    heads = select(Headcount.institution_id, Headcount.number).where(Headcount.id.in_(latest))
    counted: dict[int | None, int] = {iid: int(n) for iid, n in await session.execute(heads)}
    for row in rows:
        row.headcount = counted.get(row.institution_id)

    if institution_id is not None:
        own = rows[0] if rows else RollupRow(institution_id, "")
        counts = (own.yes, own.guests, own.maybe, own.no, own.not_replied)
        return Rollup(
            action=action,
            rows=rows,
            no_institution=RollupRow(None, NO_INSTITUTION),
            unique=RollupRow(None, UNIQUE_PEOPLE, None, *counts, own.attended),
        )
    # Each invitation is one person: the same counts without the memberships join.
    unique = _ints(
        (
            await session.execute(
                select(*_rsvp_counts()).select_from(Invitation).where(Invitation.action_id == aid)
            )
        ).one()
    )
    unique_attended = await session.scalar(
        select(func.count()).select_from(Attendance).where(Attendance.action_id == aid)
    )
    return Rollup(
        action=action,
        rows=rows,
        no_institution=loose,
        unique=RollupRow(None, UNIQUE_PEOPLE, None, *unique, int(unique_attended or 0)),
    )


async def scoped_rollup(
    session: AsyncSession, action: Action, institution_ids: Collection[int]
) -> Rollup:
    """Only these institutions' rows (a leader who leads several), each read on its own, so a
    leader's view stays cheap however large the action; no "no institution" row. The unique
    figures count each of their people once, however many of these institutions they are in."""
    rows: list[RollupRow] = []
    for iid in sorted(institution_ids):
        rows += (await action_rollup(session, action, institution_id=iid)).rows
    rows.sort(key=lambda r: r.institution)
    return Rollup(
        action=action,
        rows=rows,
        no_institution=RollupRow(None, NO_INSTITUTION),
        unique=await scoped_unique(session, action.id, institution_ids),
    )


async def scoped_unique(
    session: AsyncSession, action_id: int, institution_ids: Collection[int]
) -> RollupRow:
    """The unique row of these institutions: each of their people once, however many of
    these institutions they are in."""
    theirs = select(Membership.person_id).where(Membership.institution_id.in_(institution_ids))
    unique = _ints(
        (
            await session.execute(
                select(*_rsvp_counts())
                .select_from(Invitation)
                .where(Invitation.action_id == action_id)
                .where(Invitation.person_id.in_(theirs))
            )
        ).one()
    )
    attended = await session.scalar(
        select(func.count())
        .select_from(Attendance)
        .where(Attendance.action_id == action_id)
        .where(Attendance.person_id.in_(theirs))
    )
    return RollupRow(None, UNIQUE_PEOPLE, None, *unique, int(attended or 0))
