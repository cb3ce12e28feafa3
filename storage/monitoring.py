"""What an operator watches, read from and written to the database: worker heartbeats and the
state of the outbox.

Every worker writes its row every few seconds (``beat``) with its own clock, removes it when it
stops (``forget``), and prunes the rows of workers that died long ago (``prune``). Readiness
asks for the most recent one (``last_heartbeat``); /metrics lists them all (``heartbeats``).

``outbox_state`` is what /metrics reads at each scrape, so it must stay cheap however long the
outbox's history grows. It never counts the whole table: rows still waiting or in flight
(``LIVE``: queued, sending, unknown) are counted in full, settled ones only for the last
``RECENT`` (by ``updated_at``), each within a range of the (status, channel, updated_at)
index; the age of the oldest due row reads the queued rows' entries of ``ix_outbox_due``.
Measured on 1,000,000 rows: docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import OUTBOX_STATUSES, OutboxMessage, WorkerHeartbeat
from storage.outbox import DROPPED

# The outbox's channels (scheduler/delivery/channels: one class per provider serves one of these).
CHANNELS = ("sms", "telegram")
LIVE = ("queued", "sending", "unknown")
SETTLED = tuple(s for s in OUTBOX_STATUSES if s not in LIVE)
RECENT = timedelta(hours=24)


async def beat(
    session: AsyncSession, *, worker_id: str, host: str, pid: int, leader: bool, now: datetime
) -> None:
    """Record that ``worker_id`` is alive at ``now`` (its first beat sets ``started_at``)."""
    connection = await session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(WorkerHeartbeat).values(
        worker_id=worker_id, host=host[:255], pid=pid, leader=leader, started_at=now, last_seen=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["worker_id"],
            set_={"leader": stmt.excluded.leader, "last_seen": stmt.excluded.last_seen},
        )
    )


async def forget(session: AsyncSession, worker_id: str) -> None:
    """A worker that stops cleanly takes its row with it."""
    await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))


async def prune(session: AsyncSession, before: datetime) -> int:
    """Remove the rows of workers not seen since ``before`` (they died); how many went."""
    result = await session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def heartbeats(session: AsyncSession) -> list[WorkerHeartbeat]:
    return list(await session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker_id)))


async def last_heartbeat(connection: AsyncConnection) -> datetime | None:
    """When any worker was last seen (None: no worker has a row)."""
    seen: datetime | None = await connection.scalar(select(func.max(WorkerHeartbeat.last_seen)))
    return seen


@dataclass
class OutboxState:
    """The outbox and the workers as of ``now`` (what /metrics shows)."""

    now: datetime
    # (status, channel) -> rows: LIVE statuses, all of them.
    live: dict[tuple[str, str], int] = field(default_factory=dict)
    # (status, channel) -> rows that reached a SETTLED status within RECENT.
    recent: dict[tuple[str, str], int] = field(default_factory=dict)
    # (reason, channel) -> rows dropped on purpose (DROPPED) within RECENT.
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)
    # ``not_before`` of the oldest queued row that is due (any channel: by channel it would
    # read every queued row from the table, not from the index; 7x slower on SQLite).
    oldest_due: datetime | None = None
    workers: list[WorkerHeartbeat] = field(default_factory=list)


async def outbox_state(session: AsyncSession, now: datetime) -> OutboxState:
    state = OutboxState(now=now)
    o = OutboxMessage
    by_status = (o.status, o.channel, func.count())
    for status, channel, rows in await session.execute(
        select(*by_status)
        .where(o.status.in_(LIVE), o.channel.in_(CHANNELS))
        .group_by(o.status, o.channel)
    ):
        state.live[status, channel] = rows
    since = now - RECENT
    for status, channel, rows in await session.execute(
        select(*by_status)
        .where(o.status.in_(SETTLED), o.channel.in_(CHANNELS), o.updated_at >= since)
        .group_by(o.status, o.channel)
    ):
        state.recent[status, channel] = rows
    for reason, channel, rows in await session.execute(
        select(o.error_code, o.channel, func.count())
        .where(o.status == "cancelled", o.channel.in_(CHANNELS), o.updated_at >= since)
        .where(o.error_code.in_(DROPPED))
        .group_by(o.error_code, o.channel)
    ):
        state.dropped[str(reason), channel] = rows
    state.oldest_due = await session.scalar(
        select(func.min(o.not_before)).where(o.status == "queued", o.not_before <= now)
    )
    state.workers = await heartbeats(session)
    return state
