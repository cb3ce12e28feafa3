"""Live counters: per action and bucket (an institution; the people in no institution; everyone
once), the numbers the rollup shows, kept in the same transaction as every write that moves
them, so a board or a rollup reads a few rows instead of grouping every RSVP.

The writes that move them each have one place, and each calls in here:

* an invitation (scheduler/actions.py ``invite``, a listening theme's invitation, a tap on a
  group's RSVP card): :func:`invited`;
* an RSVP and a change of mind (``record_rsvp``): :func:`rsvp_changed`;
* a check-in (``check_in``): :func:`checked_in`; a headcount (``record_headcount``):
  :func:`headcount`; a commitment (storage/commitments.py): :func:`touched` (the pledge itself
  is read from its own table: one row per institution);
* a membership change (the importer, merging two people): :func:`recounting` takes the people's
  numbers out of their old buckets and puts them into the new ones.

Every change is one ``INSERT ... ON CONFLICT DO UPDATE SET n = n + :change`` per row, in a fixed
order (so two transactions never wait on each other in a cycle): safe under concurrency on
PostgreSQL, and on SQLite, where every writer holds the database (BEGIN IMMEDIATE).

The raw-row rollup (storage/rollup.py) stays the reference: :func:`drift` compares the counters
with it and :func:`repair` rewrites the rows that differ (``turnout counters verify``, and a
nightly job). Anything that changes the raw rows without coming through here (a person erased,
rows edited by hand, a write from before this table existed) is caught there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage import fast
from storage.models import (
    Action,
    ActionCounter,
    Attendance,
    Commitment,
    Institution,
    Invitation,
    Membership,
)
from storage.rollup import (
    NO_INSTITUTION,
    UNIQUE_PEOPLE,
    Rollup,
    RollupRow,
    action_rollup,
    listed_institutions,
    scoped_unique,
)

NONE = 0  # the bucket of the people in no institution
EVERYONE = -1  # each person once (the rollup's unique row)
FIELDS = ("invited", "yes", "guests", "maybe", "no", "attended")

Key = tuple[int, int]  # (action id, bucket)


class Tally:
    """Changes to apply, per (action, bucket) and field."""

    def __init__(self) -> None:
        self.changes: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))

    def add(self, action_id: int, buckets: Iterable[int], sign: int = 1, **fields: int) -> None:
        for bucket in buckets:
            row = self.changes[(action_id, bucket)]
            for name, value in fields.items():
                row[name] += sign * value

    def rows(self) -> list[tuple[Key, dict[str, int]]]:
        return [(key, row) for key, row in sorted(self.changes.items()) if any(row.values())]


def _rsvp(response: str | None, guests: int) -> dict[str, int]:
    """What one invitation adds to its buckets."""
    counts = {"invited": 1}
    if response in ("yes", "maybe", "no"):
        counts[response] = 1
    if response == "yes":
        counts["guests"] = guests
    return counts


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _upsert(insert: Any) -> Any:
    """The one upsert of a counter row, built once per dialect: every field added (a zero adds
    nothing), so one fixed statement serves every change (a statement built per row cost more
    than running it)."""
    table = ActionCounter.__table__
    stmt = insert(ActionCounter).values(
        action_id=bindparam("action_id"),
        bucket=bindparam("bucket"),
        **{name: bindparam(name) for name in FIELDS},
        seq=1,
        updated_at=bindparam("updated_at"),
    )
    changes: dict[str, Any] = {name: table.c[name] + stmt.excluded[name] for name in FIELDS}
    changes["seq"] = table.c.seq + 1
    changes["updated_at"] = stmt.excluded.updated_at
    return stmt.on_conflict_do_update(index_elements=["action_id", "bucket"], set_=changes)


_UPSERT = {
    "postgresql": fast.prepare(_upsert(pg_insert)),
    "sqlite": fast.prepare(_upsert(sqlite_insert)),
}


async def apply(session: AsyncSession, tally: Tally, now: datetime) -> None:
    """Add ``tally`` to the counters: one upsert per row, in key order (one executemany)."""
    rows = [
        {"action_id": action_id, "bucket": bucket, **row, "updated_at": now}
        for (action_id, bucket), row in tally.rows()
    ]
    if not rows:
        return
    if session.new or session.dirty or session.deleted:
        await session.flush()  # what session.execute would do first (a new action)
    connection = await session.connection()
    upsert = _UPSERT["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    await fast.execute_many(connection, upsert, rows)


_MANY = 100  # people at once: above this, PostgreSQL gets them as one array


_ONE_PERSONS = fast.prepare(
    select(Membership.institution_id)
    .where(Membership.person_id == bindparam("person_id"))
    .order_by(Membership.institution_id)
)


async def buckets_of(session: AsyncSession, person_ids: Collection[int]) -> dict[int, list[int]]:
    """Each person's buckets: their institutions (or NONE), and EVERYONE."""
    found: dict[int, list[int]] = {pid: [] for pid in person_ids}
    if len(found) == 1:
        # One person (every RSVP and check-in): a statement built once.
        (pid,) = found
        if session.new or session.dirty or session.deleted:
            await session.flush()  # what session.execute would do first (a new membership)
        connection = await session.connection()
        iids = await fast.integers(connection, _ONE_PERSONS, {"person_id": pid})
        return {pid: [*(iids or [NONE]), EVERYONE]}
    if person_ids:
        ids = list(person_ids)
        among: ColumnElement[bool] = Membership.person_id.in_(ids)
        if len(ids) > _MANY and session.get_bind().dialect.name == "postgresql":
            # Thousands (a segment invited): one array parameter, not a statement with
            # thousands of parameters for the server to parse and plan.
            among = Membership.person_id == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
        rows = await session.execute(
            select(Membership.person_id, Membership.institution_id)
            .where(among)
            .order_by(Membership.institution_id)
        )
        for pid, iid in rows:
            found[pid].append(iid)
    return {pid: [*(iids or [NONE]), EVERYONE] for pid, iids in found.items()}


