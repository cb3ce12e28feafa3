"""Quiet hours, in the recipient's local time (not the server's).

The default window is 21:00 to 09:00 local. ``next_allowed`` gives the first moment at or after
``now`` when a bulk message may go out to someone in ``timezone``; it is DST-safe because it
works in local wall-clock time and converts back through zoneinfo.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


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
