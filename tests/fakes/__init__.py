"""Fakes for offline tests: a fake Twilio API server (twilio_api.py), an in-memory channel, and
a sleep that moves a FakeClock instead of waiting."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from config.clock import FakeClock
from scheduler.delivery.channels.base import OutgoingMessage, SendResult


class FakeSleep:
    """``Sender(sleep=FakeSleep(clock))``: virtual time. Sleepers wake in order of their wake
    time, each with the FakeClock set to exactly that time, one per event-loop turn (so a
    woken task runs before the clock moves on); no wall time passes."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._waiters: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._count = itertools.count()
        self._scheduled = False

    async def __call__(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        wake = self.clock.now() + timedelta(seconds=seconds)
        heapq.heappush(self._waiters, (wake, next(self._count), future))
        self._kick(loop)
        await future

    def _kick(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._waiters and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._wake_next, loop)

    def _wake_next(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        wake, _, future = heapq.heappop(self._waiters)
        if not future.done():
            if wake > self.clock.now():
                self.clock.set(wake)
            future.set_result(None)
        self._kick(loop)


@dataclass
class RecordingChannel:
    """A channel that accepts everything and remembers what it was given, and when."""

    clock: FakeClock | None = None
    name: str = "sms"
    provider: str = "fake"
    sent: list[OutgoingMessage] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.sent.append(message)
        if self.clock is not None:
            self.times.append(self.clock.now().timestamp())
        self._arrived.set()
        return SendResult(provider_id=f"FK{message.outbox_id:032d}")

    async def wait_for_sent(self, count: int) -> None:
        """Return once ``count`` messages were sent: an event, not a poll (bound it with
        ``asyncio.wait_for``)."""
        while len(self.sent) < count:
            self._arrived.clear()
            await self._arrived.wait()

    def counts(self) -> Counter[int]:
        return Counter(m.outbox_id for m in self.sent)

    async def close(self) -> None:
        return None