# -- the hooks: one per write that moves a number ------------------------------------------


async def invited(
    session: AsyncSession, action_id: int, person_ids: Collection[int], now: datetime
) -> None:
    """New invitations (no reply yet) for these people."""
    tally = Tally()
    for buckets in (await buckets_of(session, person_ids)).values():
        tally.add(action_id, buckets, invited=1)
    await apply(session, tally, now)


async def rsvp_changed(
    session: AsyncSession,
    action_id: int,
    person_id: int,
    before: tuple[str | None, int],
    after: tuple[str | None, int],
    now: datetime,
) -> None:
    """An invitation's reply went from ``before`` to ``after`` (response, guests)."""
    if before == after:
        return
    buckets = (await buckets_of(session, [person_id]))[person_id]
    tally = Tally()
    tally.add(action_id, buckets, -1, **_rsvp(*before))
    tally.add(action_id, buckets, **_rsvp(*after))
    await apply(session, tally, now)


async def checked_in(session: AsyncSession, action_id: int, person_id: int, now: datetime) -> None:
    tally = Tally()
    tally.add(action_id, (await buckets_of(session, [person_id]))[person_id], attended=1)
    await apply(session, tally, now)


async def headcount(
    session: AsyncSession, action_id: int, institution_id: int, number: int, now: datetime
) -> None:
    """The institution's latest headcount at the door (it replaces the one before)."""
    insert = _insert(session)
    stmt = insert(ActionCounter).values(
        action_id=action_id,
        bucket=institution_id,
        **dict.fromkeys(FIELDS, 0),
        headcount=number,
        seq=1,
        updated_at=now,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["action_id", "bucket"],
            set_={
                "headcount": stmt.excluded.headcount,
                "seq": ActionCounter.__table__.c.seq + 1,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


async def touched(
    session: AsyncSession, action_id: int, institution_id: int, now: datetime
) -> None:
    """Something the board shows beside the counts changed (a commitment): bump the row."""
    insert = _insert(session)
    stmt = insert(ActionCounter).values(
        action_id=action_id,
        bucket=institution_id,
        **dict.fromkeys(FIELDS, 0),
        seq=1,
        updated_at=now,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["action_id", "bucket"],
            set_={"seq": ActionCounter.__table__.c.seq + 1, "updated_at": stmt.excluded.updated_at},
        )
    )


async def contributions(session: AsyncSession, person_ids: Collection[int]) -> Tally:
    """Everything these people add to the counters, as their memberships stand now."""
    tally = Tally()
    if not person_ids:
        return tally
    ids = list(person_ids)
    buckets = await buckets_of(session, ids)
    for action_id, pid, response, guests in await session.execute(
        select(
            Invitation.action_id, Invitation.person_id, Invitation.response, Invitation.guests
        ).where(Invitation.person_id.in_(ids))
    ):
        tally.add(action_id, buckets[pid], **_rsvp(response, guests))
    for action_id, pid in await session.execute(
        select(Attendance.action_id, Attendance.person_id).where(Attendance.person_id.in_(ids))
    ):
        tally.add(action_id, buckets[pid], attended=1)
    return tally


@asynccontextmanager
async def recounting(
    session: AsyncSession, person_ids: Collection[int], now: datetime
) -> AsyncIterator[None]:
    """Around a change of these people's memberships (or a merge of two of them): their
    numbers come out of the buckets they were in, and go into the ones they are in after."""
    before = await contributions(session, person_ids)
    yield
    await session.flush()
    after = await contributions(session, person_ids)
    for key, row in before.changes.items():
        after.add(key[0], [key[1]], -1, **row)
    await apply(session, after, now)


# -- reading --------------------------------------------------------------------------------


async def counter_rows(session: AsyncSession, action_id: int) -> dict[int, ActionCounter]:
    rows = await session.scalars(
        select(ActionCounter)
        .where(ActionCounter.action_id == action_id)
        .execution_options(populate_existing=True)
    )
    return {row.bucket: row for row in rows}


COUNTED = (
    ActionCounter.invited,
    ActionCounter.yes,
    ActionCounter.guests,
    ActionCounter.maybe,
    ActionCounter.no,
    ActionCounter.attended,
    ActionCounter.headcount,
)


def _row(iid: int | None, name: str, committed: int | None, values: Sequence[Any]) -> RollupRow:
    invited, yes, guests, maybe, no, attended, headcount = values
    if invited is None:  # no counter row: nothing counted yet
        return RollupRow(iid, name, committed)
    return RollupRow(
        iid,
        name,
        committed,
        yes=yes,
        guests=guests,
        maybe=maybe,
        no=no,
        not_replied=invited - yes - maybe - no,
        attended=attended,
        headcount=headcount if iid is not None else None,
    )


async def counted_rollup(session: AsyncSession, action: Action) -> Rollup:
    """The action's rollup read from its counters: the same rows, the same definitions as
    storage.rollup.action_rollup, which it must always equal. Two small queries (the
    institutions the rollup lists, each with its pledge and its counter row; then the
    no-institution and everyone rows), read as plain tuples."""
    counted = and_(ActionCounter.action_id == action.id, ActionCounter.bucket == Institution.id)
    listed = listed_institutions(action.id).add_columns(*COUNTED).outerjoin(ActionCounter, counted)
    rows = [
        _row(iid, name, committed, values)
        for iid, name, committed, *values in await session.execute(listed)
    ]
    others = {
        bucket: values
        for bucket, *values in await session.execute(
            select(ActionCounter.bucket, *COUNTED)
            .where(ActionCounter.action_id == action.id)
            .where(ActionCounter.bucket.in_((NONE, EVERYONE)))
        )
    }
    empty = (None,) * len(COUNTED)
    return Rollup(
        action=action,
        rows=rows,
        no_institution=_row(None, NO_INSTITUTION, None, others.get(NONE, empty)),
        unique=_row(None, UNIQUE_PEOPLE, None, others.get(EVERYONE, empty)),
    )


async def counted_scoped_rollup(
    session: AsyncSession, action: Action, institution_ids: Collection[int]
) -> Rollup:
    """storage.rollup.scoped_rollup read from the counters: only these institutions' rows
    (what a leader of them may see), no "no institution" row. The unique row of one
    institution is its own row; of several, it is counted from their members' invitations
    (a person in two of them once), as the reference does."""
    counted = and_(ActionCounter.action_id == action.id, ActionCounter.bucket == Institution.id)
    listed = (
        listed_institutions(action.id)
        .where(Institution.id.in_(list(institution_ids)))
        .add_columns(*COUNTED)
        .outerjoin(ActionCounter, counted)
    )
    rows = [
        _row(iid, name, committed, values)
        for iid, name, committed, *values in await session.execute(listed)
    ]
    unique = await _scoped_unique_row(session, action, rows, institution_ids)
    return Rollup(
        action=action, rows=rows, no_institution=RollupRow(None, NO_INSTITUTION), unique=unique
    )


async def counted_rollups(
    session: AsyncSession, actions: Sequence[Action], institution_ids: Collection[int] | None
) -> dict[int, Rollup]:
    """counted_rollup (or, with ``institution_ids``, counted_scoped_rollup) of each action,
    in three queries for them all (the institutions by name, the actions' pledges, their
    counters) instead of two or more each: what Today reads for every upcoming action."""
    ids = [action.id for action in actions]
    if not ids:
        return {}
    institutions = select(Institution.id, Institution.name, Institution.status).order_by(
        Institution.name
    )
    pledges: dict[tuple[int, int], int] = {}
    for aid, iid, number in await session.execute(
        select(Commitment.action_id, Commitment.institution_id, Commitment.number).where(
            Commitment.action_id.in_(ids)
        )
    ):
        pledges[(aid, iid)] = number
    values: dict[tuple[int, int], Sequence[Any]] = {
        (aid, bucket): tuple(counted)
        for aid, bucket, *counted in await session.execute(
            select(ActionCounter.action_id, ActionCounter.bucket, *COUNTED).where(
                ActionCounter.action_id.in_(ids)
            )
        )
    }
    listed = list(await session.execute(institutions))
    empty = (None,) * len(COUNTED)
    rollups = {}
    for action in actions:
        aid = action.id
        rows = [
            _row(iid, name, pledges.get((aid, iid)), values.get((aid, iid), empty))
            for iid, name, status in listed
            # listed_institutions: every one not former, and a former one that pledged
            if (status != "former" or (aid, iid) in pledges)
            and (institution_ids is None or iid in institution_ids)
        ]
        if institution_ids is None:
            rollups[aid] = Rollup(
                action=action,
                rows=rows,
                no_institution=_row(None, NO_INSTITUTION, None, values.get((aid, NONE), empty)),
                unique=_row(None, UNIQUE_PEOPLE, None, values.get((aid, EVERYONE), empty)),
            )
        else:
            rollups[aid] = Rollup(
                action=action,
                rows=rows,
                no_institution=RollupRow(None, NO_INSTITUTION),
                unique=await _scoped_unique_row(session, action, rows, institution_ids),
            )
    return rollups


async def _scoped_unique_row(
    session: AsyncSession, action: Action, rows: list[RollupRow], institution_ids: Collection[int]
) -> RollupRow:
    """The unique row of one institution is its own row; of several, counted from their
    members' invitations (a person in two of them once), as the reference does."""
    if len(institution_ids) != 1:
        return await scoped_unique(session, action.id, institution_ids)
    own = rows[0] if rows else RollupRow(next(iter(institution_ids)), "")
    return RollupRow(
        None,
        UNIQUE_PEOPLE,
        None,
        own.yes,
        own.guests,
        own.maybe,
        own.no,
        own.not_replied,
        own.attended,
    )


async def version(session: AsyncSession, action_id: int) -> tuple[int, int]:
    """Changes whenever any of the action's counters does (a board's live poll)."""
    seq, rows = (
        await session.execute(
            select(func.coalesce(func.sum(ActionCounter.seq), 0), func.count()).where(
                ActionCounter.action_id == action_id
            )
        )
    ).one()
    return int(seq), int(rows)


# -- verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    action_id: int
    bucket: int
    field: str
    counted: int | None
    expected: int | None


def _expected(rollup: Rollup) -> dict[int, dict[str, int | None]]:
    def values(row: RollupRow, *, headcount: bool) -> dict[str, int | None]:
        out: dict[str, int | None] = {
            "invited": row.invited,
            "yes": row.yes,
            "guests": row.guests,
            "maybe": row.maybe,
            "no": row.no,
            "attended": row.attended,
        }
        if headcount:
            out["headcount"] = row.headcount
        return out

    expected = {
        row.institution_id: values(row, headcount=True)
        for row in rollup.rows
        if row.institution_id is not None
    }
    expected[NONE] = values(rollup.no_institution, headcount=False)
    expected[EVERYONE] = values(rollup.unique, headcount=False)
    return expected


async def drift(session: AsyncSession, action: Action) -> list[Drift]:
    """Where the counters differ from the raw rows (storage.rollup, the reference)."""
    expected = _expected(await action_rollup(session, action))
    counters = await counter_rows(session, action.id)
    found: list[Drift] = []
    for bucket, values in sorted(expected.items()):
        row = counters.get(bucket)
        for name, want in values.items():
            have = getattr(row, name) if row is not None else (None if name == "headcount" else 0)
            if have != want:
                found.append(Drift(action.id, bucket, name, have, want))
    return found


async def repair(session: AsyncSession, action: Action, now: datetime) -> list[Drift]:
    """Rewrite the counters that differ from the raw rows; returns what was wrong."""
    found = await drift(session, action)
    if not found:
        return found
    expected = _expected(await action_rollup(session, action))
    counters = await counter_rows(session, action.id)
    for bucket in sorted({d.bucket for d in found}):
        row = counters.get(bucket)
        if row is None:
            row = ActionCounter(
                action_id=action.id, bucket=bucket, **dict.fromkeys(FIELDS, 0), seq=0
            )
            session.add(row)
        values = expected[bucket]
        for name, value in values.items():
            setattr(row, name, value)
        row.seq += 1
        row.updated_at = now
    await session.flush()
    return found


async def verify_all(
    session: AsyncSession, now: datetime, *, repair_them: bool, slug: str | None = None
) -> list[tuple[Action, list[Drift]]]:
    """Every action (or the one called ``slug``) with where its counters drifted; with
    ``repair_them``, rewritten from the raw rows."""
    query = select(Action).order_by(Action.starts_at, Action.id)
    if slug is not None:
        query = query.where(Action.slug == slug)
    checked = []
    for action in list(await session.scalars(query)):
        found = await (repair(session, action, now) if repair_them else drift(session, action))
        checked.append((action, found))
    return checked


async def bucket_names(session: AsyncSession) -> dict[int, str]:
    """What each bucket is called in a report."""
    names = {NONE: NO_INSTITUTION, EVERYONE: UNIQUE_PEOPLE}
    for iid, name in await session.execute(select(Institution.id, Institution.name)):
        names[iid] = name
    return names


async def last_update(session: AsyncSession, action_id: int) -> datetime | None:
    """When any of the action's counters last moved."""
    latest: datetime | None = await session.scalar(
        select(func.max(ActionCounter.updated_at)).where(ActionCounter.action_id == action_id)
    )
    return latest
