"""The clock seam. Domain code takes ``now`` as an argument; the app, workers and CLI get a
``Clock`` here, and nothing else in the project reads the wall clock (tests/test_clock.py
checks the source).

* ``SystemClock``: the wall clock, what production runs on.
* ``RunningClock(start)``: starts at ``start`` and runs at real speed from there (it counts
  monotonic seconds, never the wall clock). ``TURNOUT_NOW`` gives every process one, so the
  sandbox can be tried "as if" it were daytime; tests use it when time must really pass.
* ``FakeClock(start)``: stands still until a test moves it.

``clock_at(settings.now)`` is the process clock: the first, or the second when TURNOUT_NOW is
set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RunningClock:
    """A clock that reads ``start`` when made and then moves on at real speed."""

    def __init__(self, start: datetime, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("RunningClock needs an aware datetime")
        self._start = start
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._monotonic() - self._origin)


class FakeClock:
    """A clock tests drive forward by hand."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, **kwargs: float) -> datetime:
        self._now += timedelta(**kwargs)
        return self._now


def clock_at(start: datetime | None) -> Clock:
    """The process clock: the wall clock, or one running from ``start`` (TURNOUT_NOW)."""
    return SystemClock() if start is None else RunningClock(start)
