"""The one contract every provider implements.

A channel sends one outbox message and either returns a :class:`SendResult` or raises
:class:`TransportError`. It holds no database and no clock: everything a send needs comes on the
:class:`OutgoingMessage` (read when the sender claimed the row), and everything the provider
taught us comes back on the result or the error (``effects``: a chat that migrated, the message
id an RSVP card got, a recipient who is unreachable), for storage/delivery.py to apply, once.
Providers classify their own errors (``permanent=True`` never retries); retries, rate limits and
bookkeeping live in the sender (scheduler/delivery/sender.py), once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from storage.delivery import NO_EFFECTS, Attachment, Card, Effects


class TransportError(Exception):
    """A send failed. ``permanent`` failures are never retried.

    ``effect`` tells what to record about the recipient: ``"opted_out"``, ``"invalid"`` (bad
    number), ``"not_mobile"``, ``"blocked"`` (Telegram user blocked the bot); it is applied only
    for a permanent failure. ``migrated_to`` (a Telegram group's new id, learnt before the
    failure) and ``group_removed`` (the bot is out of that group) are applied whatever the status.
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
        migrated_to: int | None = None,
        group_removed: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.effect = effect
        self.retry_after = retry_after
        self.ambiguous = ambiguous
        self.migrated_to = migrated_to
        self.group_removed = group_removed

    @property
    def effects(self) -> Effects:
        return Effects(
            person=self.effect if self.permanent else None,
            migrated_to=self.migrated_to,
            group_removed=self.group_removed,
        )


@dataclass(frozen=True)
class OutgoingMessage:
    """One claimed outbox row: everything its send needs. ``payload`` and ``template`` are the
    row's (Telegram extras); ``attachment`` is its file, if any; ``card`` is the RSVP card an
    ``edit_card`` row edits, as it was when the row was claimed (None: the card is gone)."""

    outbox_id: int
    to: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    attachment: Attachment | None = None
    card: Card | None = None


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    # Providers that confirm delivery synchronously (the sandbox) say so here.
    status: str = "sent"
    effects: Effects = NO_EFFECTS


class Channel(Protocol):
    """One per provider. ``name`` is the outbox channel it serves (``sms``, ``telegram``)."""

    name: str
    provider: str

    async def send(self, message: OutgoingMessage) -> SendResult: ...

    async def close(self) -> None: ...
