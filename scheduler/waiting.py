"""Why a queued outbox row has not gone yet, in the words ``turnout outbox`` shows.

Worked out in one place from the row, its person and the clock, with the sender's own rules
(scheduler/delivery/sender.py) and the outbound policy's quiet-hours helpers
(scheduler/outbound.py):

* ``held until 09:00, quiet hours``: a bulk message inside the person's quiet hours, or put off
  until they end (by the planner, an invitation, or the sender at claim time);
* ``retry 2 at 10:41 (Twilio 20429)``: the last try met a transient error; the 2nd try is due
  then (the provider's error code in brackets);
* ``due 18:30``: planned for later (a reminder's due time, a recipient's own rate limit);
* ``waiting for a send slot``: due now; the sender takes it as the shared rate limit allows.

Times are the person's local time (the alliance's time zone for a group chat), with the day
when the moment is not within the next 24 hours. A bulk row that happens to be due exactly when
quiet hours end reads as held until then: the row does not say which it was, and either way it
goes at that minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from config.messages import format_when
from config.settings import Settings
from scheduler.outbound import next_allowed, zone_of
from storage.models import OutboxMessage, Person

PROVIDERS = {"twilio": "Twilio", "telegram": "Telegram", "sandbox": "sandbox"}


def why_waiting(
    row: OutboxMessage, person: Person | None, now: datetime, settings: Settings
) -> str:
    """Why ``row`` waits (empty unless it is ``queued``): see the module docstring."""
    if row.status != "queued":
        return ""
    zone = zone_of(person, settings) if person is not None else settings.default_timezone
    due = max(row.not_before, now)
    if row.kind == "bulk":
        start, end = settings.quiet_start, settings.quiet_end
        opens = next_allowed(due, zone, start, end)
        put_off = due > now and next_allowed(due - timedelta(seconds=1), zone, start, end) == due
        if opens > due or put_off:
            return f"held until {_when(opens, zone, now)}, quiet hours"
    if row.attempts and row.error_code:
        provider = PROVIDERS.get(row.provider or "", row.provider or "provider")
        return f"retry {row.attempts + 1} at {_when(due, zone, now)} ({provider} {row.error_code})"
    if row.not_before > now:
        return f"due {_when(row.not_before, zone, now)}"
    return "waiting for a send slot"


def _when(moment: datetime, zone: str, now: datetime) -> str:
    if moment - now < timedelta(hours=24):
        return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")
    return format_when(moment, "en", zone)
