"""The one contract every provider implements.

A channel sends one outbox message and either returns the provider's message id or raises
:class:`TransportError`. Providers classify their own errors (``permanent=True`` never retries);
retries, rate limits and bookkeeping live in the sender (scheduler/delivery/sender.py), once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """A send failed. ``permanent`` failures are never retried.

    ``effect`` tells the sender what to record about the recipient: ``"opted_out"``,
    ``"invalid"`` (bad number), ``"not_mobile"``, ``"blocked"`` (Telegram user blocked the bot).
    ``retry_after`` is the provider's own wait hint in seconds, when it gives one.
    ``ambiguous`` means the request may have reached the provider (a timeout after sending): the
    sender must not blindly resend it.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        code: str | None = None,
        effect: str | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.effect = effect
        self.retry_after = retry_after
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class OutgoingMessage:
    outbox_id: int
    to: str
    body: str


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    # Providers that confirm delivery synchronously (the sandbox) say so here.
    status: str = "sent"


class Channel(Protocol):
    """One per provider. ``name`` is the outbox channel it serves (``sms``, ``telegram``)."""

    name: str
    provider: str

    async def send(self, message: OutgoingMessage) -> SendResult: ...

    async def close(self) -> None: ...
