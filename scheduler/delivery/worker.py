"""The worker: APScheduler as a metronome, the outbox as the schedule.

APScheduler (3.11, ``AsyncIOScheduler``, jobs in memory) only ticks. Every second a tick wakes
the send loop, which calls ``Sender.send_due`` until nothing is due; ``Worker.wake()`` wakes it
at once (the server calls it after writing a reply, so replies do not wait for the tick).
Periodic work (reconciling unknown outcomes, and whatever the planner registers with
``add_periodic``: reminders, digests) runs on one leader at a time:

* PostgreSQL: the leader holds ``pg_try_advisory_lock(LEADER_LOCK_KEY)`` on a dedicated
  connection (autocommit, so never idle in a transaction). Every worker tries to take the lock
  before each periodic job; when the leader dies its connection closes, PostgreSQL releases the
  lock, and the next worker to try becomes leader. A leader whose connection fails steps down.
  Session advisory locks do not survive PgBouncer in transaction mode: connect workers directly.
* SQLite: run one worker. Should a second one start anyway (``turnout serve`` with its
  in-process worker next to a ``turnout worker``), claims still cannot overlap (each claim is
  one ``BEGIN IMMEDIATE`` transaction) and leadership is an exclusive ``flock`` on
  ``<database file>.leader``, released by the kernel when the holder dies.

Every worker writes a heartbeat row every HEARTBEAT_SECONDS (storage/monitoring.py): /readyz
and /metrics read them.

Sending itself runs on every worker (on PostgreSQL, ``FOR UPDATE SKIP LOCKED`` shares the
outbox). Nothing to be sent lives in APScheduler: a job missed while the process was down
just runs at the next tick, and periodic jobs must be idempotent (the outbox's dedupe keys).

Time: the sender, the planner and every job read ``clock`` (config/clock.py), never the wall
clock. APScheduler keeps its own wall-clock time, but only to space the ticks and the intervals
apart; a job that runs at start is started by the worker itself, not given a wall-clock first
run.

The worker is given what it runs: its channels and its periodic jobs come from the caller
(the composition root, bot/compose.py, builds the channels and registers scheduler/jobs.py), so
nothing here knows the providers' settings or what the jobs plan. Use::

    async with worker_context(db, settings, clock, channels={"sms": sms}, jobs=register) as worker:
        worker.wake()                    # ``register(worker)`` added the periodic jobs first
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any, TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from config.clock import Clock
from config.metrics import Metrics
from config.settings import Settings
from scheduler.delivery.channels import Channel
from scheduler.delivery.sender import Sender
from storage.db import Database
from storage.monitoring import beat, forget, prune

log = logging.getLogger(__name__)

# "turn": the one advisory lock key that makes a worker the leader.
LEADER_LOCK_KEY = 0x7475726E
# Every worker writes its heartbeat row this often (seconds); rows of workers not seen for
# PRUNE_AFTER (they died without removing theirs) are deleted by the others.
HEARTBEAT_SECONDS = 5.0
PRUNE_AFTER = timedelta(hours=1)

Job = Callable[[], Awaitable[object]]


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs a Sender on a metronome, plus leader-only periodic jobs.

    ``start()`` inside a running loop; ``await stop()`` finishes what is in flight.
    """

    def __init__(
        self,
        db: Database,
        sender: Sender,
        settings: Settings,
        *,
        send_interval: float = 1.0,
        reconcile_interval: float = 30.0,
        drain_limit: int = 1000,
        heartbeat_interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.db = db
        self.sender = sender
        self.settings = settings
        self.send_interval = send_interval
        self.drain_limit = drain_limit
        self.heartbeat_interval = heartbeat_interval
        self._host, self._pid = socket.gethostname(), os.getpid()
        self._jobs: dict[str, tuple[Job, Any]] = {}
        self._run_at_start: set[str] = set()
        self._in_flight: set[str] = set()  # one run of a job at a time
        self._scheduler: AsyncIOScheduler | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._send_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._lock_conn: AsyncConnection | None = None
        self._lock_file: TextIO | None = None
        self._leader_lock = asyncio.Lock()
        self.add_periodic("reconcile", sender.reconcile, seconds=reconcile_interval)

    @property
    def _log_fields(self) -> dict[str, str]:
        return {"worker": self.sender.worker_id}

    # -- jobs ---------------------------------------------------------------------------------

    def add_periodic(
        self,
        name: str,
        func: Job,
        *,
        seconds: float | None = None,
        cron: Mapping[str, Any] | None = None,
        run_at_start: bool = False,
    ) -> None:
        """Run ``func`` every ``seconds``, or on a cron schedule (APScheduler ``CronTrigger``
        fields, e.g. ``{"hour": 8, "minute": 0}``; time zone ``settings.default_timezone``
        unless the dict names one), on the leader only. Before or after ``start()``.
        ``run_at_start`` also runs it as soon as the scheduler starts (catch-up after a restart)."""
        if (seconds is None) == (cron is None):
            raise ValueError("give exactly one of seconds= or cron=")
        if name in self._jobs:
            raise ValueError(f"periodic job {name!r} is already registered")
        if seconds is not None:
            if seconds <= 0:
                raise ValueError("seconds must be positive")
            trigger: Any = IntervalTrigger(seconds=seconds)
        else:
            assert cron is not None
            fields = {"timezone": self.settings.default_timezone, **cron}
            trigger = CronTrigger(**fields)
        self._jobs[name] = (func, trigger)
        if run_at_start:
            self._run_at_start.add(name)
        if self._scheduler is not None:
            self._schedule(name)
            if run_at_start:
                self._run_now(name)

    async def run_periodic(self, name: str) -> bool:
        """Run a registered job now if this worker is the leader (``turnout`` fast-forward,
        tests). Returns False when another worker leads."""
        if not await self.ensure_leader():
            return False
        func, _ = self._jobs[name]
        await func()
        return True

    def _schedule(self, name: str) -> None:
        assert self._scheduler is not None
        _, trigger = self._jobs[name]
        self._scheduler.add_job(self._run_leader_job, trigger, args=(name,), id=name, name=name)

    def _run_now(self, name: str) -> None:
        """Start a run of ``name`` now, outside the metronome (``run_at_start``)."""
        task = asyncio.create_task(self._run_leader_job(name), name=f"turnout-job-{name}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run_leader_job(self, name: str) -> None:
        if self._stopping or name in self._in_flight:
            return  # a run at start still going when the first tick comes: skip the tick
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        self._in_flight.add(name)
        try:
            if await self.ensure_leader():
                await self._jobs[name][0]()
        except Exception:
            log.exception("periodic job %s failed; it runs again at its next time", name)
        finally:
            self._in_flight.discard(name)
            self._running.discard(task)

    # -- leadership ---------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._lock_conn is not None or self._lock_file is not None

    async def ensure_leader(self) -> bool:
        """Take or confirm leadership (see the module docstring)."""
        if self.db.is_sqlite:
            return self._flock()
        async with self._leader_lock:
            if self._lock_conn is not None:
                try:
                    await self._lock_conn.execute(text("SELECT 1"))
                    return True
                except Exception:
                    log.warning("lost the leader connection; stepping down")
                    await self._drop_lock(invalidate=True)
            if self._stopping:
                return False
            conn = await self.db.engine.connect()
            try:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                got = await conn.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}
                )
            except BaseException:
                await conn.close()
                raise
            if not got:
                await conn.close()
                return False
            self._lock_conn = conn
            log.info("worker %s is now the leader", self.sender.worker_id, extra=self._log_fields)
            return True

    def _flock(self) -> bool:
        if self._lock_file is not None:
            return True
        path = self.db.engine.url.database
        if not path or path == ":memory:":
            return True
        handle = open(f"{path}.leader", "a")  # noqa: SIM115 (held while leader)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    async def _drop_lock(self, *, invalidate: bool = False) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        # A pooled connection keeps its session (and the lock): unlock, or throw it away.
        try:
            if invalidate:
                await conn.invalidate()
            else:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK_KEY}
                )
        except Exception:
            with suppress(Exception):
                await conn.invalidate()
        finally:
            with suppress(Exception):
                await conn.close()

    # -- running ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due rows now rather than at the next tick."""
        self._wake.set()

    def start(self) -> None:
        if self._scheduler is not None:
            raise RuntimeError("worker already started")
        self._scheduler = AsyncIOScheduler(
            timezone=self.settings.default_timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler.add_job(
            self._tick, IntervalTrigger(seconds=self.send_interval), id="send", name="send"
        )
        self._scheduler.add_job(
            self._heartbeat_job,
            IntervalTrigger(seconds=self.heartbeat_interval),
            id="heartbeat",
            name="heartbeat",
        )
        for name in self._jobs:
            self._schedule(name)
        self._scheduler.start()
        for name in self._run_at_start:
            self._run_now(name)
        self._send_task = asyncio.create_task(self._send_loop(), name="turnout-send-loop")
        self.wake()
        log.info("worker %s started", self.sender.worker_id, extra=self._log_fields)

    async def _tick(self) -> None:
        self._wake.set()

    # -- heartbeat ----------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Write this worker's heartbeat row (with the sender's clock) and prune the rows of
        workers long gone. Every worker does this, leader or not; a failure is logged, and the
        next beat tries again."""
        now = self.sender.clock.now()
        try:
            async with self.db.session() as session:
                await beat(
                    session,
                    worker_id=self.sender.worker_id,
                    host=self._host,
                    pid=self._pid,
                    leader=self.is_leader,
                    now=now,
                )
                await prune(session, now - PRUNE_AFTER)
        except Exception:
            log.warning("heartbeat not written", exc_info=True, extra=self._log_fields)

    async def _heartbeat_job(self) -> None:
        if self._stopping:
            return
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await self.heartbeat()
        finally:
            self._running.discard(task)

    async def _send_loop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            while not self._stopping:
                try:
                    handled = await self.sender.send_due(self.drain_limit)
                except Exception:
                    log.exception("sending failed; trying again at the next tick")
                    break
                if handled == 0:
                    break

    async def stop(self, grace: float | None = None) -> None:
        """Stop ticking, let sends in flight finish and be recorded (for up to ``grace``
        seconds, default the lease), step down as leader."""
        if self._stopping:
            return
        self._stopping = True
        self.sender.stop()
        self._wake.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        limit = grace if grace is not None else float(self.settings.send_lease_seconds)
        pending_tasks = {t for t in (self._send_task, *self._running) if t is not None}
        if pending_tasks:
            _, late = await asyncio.wait(pending_tasks, timeout=limit)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        async with self._leader_lock:
            await self._drop_lock()
        try:
            async with self.db.session() as session:
                await forget(session, self.sender.worker_id)
        except Exception:
            log.warning("heartbeat row not removed", exc_info=True, extra=self._log_fields)
        log.info("worker %s stopped", self.sender.worker_id, extra=self._log_fields)


@asynccontextmanager
async def worker_context(
    db: Database,
    settings: Settings,
    clock: Clock,
    *,
    channels: Mapping[str, Channel],
    worker_id: str | None = None,
    jobs: Callable[[Worker], None] | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[Worker]:
    """A started Worker for the life of the block, sending through ``channels`` (the caller
    builds them inside the running loop, as their clients need, and closes them). ``jobs``,
    when given, registers the periodic jobs on the worker before it starts (the composition
    root passes scheduler/jobs.py's: reminders, digests, listening). The sender counts its
    sends in ``metrics`` (the server's, or the worker process's own)."""
    sender = Sender(
        db,
        dict(channels),
        clock,
        settings,
        worker_id=worker_id or default_worker_id(),
        metrics=metrics,
    )
    worker = Worker(db, sender, settings)
    if jobs is not None:
        jobs(worker)
    worker.start()
    try:
        await worker.heartbeat()  # seen at once, not only at the first interval
        yield worker
    finally:
        await worker.stop()
