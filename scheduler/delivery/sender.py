"""The sender: takes due rows from the outbox and hands them to the channels, at most once.

Claiming. One transaction selects due rows (``status = 'queued'`` and ``not_before <= now``,
ordered by priority, not_before, id, so replies and STOP confirmations go ahead of bulk sends)
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share the outbox without
waiting on each other. In the same transaction each row is checked again, at send time:

* past ``expires_at``: cancelled, ``error_code = "expired"``;
* the person opted out: cancelled (``opted_out``), except the STOP confirmation itself
  (``kind = "consent"``); a bad phone or a Telegram user who blocked the bot: cancelled;
* a bulk message inside the person's quiet hours (their own time zone): ``not_before`` moves to
  when the window opens, or cancelled ``too_late`` if it would then be past ``expires_at``;
* send slots are reserved under the shared rate limits (scheduler/delivery/ratelimit.py);
* the rest become ``sending`` with ``lease_owner``, ``lease_until`` and ``attempts + 1``.

The transaction commits before any provider call: a row is marked as being sent before it is
sent, so a crash can only ever lose an outcome, never cause a blind second send. (The checks
are as of the claim: a STOP that lands in the second or two between a claim and its slot cannot
recall that one message; everything later is cancelled.)

The claim carries everything a send needs (storage.delivery.load_extras: the row's payload,
an attached file, the RSVP card an edit targets), so channels hold no database.

Outcomes. Each message waits for its slot and is sent; results are written back in batches by
storage/delivery.py (``record_attempts``), with a ``DeliveryEvent`` for every attempt, and the
side effects the provider reported on the result or the error applied there too:

* accepted: ``sent`` (or ``delivered`` if the provider says so at once), with its provider id;
* transient error (429, 5xx, connection refused): back to ``queued`` with ``not_before = now +
  backoff`` (exponential with full jitter, at least the provider's ``retry_after``), until
  ``send_max_attempts``, then ``failed``; a ``retry_after`` also holds the shared rate limit
  (Telegram's 429 is for the whole bot), so other workers wait too;
* permanent error: ``failed``, never retried, and the person updated from the error's effect
  (``opted_out``: consent opted out, source ``carrier``; ``invalid`` / ``not_mobile``: phone
  status; ``blocked``: Telegram status);
* whatever the status: a Telegram chat that migrated (``migrated_to``: everything follows the
  new id), a group the bot was removed from, the message id an RSVP card got;
* ambiguous (a timeout after the request may have reached the provider): ``unknown``.

A worker never starts a provider call when less than ``CALL_MARGIN`` of its lease is left (the
channels time out well inside that), so once a lease has expired no call from that claim can
still be in flight.

Reconciling unknown outcomes (``reconcile``, run by the leader). Rows still ``sending`` after
their lease expired (the worker died) become ``unknown``. An ``unknown`` row is never sent again
blindly. Once ``reconcile_after_seconds`` have passed since its lease ended (time for the
provider's records to settle), the sender asks the channel, if it can tell (``find_sent``; Twilio
lists the messages it holds for that number): if the provider holds a matching message that no
other outbox row accounts for, the row becomes ``sent`` with that id; if it holds none, the
message never left and the row goes back to ``queued``. A channel that cannot tell (the Telegram
Bot API cannot list sent messages) leaves the row ``unknown`` for an organiser to decide: a
missing reminder is better than a duplicate, and the row is visible (status ``unknown``).

Logs show ids (``extra=``: outbox_id, person_id, worker), never an address.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import insert, select, update

from config.clock import Clock
from config.metrics import SEND_OUTCOMES, Metrics
from config.settings import Settings
from scheduler.delivery.channels.base import Channel, OutgoingMessage, SendResult, TransportError
from scheduler.delivery.ratelimit import Limit, hold, limits_for, reserve
from scheduler.outbound import held_back, next_allowed
from storage.db import Database
from storage.delivery import Attempt, Extras, event, load_extras, record_attempts
from storage.models import DeliveryEvent, OutboxMessage, Person

log = logging.getLogger(__name__)

# How far ahead of its send slot a row may be claimed.
HORIZON = timedelta(seconds=2)
# A provider call is never started with less than this left on the lease (channel timeouts are
# shorter: Twilio's is 15 s).
CALL_MARGIN = timedelta(seconds=20)
# The provider's clock and ours may differ a little: look this much further back.
LOOKUP_SLACK = timedelta(minutes=5)
# While waiting for the rate, outcomes are written down at least this often (seconds): a crash
# loses at most this much to "unknown".
RECORD_EVERY = 0.25
# Rows settled per reconcile run.
RECONCILE_BATCH = 500

Sleep = Callable[[float], Awaitable[None]]


@runtime_checkable
class Reconcilable(Protocol):
    """A channel that can say which messages the provider holds for a recipient."""

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> list[SendResult]: ...


@dataclass(frozen=True)
class Claim:
    """A row this worker has marked ``sending``, with its send slot."""

    id: int
    channel: str
    to: str
    body: str
    attempts: int
    not_before: datetime
    person_id: int | None
    slot: datetime
    lease_until: datetime
    extras: Extras = field(default_factory=Extras)


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    at: datetime
    result: SendResult | None = None
    error: TransportError | None = None
    started: bool = True  # False: the call was never made (the lease ran short)


@dataclass
class _Batch:
    claims: list[Claim] = field(default_factory=list)
    handled: int = 0
    skipped: int = 0
    busy_until: datetime | None = None


class Sender:
    """Drains the outbox. One per worker process; any number per PostgreSQL database.

    ``sleep`` waits for send slots and backpressure (tests pass one that advances a FakeClock);
    ``rng`` is the jitter source for retry backoff.
    """

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        clock: Clock,
        settings: Settings,
        *,
        worker_id: str,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.channels = dict(channels)
        self.clock = clock
        self.settings = settings
        self.worker_id = worker_id
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.metrics = metrics or Metrics()
        self._lease = timedelta(seconds=settings.send_lease_seconds)
        self._settle = timedelta(seconds=settings.reconcile_after_seconds)
        fastest = max(settings.sms_rate_per_second, settings.telegram_rate_per_second)
        # About half a horizon of work per claim: few transactions, little held at a crash.
        self.batch_size = max(10, min(250, int(fastest * HORIZON.total_seconds() / 2)))
        self._stopping = False
        # sent, delivered, retried, failed, unknown, requeued, reconciled, deferred, and one
        # counter per cancel reason (expired, too_late, opted_out, ...).
        self.stats: Counter[str] = Counter()

    def stop(self) -> None:
        """Finish what is in flight and stop claiming (``send_due`` returns soon)."""
        self._stopping = True

    # -- sending ------------------------------------------------------------------------------

    async def send_due(self, limit: int = 100) -> int:
        """Process up to ``limit`` due rows: sent, failed, retried later, cancelled or deferred.

        Returns how many rows it handled; 0 means nothing was due. Waits for rate-limit slots
        (through ``sleep``) and returns once every message it started has a recorded outcome.
        """
        handled = 0
        tasks: set[asyncio.Task[Outcome]] = set()
        try:
            while handled < limit and not self._stopping:
                batch = await self._claim(min(self.batch_size, limit - handled))
                handled += batch.handled
                for claim in batch.claims:
                    tasks.add(asyncio.create_task(self._deliver(claim)))
                if batch.handled == 0 and batch.skipped == 0:
                    break
                # Ahead of the rate: wait, writing outcomes down as they come in.
                until = (batch.busy_until or self.clock.now()) - HORIZON / 2
                while (
                    left := (until - self.clock.now()).total_seconds()
                ) > 0 and not self._stopping:
                    await self._sleep(min(left, RECORD_EVERY))
                    await self._record_finished(tasks)
                await self._record_finished(tasks)
            if tasks:
                await asyncio.wait(tasks)
                await self._record_finished(tasks)
        except BaseException:
            # Cancelled or the database failed: rows in flight stay ``sending`` until their
            # lease expires, then reconcile settles them.
            for task in tasks:
                task.cancel()
            raise
        return handled

    async def _claim(self, size: int) -> _Batch:
        now = self.clock.now()
        batch = _Batch()
        async with self.db.session() as session:
            rows = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == "queued",
                        OutboxMessage.not_before <= now,
                        OutboxMessage.channel.in_(self.channels),
                    )
                    .order_by(OutboxMessage.priority, OutboxMessage.not_before, OutboxMessage.id)
                    .limit(size)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                return batch
            person_ids = {r.person_id for r in rows if r.person_id is not None}
            people = {
                p.id: p
                for p in await session.scalars(select(Person).where(Person.id.in_(person_ids)))
            }
            events: list[dict[str, Any]] = []
            wants: list[tuple[int, Sequence[Limit]]] = []
            by_id = {}
            for row in rows:
                person = people.get(row.person_id) if row.person_id is not None else None
                reason = self._cancel_reason(row, person, now)
                if reason is None and row.kind == "bulk":
                    zone = person.timezone if person else self.settings.default_timezone
                    opens = next_allowed(
                        now, zone, self.settings.quiet_start, self.settings.quiet_end
                    )
                    if opens > now and row.expires_at is not None and opens >= row.expires_at:
                        reason = "too_late"
                    elif opens > now:
                        row.not_before = opens
                        row.updated_at = now
                        batch.handled += 1
                        self.stats["deferred"] += 1
                        continue
                if reason is not None:
                    self._cancel(row, reason, now, events)
                    batch.handled += 1
                    continue
                by_id[row.id] = row
                wants.append(
                    (row.id, limits_for(row.channel, row.to_address, row.segments, self.settings))
                )
            plan = await reserve(session, wants, now, HORIZON)
            batch.busy_until = plan.busy_until
            batch.skipped = len(plan.skipped)
            for row_id, until in plan.wait.items():
                by_id[row_id].not_before = until
                by_id[row_id].updated_at = now
                batch.handled += 1
            lease_until = now + self._lease
            extras = await load_extras(session, [by_id[i] for i in plan.slots])
            for row_id, slot in plan.slots.items():
                row = by_id[row_id]
                row.status = "sending"
                row.lease_owner = self.worker_id
                row.lease_until = lease_until
                row.attempts += 1
                row.updated_at = now
                batch.claims.append(
                    Claim(
                        id=row.id,
                        channel=row.channel,
                        to=row.to_address,
                        body=row.body,
                        attempts=row.attempts,
                        not_before=row.not_before,
                        person_id=row.person_id,
                        slot=slot,
                        lease_until=lease_until,
                        extras=extras.get(row.id, Extras()),
                    )
                )
                batch.handled += 1
            if events:
                await session.execute(insert(DeliveryEvent), events)
        if batch.claims:
            log.debug(
                "worker %s claimed %d rows",
                self.worker_id,
                len(batch.claims),
                extra={"worker": self.worker_id},
            )
        return batch

    def _cancel_reason(
        self, row: OutboxMessage, person: Person | None, now: datetime
    ) -> str | None:
        if row.expires_at is not None and row.expires_at <= now:
            return "expired"
        if person is None:
            return None
        held = held_back(person, now, row.kind)
        if held is not None:
            return held
        if row.channel == "sms" and person.phone_status != "ok":
            return person.phone_status
        if row.channel == "telegram" and person.telegram_status != "ok":
            return person.telegram_status
        return None

    def _cancel(
        self, row: OutboxMessage, reason: str, now: datetime, events: list[dict[str, Any]]
    ) -> None:
        row.status = "cancelled"
        row.error_code = reason
        row.updated_at = now
        events.append(event(row.id, "cancel", "cancelled", now, error_code=reason))
        self.stats[reason] += 1
        log.info("outbox %d cancelled: %s", row.id, reason, extra=_fields(row.id, row.person_id))

    async def _deliver(self, claim: Claim) -> Outcome:
        wait = (claim.slot - self.clock.now()).total_seconds()
        if wait > 0:
            await self._sleep(wait)
        now = self.clock.now()
        if claim.lease_until - now < CALL_MARGIN:
            return Outcome(claim, now, started=False)
        x = claim.extras
        message = OutgoingMessage(
            claim.id, claim.to, claim.body, x.payload, x.template, x.attachment, x.card
        )
        try:
            result = await self.channels[claim.channel].send(message)
        except TransportError as exc:
            return Outcome(claim, self.clock.now(), error=exc)
        except Exception as exc:  # a bug in a channel: treat the outcome as unknown
            log.exception(
                "outbox %d: channel %s raised",
                claim.id,
                claim.channel,
                extra=_fields(claim.id, claim.person_id),
            )
            error = TransportError(f"unexpected {type(exc).__name__}", code="bug", ambiguous=True)
            return Outcome(claim, self.clock.now(), error=error)
        return Outcome(claim, self.clock.now(), result=result)

    async def _record_finished(self, tasks: set[asyncio.Task[Outcome]]) -> None:
        done = [t for t in tasks if t.done()]
        if not done:
            return
        tasks.difference_update(done)
        await self._record([t.result() for t in done])

    async def _record(self, outcomes: list[Outcome]) -> None:
        attempts = [self._attempt(o) for o in outcomes]
        async with self.db.session() as session:
            await record_attempts(session, self.worker_id, attempts)
            for o in outcomes:
                if o.error is not None and o.error.retry_after:
                    limits = limits_for(o.claim.channel, o.claim.to, 1, self.settings)
                    keys = [x.key for x in limits if not x.per_recipient]
                    until = o.at + timedelta(seconds=o.error.retry_after)
                    await hold(session, keys, until, o.at)
        for o, a in zip(outcomes, attempts, strict=True):  # once the outcomes are on record
            if o.started:
                code = o.error.code if o.error else None
                self.metrics.count_send(o.claim.channel, SEND_OUTCOMES[a.status], code)

    def _attempt(self, o: Outcome) -> Attempt:
        """What to write for one outcome: the status, and when to try again."""
        c = o.claim
        base = Attempt(
            outbox_id=c.id,
            person_id=c.person_id,
            to_address=c.to,
            status="queued",
            attempts=c.attempts,
            not_before=c.not_before,
            at=o.at,
            provider=self.channels[c.channel].provider,
        )
        fields = _fields(c.id, c.person_id, self.worker_id)
        if not o.started:
            self.stats["released"] += 1
            return replace(base, attempts=c.attempts - 1, provider=None, started=False)
        if o.result is not None:
            status = o.result.status if o.result.status in ("sent", "delivered") else "sent"
            self.stats[status] += 1
            log.debug("outbox %d %s: %s", c.id, status, o.result.provider_id, extra=fields)
            return replace(
                base,
                status=status,
                provider_id=o.result.provider_id,
                sent_at=o.at,
                effects=o.result.effects,
            )
        error = o.error
        assert error is not None
        base = replace(
            base, error_code=error.code, error_message=str(error)[:500], effects=error.effects
        )
        if error.ambiguous:
            # Keep the owner and lease end: reconcile asks the provider after the lease.
            self.stats["unknown"] += 1
            log.warning("outbox %d: outcome unknown (%s)", c.id, error, extra=fields)
            return replace(
                base, status="unknown", lease_owner=self.worker_id, lease_until=c.lease_until
            )
        if error.permanent or c.attempts >= self.settings.send_max_attempts:
            self.stats["failed"] += 1
            log.warning("outbox %d failed: %s", c.id, error, extra=fields)
            return replace(base, status="failed")
        delay = self.backoff(c.attempts, error.retry_after)
        self.stats["retried"] += 1
        log.info(
            "outbox %d: retry in %.0fs (%s)",
            c.id,
            delay.total_seconds(),
            error,
            extra=fields,
        )
        return replace(base, not_before=o.at + delay)

    def backoff(self, attempts: int, retry_after: float | None = None) -> timedelta:
        """Full jitter: uniform in [0, min(max, base * 2**(attempts-1))], at least retry_after."""
        s = self.settings
        cap = min(s.send_backoff_max_seconds, s.send_backoff_seconds * 2 ** max(attempts - 1, 0))
        delay = self._rng.uniform(0, cap)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return timedelta(seconds=delay)

    # -- reconciling --------------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Settle rows whose outcome is unknown (see the module docstring). Returns how many
        rows changed status (lost leases marked unknown, plus unknown rows settled)."""
        now = self.clock.now()
        changed = 0
        async with self.db.session() as session:
            lost = list(
                await session.scalars(
                    update(OutboxMessage)
                    .where(OutboxMessage.status == "sending", OutboxMessage.lease_until < now)
                    .values(status="unknown", error_code="lease_expired", updated_at=now)
                    .returning(OutboxMessage.id)
                )
            )
            if lost:
                await session.execute(
                    insert(DeliveryEvent),
                    [
                        event(i, "reconcile", "unknown", now, error_code="lease_expired")
                        for i in lost
                    ],
                )
                self.stats["lease_expired"] += len(lost)
                log.warning("%d rows were left sending by a worker that stopped", len(lost))
            changed += len(lost)
            reconcilable = [
                name for name, ch in self.channels.items() if isinstance(ch, Reconcilable)
            ]
            rows = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == "unknown",
                        OutboxMessage.channel.in_(reconcilable),
                        OutboxMessage.lease_until <= now - self._settle,
                    )
                    .order_by(OutboxMessage.id)
                    .limit(RECONCILE_BATCH)
                )
            )
        taken: set[str] = set()
        for row in rows:
            if self._stopping:
                break
            changed += await self._settle_row(row, taken)
        return changed

    async def _settle_row(self, row: OutboxMessage, taken: set[str]) -> int:
        provider = self.channels[row.channel].provider
        channel = self.channels[row.channel]
        assert isinstance(channel, Reconcilable) and row.lease_until is not None
        claimed_at = row.lease_until - self._lease
        message = OutgoingMessage(row.id, row.to_address, row.body)
        try:
            found = await channel.find_sent(message, claimed_at - LOOKUP_SLACK)
        except TransportError as exc:
            log.warning(
                "outbox %d: cannot ask the provider yet (%s)",
                row.id,
                exc,
                extra=_fields(row.id, row.person_id),
            )
            return 0
        now = self.clock.now()
        async with self.db.session() as session:
            ids = [f.provider_id for f in found]
            known = set(
                await session.scalars(
                    select(OutboxMessage.provider_id).where(
                        OutboxMessage.provider_id.in_(ids), OutboxMessage.id != row.id
                    )
                )
            )
            # Oldest first: an earlier unknown row to the same person takes the earlier message.
            mine = [f for f in reversed(found) if f.provider_id not in known | taken]
            guard = (OutboxMessage.id == row.id, OutboxMessage.status == "unknown")
            if mine:
                provider_id = mine[0].provider_id
                taken.add(provider_id)
                values: dict[str, Any] = {
                    "status": "sent",
                    "provider": provider,
                    "provider_id": provider_id,
                    "sent_at": claimed_at,
                    "error_code": None,
                    "error_message": None,
                }
                done = event(row.id, "reconcile", "sent", now, provider_id=provider_id)
                self.stats["reconciled"] += 1
                log.info(
                    "outbox %d: provider has it (%s)",
                    row.id,
                    provider_id,
                    extra=_fields(row.id, row.person_id),
                )
            else:
                values = {"status": "queued", "not_before": now, "error_code": None}
                done = event(row.id, "reconcile", "queued", now)
                self.stats["requeued"] += 1
                log.info(
                    "outbox %d: provider never got it; queued",
                    row.id,
                    extra=_fields(row.id, row.person_id),
                )
            values.update(lease_owner=None, lease_until=None, updated_at=now)
            result = await session.execute(update(OutboxMessage).where(*guard).values(**values))
            if getattr(result, "rowcount", 1) == 0:
                return 0
            await session.execute(insert(DeliveryEvent), [done])
        return 1


def _fields(outbox_id: int, person_id: int | None, worker: str | None = None) -> dict[str, Any]:
    """A log line's structured fields (config/logs.py): ids, never the address."""
    fields: dict[str, Any] = {"outbox_id": outbox_id}
    if person_id is not None:
        fields["person_id"] = person_id
    if worker is not None:
        fields["worker"] = worker
    return fields
