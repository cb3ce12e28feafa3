"""Send-rate limits shared by every worker: one database row per limit.

Each limit (an SMS sender, the Telegram bot, one Telegram chat) is a row in
``send_rate_buckets`` holding ``next_free``, the earliest moment its next unit may go out (the
generic cell rate algorithm, without burst). A worker reserves slots for a whole batch in the
same transaction that claims the batch: it locks the bucket rows (``SELECT ... FOR UPDATE``,
in key order so two workers never deadlock), hands out consecutive slots ``cost / rate`` apart,
and writes ``next_free`` back. A second worker blocks on the same row until the first commits,
then continues from where the first stopped, so the slots of all workers together never go
faster than the rate. Each message is then sent no earlier than its slot. On SQLite the single
writer lock (``BEGIN IMMEDIATE``) does the same.

Slots are only handed out up to ``horizon`` ahead: rows beyond it are left queued (a shared limit
is busy) or told to wait (``not_before``: the recipient's own limit, e.g. a Telegram chat, is
busy), so a worker never holds rows it cannot send soon and one chatty recipient never holds up
everyone else.

The time is the workers' clock (``now`` passed in), so all workers should run NTP-synced clocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from storage.models import SendRateBucket

# Telegram: about 1 message per second in one chat, 20 per minute in a group (negative chat id).
TELEGRAM_CHAT_RATE = 1.0
TELEGRAM_GROUP_RATE = 20 / 60


@dataclass(frozen=True)
class Limit:
    key: str
    rate: float  # units per second
    cost: float = 1.0  # units this message uses (SMS segments)
    # A recipient's own limit: when it is the one that binds, the row waits (``not_before``)
    # instead of holding up the shared stream.
    per_recipient: bool = False


def sms_bucket_key(settings: Settings) -> str:
    return f"sms:{settings.twilio_from or settings.sms_provider}"


def limits_for(
    channel: str, to_address: str, segments: int, settings: Settings
) -> tuple[Limit, ...]:
    """The limits one outbox message counts against."""
    if channel == "sms":
        return (Limit(sms_bucket_key(settings), settings.sms_rate_per_second, max(segments, 1)),)
    if channel == "telegram":
        chat_rate = TELEGRAM_GROUP_RATE if to_address.startswith("-") else TELEGRAM_CHAT_RATE
        return (
            Limit("telegram", settings.telegram_rate_per_second),
            Limit(f"telegram:{to_address}", chat_rate, per_recipient=True),
        )
    raise ValueError(f"no rate limit for channel {channel!r}")


@dataclass
class Plan:
    """What a batch may do now: send at a slot, wait for its recipient, or stay queued."""

    slots: dict[int, datetime] = field(default_factory=dict)
    wait: dict[int, datetime] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    # The furthest ``next_free`` among the shared limits touched: claim again around then.
    busy_until: datetime | None = None


async def reserve(
    session: AsyncSession,
    wants: Sequence[tuple[int, Sequence[Limit]]],
    now: datetime,
    horizon: timedelta,
) -> Plan:
    """Hand out send slots to ``wants`` (row id, its limits), in order. Commit with the claim."""
    plan = Plan()
    keys = sorted({limit.key for _, limits in wants for limit in limits})
    if not keys:
        return plan
    await session.execute(_insert_missing(session, keys, now))
    buckets = {
        b.key: b
        for b in await session.scalars(
            select(SendRateBucket)
            .where(SendRateBucket.key.in_(keys))
            .order_by(SendRateBucket.key)
            .with_for_update()
        )
    }
    free = {key: max(bucket.next_free, now) for key, bucket in buckets.items()}
    last = now + horizon
    for row_id, limits in wants:
        shared = max((free[x.key] for x in limits if not x.per_recipient), default=now)
        own = max((free[x.key] for x in limits if x.per_recipient), default=now)
        if own > shared:
            plan.wait[row_id] = own
            continue
        if shared > last:
            plan.skipped.append(row_id)
            continue
        plan.slots[row_id] = shared
        for limit in limits:
            free[limit.key] = shared + timedelta(seconds=limit.cost / limit.rate)
    shared_keys = {x.key for _, limits in wants for x in limits if not x.per_recipient}
    for key, bucket in buckets.items():
        if free[key] > bucket.next_free:
            bucket.next_free = free[key]
            bucket.updated_at = now
    plan.busy_until = max((free[k] for k in shared_keys), default=None)
    return plan


async def hold(session: AsyncSession, keys: Sequence[str], until: datetime, now: datetime) -> None:
    """The provider asked us to wait (Telegram's ``retry_after``): nothing more on these limits
    before ``until``, from any worker."""
    await session.execute(
        update(SendRateBucket)
        .where(SendRateBucket.key.in_(keys), SendRateBucket.next_free < until)
        .values(next_free=until, updated_at=now)
    )


def _insert_missing(session: AsyncSession, keys: list[str], now: datetime) -> Any:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [{"key": key, "next_free": now, "updated_at": now} for key in keys]
    return insert(SendRateBucket).values(rows).on_conflict_do_nothing(index_elements=["key"])
