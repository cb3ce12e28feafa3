"""Outbound policy: how, when and whether a message to a person goes out. Shared by the
planner, invitations, change notices, digests, listening and the sender.

* Reachability: :func:`channel_for` (SMS when the person has a working number, else Telegram),
  and :func:`held_back`: whether anything may go to a person at all (opted out; a young person
  no adult has consented for: storage/young.py). The sender asks it for every row it sends,
  the inbound pipeline for every inline reply, the planners through :func:`channel_for`.
* Quiet hours, in the recipient's local time (not the server's): the default window is 21:00 to
  09:00 local. ``next_allowed`` gives the first moment at or after ``now`` when a bulk message
  may go out to someone in ``timezone``; it is DST-safe because it works in local wall-clock
  time and converts back through zoneinfo. :func:`bulk_not_before` applies it to a person,
  :func:`urgent_not_before` lets a change notice through when waiting would be too late.
* The too-late drop: :func:`place_message` writes a message that cannot arrive by its deadline
  as ``cancelled`` / ``too_late``, on record and never re-planned.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from config.messages import format_when
from config.settings import Settings
from storage.models import Person
from storage.outbox import (
    REACHES_OPTED_OUT,
    Draft,
    Envelope,
    Letter,
    Written,
    address_for,
    enqueue,
    enqueue_many,
)
from storage.young import needs_adult


def in_quiet_hours(now: datetime, timezone: str, start: time, end: time) -> bool:
    local = now.astimezone(ZoneInfo(timezone)).time()
    if start == end:
        return False
    if start < end:  # e.g. 13:00-14:00, within one day
        return start <= local < end
    return local >= start or local < end  # wraps midnight, e.g. 21:00-09:00


def next_allowed(now: datetime, timezone: str, start: time, end: time) -> datetime:
    """``now`` if outside quiet hours, else when the window next opens (as aware UTC)."""
    if not in_quiet_hours(now, timezone, start, end):
        return now
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    opening_day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    opening = datetime.combine(opening_day, end, tzinfo=zone)
    # A wall-clock time skipped by a DST jump resolves forward through UTC.
    return opening.astimezone(UTC)


# A change notice waits for the person's quiet hours to end unless it would then arrive less
# than this before the action: better a text at night than a wasted journey.
URGENT_MARGIN = timedelta(hours=2)


def held_back(person: Person, now: datetime, kind: str) -> str | None:
    """Why nothing of ``kind`` may go to ``person`` now: ``opted_out`` (but for the STOP
    confirmation itself), ``young`` (under 16, no adult consent yet: not even that), or None."""
    if needs_adult(person, now):
        return "young"
    if person.opted_out and kind != REACHES_OPTED_OUT:
        return "opted_out"
    return None


def channel_for(person: Person, now: datetime) -> str | None:
    """SMS when the person has a working number, else Telegram, else no way to reach them (a
    young person no adult has consented for cannot be reached directly)."""
    if needs_adult(person, now):
        return None
    for channel in ("sms", "telegram"):
        if address_for(person, channel) is not None:
            return channel
    return None


def zone_of(person: Person, settings: Settings) -> str:
    try:
        zoneinfo.ZoneInfo(person.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return settings.default_timezone
    return person.timezone


def bulk_not_before(person: Person, at: datetime, settings: Settings) -> datetime:
    """The first moment at or after ``at`` outside the person's quiet hours (their time zone)."""
    return next_allowed(at, zone_of(person, settings), settings.quiet_start, settings.quiet_end)


def urgent_not_before(
    person: Person, now: datetime, deadline: datetime, settings: Settings
) -> datetime:
    """For a change notice: after quiet hours if that is still in time, else at once."""
    opening = bulk_not_before(person, now, settings)
    return opening if opening <= deadline - URGENT_MARGIN else now


def when_for(person: Person, moment: datetime, settings: Settings) -> str:
    return format_when(moment, person.language, zone_of(person, settings))


def local_time(person: Person, moment: datetime, settings: Settings) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(zone_of(person, settings))).strftime("%H:%M")


Outcome = Literal["queued", "dropped", "unreachable"]


async def place_message(
    session: AsyncSession,
    person: Person,
    draft: Draft,
    *,
    settings: Settings,
    key: str,
    now: datetime,
    not_before: datetime,
    deadline: datetime,
    action_id: int | None,
    kind: str = "bulk",
    channel: str | None = None,
) -> Outcome:
    """Enqueue ``draft`` for ``person`` (on ``channel``, else :func:`channel_for`) unless it
    cannot arrive by ``deadline``: then the row is still written but as ``cancelled`` with
    error_code ``too_late``, so the drop is on record, counted, and never re-planned (the dedupe
    key exists). ``key`` must be new."""
    channel = channel or channel_for(person, now)
    if channel is None or address_for(person, channel) is None or needs_adult(person, now):
        return "unreachable"
    late = too_late(now, not_before, deadline) is not None
    introduced_at = person.introduced_at
    rows = await enqueue(
        session,
        person,
        Envelope(
            draft,
            key,
            kind=kind,
            channel=channel,
            not_before=not_before,
            expires_at=deadline,
            action_id=action_id,
        ),
        now=now,
        alliance=settings.alliance_name,
    )
    if not late:
        return "queued"
    person.introduced_at = introduced_at  # nothing will be sent, so no introduction either
    for row in rows:
        if row.status == "queued" and row.created_at == now:
            row.status = "cancelled"
            row.error_code, row.error_message = too_late(now, not_before, deadline) or ("", "")
            row.updated_at = now
    return "dropped"


def too_late(now: datetime, not_before: datetime, deadline: datetime) -> tuple[str, str] | None:
    """The too-late drop: (error code, message) when a message that may not go before
    ``not_before`` cannot arrive by ``deadline`` (the sender expires a row at expires_at <=
    now), else None."""
    if not_before < deadline:
        return None
    return (
        "too_late",
        f"planned at {now:%Y-%m-%d %H:%M}Z; quiet hours end {not_before:%Y-%m-%d %H:%M}Z, "
        f"after the last useful moment {deadline:%Y-%m-%d %H:%M}Z",
    )


@dataclass(frozen=True)
class Placement:
    """One message of :func:`place_messages`."""

    person: Person
    draft: Draft
    key: str
    not_before: datetime


async def place_messages(
    session: AsyncSession,
    placements: Sequence[Placement],
    *,
    settings: Settings,
    now: datetime,
    deadline: datetime,
    action_id: int | None,
    kind: str = "bulk",
) -> list[Written]:
    """:func:`place_message` for many people at once (an invitation to a whole segment): the
    same rules (nothing to a person :func:`channel_for` cannot reach, the too-late drop written
    ``cancelled`` on record), written in bulk. A key already taken writes nothing, so unlike
    :func:`place_message` the keys need not be new. Returns the rows written: a ``queued``
    one went, a ``cancelled`` one was dropped."""
    letters: list[Letter] = []
    for p in placements:
        channel = channel_for(p.person, now)
        if channel is None:
            continue
        envelope = Envelope(
            p.draft,
            p.key,
            kind=kind,
            channel=channel,
            not_before=p.not_before,
            expires_at=deadline,
            action_id=action_id,
        )
        letters.append(Letter(p.person, envelope, too_late(now, p.not_before, deadline)))
    return await enqueue_many(session, letters, now=now, alliance=settings.alliance_name)
