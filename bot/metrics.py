"""Prometheus metrics: counters for what happens in this process, gauges read from the
database at scrape time.

One :class:`Metrics` (with its own registry, never the library's global one) per app or worker
process: ``create_app`` makes one for the server, its inbound pipeline and its in-process
worker; a separate ``turnout worker`` has its own (served on TURNOUT_METRICS_PORT).

Counters (since the process started; Prometheus' ``rate()`` and ``increase()`` read them):

* ``turnout_sends_total{channel, outcome, error_code}``: provider calls, by outcome (``sent``,
  ``delivered``, ``retry``, ``failed``, ``unknown``) and the provider's error code (empty on
  success), counted by the sender once the outcome is recorded;
* ``turnout_inbound_messages_total{channel}``: messages stored by the inbound pipeline (a
  provider's replay of one already stored is not counted again);
* ``turnout_webhook_rejections_total{webhook, reason}``: webhook requests refused (``signature``
  403, ``malformed`` 400, ``too_large`` 413, ``off`` 404), counted by one middleware.

Gauges, read at each scrape (storage/monitoring.py, cheap indexed queries):

* ``turnout_outbox_messages{status, channel}``: rows waiting or in flight (queued, sending,
  unknown);
* ``turnout_outbox_recent_messages{status, channel}``: rows that reached a settled status in
  the last 24 hours;
* ``turnout_outbox_dropped_messages{reason, channel}``: rows dropped on purpose in the last 24
  hours (``too_late``: would have arrived after the quiet hours too late to matter;
  ``expired``);
* ``turnout_outbox_oldest_due_seconds``: how long the oldest due row has been waiting (0: none);
* ``turnout_worker_last_seen_seconds{worker}`` and ``turnout_worker_leader{worker}``: each
  worker's heartbeat;
* ``turnout_database_up``: 1 when the gauges above could be read, 0 when the database failed
  (the counters are served all the same).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from storage.db import Database
from storage.monitoring import CHANNELS, LIVE, SETTLED, OutboxState, outbox_state
from storage.outbox import DROPPED

log = logging.getLogger(__name__)

# What the sender's recorded status means as a send outcome ("queued" again: a retry).
SEND_OUTCOMES = {
    "sent": "sent",
    "delivered": "delivered",
    "queued": "retry",
    "failed": "failed",
    "unknown": "unknown",
}


class Metrics:
    """The counters, and the gauges' source. Use::

    metrics = Metrics()
    metrics.count_send("sms", "retry", "20429")
    body, content_type = await metrics.exposition(db, clock.now())
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sends = Counter(
            "turnout_sends",
            "Provider calls, by channel, outcome and provider error code.",
            ["channel", "outcome", "error_code"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "turnout_inbound_messages",
            "Inbound messages stored, by channel (replays not counted).",
            ["channel"],
            registry=self.registry,
        )
        self.webhook_rejections = Counter(
            "turnout_webhook_rejections",
            "Webhook requests refused, by webhook and reason "
            "(signature 403, malformed 400, too_large 413, off 404).",
            ["webhook", "reason"],
            registry=self.registry,
        )
        self._state = _StateCollector()
        self.registry.register(self._state)

    def count_send(self, channel: str, outcome: str, error_code: str | None = None) -> None:
        self.sends.labels(channel, outcome, error_code or "").inc()

    def count_inbound(self, channel: str) -> None:
        self.inbound.labels(channel).inc()

    def count_rejection(self, webhook: str, reason: str) -> None:
        self.webhook_rejections.labels(webhook, reason).inc()

    async def exposition(self, db: Database, now: datetime, accept: str = "") -> tuple[bytes, str]:
        """The scrape's body and content type (text format, or OpenMetrics if ``accept`` asks
        for it). The database state is read first, then everything is rendered at once."""
        state: OutboxState | None
        try:
            async with db.session() as session:
                state = await outbox_state(session, now)
        except Exception:
            log.warning("metrics: the database could not be read", exc_info=True)
            state = None
        encoder, content_type = choose_encoder(accept)
        # No await from here on: a concurrent scrape cannot swap the state mid-render.
        self._state.state = state
        return encoder(self.registry), content_type


class _StateCollector(Collector):
    """Yields the gauges from the last state read (see ``Metrics.exposition``)."""

    def __init__(self) -> None:
        self.state: OutboxState | None = None

    def collect(self) -> Iterator[Metric]:
        state = self.state
        up = GaugeMetricFamily(
            "turnout_database_up", "1 when the database answered the last scrape, else 0."
        )
        up.add_metric([], 0 if state is None else 1)
        yield up
        if state is None:
            return
        live = GaugeMetricFamily(
            "turnout_outbox_messages",
            "Outbox rows waiting or in flight, by status and channel.",
            labels=["status", "channel"],
        )
        recent = GaugeMetricFamily(
            "turnout_outbox_recent_messages",
            "Outbox rows that reached a settled status in the last 24 hours.",
            labels=["status", "channel"],
        )
        dropped = GaugeMetricFamily(
            "turnout_outbox_dropped_messages",
            "Messages dropped on purpose in the last 24 hours (too_late, expired).",
            labels=["reason", "channel"],
        )
        for channel in CHANNELS:
            for status in LIVE:
                live.add_metric([status, channel], state.live.get((status, channel), 0))
            for status in SETTLED:
                recent.add_metric([status, channel], state.recent.get((status, channel), 0))
            for reason in DROPPED:
                dropped.add_metric([reason, channel], state.dropped.get((reason, channel), 0))
        yield from (live, recent, dropped)
        oldest = GaugeMetricFamily(
            "turnout_outbox_oldest_due_seconds",
            "Seconds the oldest due outbox row has been waiting (0 when none is due).",
        )
        waited = (state.now - state.oldest_due).total_seconds() if state.oldest_due else 0.0
        oldest.add_metric([], max(waited, 0.0))
        yield oldest
        seen = GaugeMetricFamily(
            "turnout_worker_last_seen_seconds",
            "Seconds since each worker's last heartbeat.",
            labels=["worker"],
        )
        leader = GaugeMetricFamily(
            "turnout_worker_leader", "1 for the worker leading periodic jobs.", labels=["worker"]
        )
        for worker in state.workers:
            ago = (state.now - worker.last_seen).total_seconds()
            seen.add_metric([worker.worker_id], max(ago, 0.0))
            leader.add_metric([worker.worker_id], 1 if worker.leader else 0)
        yield from (seen, leader)
