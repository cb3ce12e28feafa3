"""The periodic jobs every worker registers (they run on the leader only; each is idempotent,
so a missed or repeated run sends nothing twice: the outbox's dedupe keys see to that).

The worker (scheduler/delivery/worker.py) is handed them by the composition root; this module
only needs something that takes periodic jobs (:class:`Periodic`), so it never imports the
delivery edge."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from config.clock import Clock
from config.settings import Settings
from scheduler.digest.plan import plan_digests
from scheduler.listening import listening_job
from scheduler.planner import plan
from scheduler.retention import retention_job
from storage import counters
from storage.db import Database

log = logging.getLogger(__name__)

PLAN_EVERY = 300.0  # seconds; the planner looks TURNOUT_PLAN_AHEAD_MINUTES ahead
VERIFY_COUNTERS_AT = {"hour": 3, "minute": 30}  # local time: the quietest hour


async def verify_counters(db: Database, clock: Clock) -> int:
    """Recompute the live counters from the raw rows and repair any drift (logged: drift means
    a write went round the one place it should happen). Returns the counters repaired."""
    async with db.session() as session:
        checked = await counters.verify_all(session, clock.now(), repair_them=True)
    repaired = 0
    for action, found in checked:
        if found:
            repaired += len(found)
            log.warning(
                "counters: %d differed from the rows and were repaired",
                len(found),
                extra={"action_id": action.id},
            )
    return repaired


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

    async def verify() -> object:
        return await verify_counters(db, clock)

    worker.add_periodic("verify_counters", verify, cron=VERIFY_COUNTERS_AT)
    worker.add_periodic("retention", retention_job(db, settings, clock), cron={"hour": 3})
