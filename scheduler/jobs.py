"""The periodic jobs every worker registers (they run on the leader only; each is idempotent,
so a missed or repeated run sends nothing twice: the outbox's dedupe keys see to that).

The worker (scheduler/delivery/worker.py) is handed them by the composition root; this module
only needs something that takes periodic jobs (:class:`Periodic`), so it never imports the
delivery edge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from config.clock import Clock
from config.settings import Settings
from scheduler.digest.plan import plan_digests
from scheduler.listening import listening_job
from scheduler.planner import plan
from scheduler.retention import retention_job
from storage.db import Database

PLAN_EVERY = 300.0  # seconds; the planner looks TURNOUT_PLAN_AHEAD_MINUTES ahead


class Periodic(Protocol):
    """What runs periodic jobs (the worker: ``Worker.add_periodic``)."""

    def add_periodic(
        self,
        name: str,
        func: Callable[[], Awaitable[object]],
        *,
        seconds: float | None = None,
        cron: Mapping[str, Any] | None = None,
        run_at_start: bool = False,
    ) -> None: ...


def register_jobs(worker: Periodic, db: Database, settings: Settings, clock: Clock) -> None:
    async def reminders() -> object:
        return await plan(db, settings, clock.now())

    async def digests() -> object:
        # Not a cron job: each organiser's 08:00 is in their own time zone; the job decides.
        return await plan_digests(db, settings, clock.now())

    worker.add_periodic("plan", reminders, seconds=PLAN_EVERY, run_at_start=True)
    worker.add_periodic("digests", digests, seconds=PLAN_EVERY, run_at_start=True)
    listening = listening_job(db, settings, clock)
    worker.add_periodic("listening", listening, seconds=PLAN_EVERY, run_at_start=True)
    worker.add_periodic("retention", retention_job(db, settings, clock), cron={"hour": 3})
