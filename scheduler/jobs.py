"""The periodic jobs every worker registers (they run on the leader only; each is idempotent,
so a missed or repeated run sends nothing twice: the outbox's dedupe keys see to that)."""

from __future__ import annotations

from config.clock import Clock
from config.settings import Settings
from scheduler.delivery.worker import Worker
from scheduler.digest import plan_digests
from scheduler.listening import listening_job
from scheduler.planner import plan
from storage.db import Database

PLAN_EVERY = 300.0  # seconds; the planner looks TURNOUT_PLAN_AHEAD_MINUTES ahead


def register_jobs(worker: Worker, db: Database, settings: Settings, clock: Clock) -> None:
    async def reminders() -> object:
        return await plan(db, settings, clock.now())

    async def digests() -> object:
        # Not a cron job: each organiser's 08:00 is in their own time zone; the job decides.
        return await plan_digests(db, settings, clock.now())

    worker.add_periodic("plan", reminders, seconds=PLAN_EVERY, run_at_start=True)
    worker.add_periodic("digests", digests, seconds=PLAN_EVERY, run_at_start=True)
    listening = listening_job(db, settings, clock)
    worker.add_periodic("listening", listening, seconds=PLAN_EVERY, run_at_start=True)
