"""Why a queued message waits, as `turnout outbox` says it (scheduler/waiting.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.settings import Settings
from scheduler.waiting import why_waiting
from storage.models import OutboxMessage, Person
from tests.conftest import T0  # Tuesday 10 March 2026, 10:00 in London (GMT)

SETTINGS = Settings.from_env({}, env_file=None)  # quiet hours 21:00-09:00
LONDON = Person(timezone="Europe/London")


def row(
    not_before: datetime,
    *,
    kind: str = "bulk",
    status: str = "queued",
    attempts: int = 0,
    error_code: str | None = None,
    provider: str | None = None,
) -> OutboxMessage:
    return OutboxMessage(
        kind=kind,
        status=status,
        not_before=not_before,
        attempts=attempts,
        error_code=error_code,
        provider=provider,
    )


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)  # = London time in March


def test_a_bulk_message_due_in_quiet_hours_is_held_until_they_end() -> None:
    assert why_waiting(row(at(23)), LONDON, at(23, 5), SETTINGS) == "held until 09:00, quiet hours"


def test_a_bulk_message_put_off_until_quiet_hours_end_says_so() -> None:
    # Invited (or planned, or deferred by the sender) at 03:00: not before 09:00.
    put_off = row(at(9, day=11))
    assert why_waiting(put_off, LONDON, at(3, day=11), SETTINGS) == "held until 09:00, quiet hours"


def test_quiet_hours_are_the_persons_own_local_time() -> None:
    warsaw = Person(timezone="Europe/Warsaw")  # UTC+1 in March: 07:30 UTC is 08:30 there
    assert why_waiting(row(at(7, 30)), warsaw, at(7, 30), SETTINGS) == (
        "held until 09:00, quiet hours"
    )
    assert why_waiting(row(at(7, 30)), LONDON, at(7, 30), SETTINGS) == (
        "held until 09:00, quiet hours"
    )
    assert why_waiting(row(at(8, 30)), warsaw, at(8, 30), SETTINGS) == "waiting for a send slot"


def test_replies_are_never_held_for_quiet_hours() -> None:
    reply = row(at(23), kind="reply")
    assert why_waiting(reply, LONDON, at(23, 5), SETTINGS) == "waiting for a send slot"


def test_a_retry_after_a_transient_error_says_which_try_when_and_why() -> None:
    retry = row(at(10, 41), attempts=1, error_code="20429", provider="twilio")
    assert why_waiting(retry, LONDON, T0, SETTINGS) == "retry 2 at 10:41 (Twilio 20429)"


def test_a_planned_reminder_says_when_it_is_due_with_the_day_when_not_soon() -> None:
    assert why_waiting(row(at(18, 30)), LONDON, T0, SETTINGS) == "due 18:30"
    later = row(at(18, 30, day=13))
    assert why_waiting(later, LONDON, T0, SETTINGS) == "due Fri 13 Mar 18:30"


def test_a_due_message_waits_for_a_send_slot_and_others_do_not_wait() -> None:
    assert why_waiting(row(T0), LONDON, T0, SETTINGS) == "waiting for a send slot"
    assert why_waiting(row(T0 - timedelta(hours=1)), None, T0, SETTINGS) == (
        "waiting for a send slot"
    )
    for status in ("sending", "sent", "delivered", "failed", "cancelled", "unknown"):
        assert why_waiting(row(T0, status=status), LONDON, T0, SETTINGS) == ""


def test_a_group_chat_message_uses_the_alliances_time_zone() -> None:
    assert why_waiting(row(at(22)), None, at(22), SETTINGS) == "held until 09:00, quiet hours"
