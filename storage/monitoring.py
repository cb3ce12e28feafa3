"""What an operator watches, read from and written to the database: worker heartbeats.

Every worker writes its row every few seconds (``beat``) with its own clock, removes it when it
stops (``forget``), and prunes the rows of workers that died long ago (``prune``). Readiness
asks for the most recent one (``last_heartbeat``); /metrics lists them all (``heartbeats``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import WorkerHeartbeat


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
