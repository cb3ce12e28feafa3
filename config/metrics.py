"""The metrics seam: Prometheus counters for what happens in this process, and the scrape's
rendering (the counters, then the gauges bot/monitoring.py reads from the database at scrape
time and hands over).

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

Gauges, read at each scrape by bot/monitoring.py (storage/monitoring.py, cheap indexed queries):

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

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

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
    body, content_type = metrics.exposition(gauges)   # gauges: read for this scrape
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
        self._gauges = _Gauges()
        self.registry.register(self._gauges)

    def count_send(self, channel: str, outcome: str, error_code: str | None = None) -> None:
        self.sends.labels(channel, outcome, error_code or "").inc()

    def count_inbound(self, channel: str) -> None:
        self.inbound.labels(channel).inc()

    def count_rejection(self, webhook: str, reason: str) -> None:
        self.webhook_rejections.labels(webhook, reason).inc()

    def exposition(self, gauges: Iterable[Metric], accept: str = "") -> tuple[bytes, str]:
        """The scrape's body and content type (text format, or OpenMetrics if ``accept`` asks
        for it): the counters, then ``gauges``, the metric families read for this scrape
        (bot/monitoring.py reads them from the database first; nothing is awaited here, so a
        concurrent scrape cannot swap them mid-render)."""
        encoder, content_type = choose_encoder(accept)
        self._gauges.families = list(gauges)
        return encoder(self.registry), content_type


class _Gauges(Collector):
    """Yields the gauges handed to the last ``Metrics.exposition``."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        yield from self.families
