"""The sandbox SMS channel: used when no Twilio credentials are set.

Nothing leaves the machine; the outbox row itself is the record (``turnout outbox`` shows it).
"""

from __future__ import annotations

from datetime import datetime

from scheduler.delivery.channels.base import OutgoingMessage, SendResult


class SandboxSms:
    name = "sms"
    provider = "sandbox"

    async def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(provider_id=f"SB{message.outbox_id:032d}", status="delivered")

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> list[SendResult]:
        """Nothing leaves the sandbox, so a send cut off by a crash never happened: the sender
        requeues it."""
        return []

    async def close(self) -> None:
        return None
