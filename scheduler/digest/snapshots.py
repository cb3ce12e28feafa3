"""The digest's daily snapshot: each action's numbers, stored once a day (at the alliance's
digest time), so tomorrow's digest can say what changed since."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from scheduler.digest.build import Digest, digest_actions
from storage.models import RollupSnapshot
from storage.rollup import Rollup, RollupRow


def snapshot_counts(rollup: Rollup) -> dict[str, Any]:
    def numbers(row: RollupRow) -> dict[str, int | None]:
        return {
            "committed": row.committed,
            "yes": row.yes,
            "guests": row.guests,
            "maybe": row.maybe,
            "no": row.no,
            "not_replied": row.not_replied,
            "attended": row.attended,
        }

    counts: dict[str, Any] = {str(r.institution_id): numbers(r) for r in rollup.rows}
    counts["none"] = numbers(rollup.no_institution)
    counts["total"] = numbers(rollup.totals)
    return counts


async def snapshot_due(session: AsyncSession, settings: Settings, now: datetime) -> bool:
    """Today's snapshot is taken at the alliance's digest time (default time zone)."""
    zone = ZoneInfo(settings.default_timezone)
    today = now.astimezone(zone).date()
    if now < datetime.combine(today, settings.digest_time, tzinfo=zone):
        return False
    actions = await digest_actions(session, now)
    if not actions:
        return False
    have = set(
        await session.scalars(
            select(RollupSnapshot.action_id)
            .where(RollupSnapshot.day == today)
            .where(RollupSnapshot.action_id.in_([a.id for a in actions]))
        )
    )
    return any(a.id not in have for a in actions)


async def take_snapshots(session: AsyncSession, digest: Digest) -> int:
    """Store each action's numbers for the digest's day (first one of the day wins)."""
    if not digest.actions:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = [
        {
            "action_id": item.action.id,
            "day": digest.day,
            "taken_at": digest.now,
            "counts": snapshot_counts(item.rollup),
        }
        for item in digest.actions
    ]
    stmt = insert(RollupSnapshot).values(values)
    result = await session.execute(
        stmt.on_conflict_do_nothing(index_elements=["action_id", "day"]).returning(
            RollupSnapshot.id
        )
    )
    return len(result.all())
