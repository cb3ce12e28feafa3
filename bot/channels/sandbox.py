"""The sandbox SMS channel: used when no Twilio credentials are set.

Nothing leaves the machine; the outbox row itself is the record (``turnout outbox`` shows it).
"""

from __future__ import annotations

from bot.channels.base import OutgoingMessage, SendResult


class SandboxSms:
    name = "sms"
    provider = "sandbox"

    async def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(provider_id=f"SB{message.outbox_id:032d}", status="delivered")

    async def close(self) -> None:
        return None
