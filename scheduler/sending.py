"""What the Sending page says about a message, in words, and cancelling one that has not gone.

* :func:`status_words`: queued (and why it waits: scheduler/waiting.py), being sent, sent,
  delivered, failed or not sent, with the provider's error in words (:data:`ERROR_WORDS`);
* :func:`cancel_message`: a queued message (and the "who we are" intro queued before it) is
  cancelled, ``error_code`` ``console``, with a delivery event and an audit entry. A message a
  worker has already claimed cannot be called back: the answer is False and nothing changes.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from config.phones import redact_phones
from config.settings import Settings
from scheduler.waiting import PROVIDERS, why_waiting
from storage import keys
from storage.audit import Actor, record
from storage.models import DeliveryEvent, OutboxMessage, Person
from storage.roles import Roles, sees

CANCELLED_HERE = "console"

# Error codes as a person would want to read them: the providers' (Twilio's numbers,
# Telegram's classes: scheduler/delivery/channels/) and our own reasons for not sending.
ERROR_WORDS = {
    "21610": "the person has blocked our number (they replied STOP to it)",
    "21211": "not a valid phone number",
    "21612": "the network cannot route to this number",
    "21614": "not a mobile number",
    "21408": "texts to this country are not enabled on the Twilio account",
    "21606": "our sending number cannot send texts",
    "30003": "the phone is switched off or out of reach",
    "30004": "the number blocks messages",
    "30005": "unknown number, or no longer in service",
    "30006": "a landline, or a network that cannot take texts",
    "30007": "the network filtered it as spam",
    "30008": "an unknown error at the network",
    "20429": "too many messages at once: the provider asked us to slow down",
    "429": "too many messages at once: the provider asked us to slow down",
    "403": "the person has blocked the bot",
    "400": "Telegram refused the message",
    "migrated": "the group moved to a new chat",
    "network": "the provider could not be reached",
    "invalid_token": "the provider refused our credentials",
    "too_late": "quiet hours would have held it until it was no use",
    "expired": "its moment had passed",
    "superseded": "the action changed, so a new message replaced it",
    "opted_out": "the person replied STOP",
    "invalid": "the phone number is not valid",
    "not_mobile": "the phone number is not a mobile",
    "blocked": "the person has blocked the bot",
    "campaign_closed": "the listening campaign closed",
    "lease_expired": "a worker stopped while sending: checking with the provider",
    CANCELLED_HERE: "cancelled from the console",
}


def error_words(row: OutboxMessage) -> str:
    code = row.error_code or ""
    if code in ERROR_WORDS:
        words = ERROR_WORDS[code]
    elif code:
        provider = PROVIDERS.get(row.provider or "", row.provider or "provider")
        words = f"{provider} error {code}"
        if row.error_message:
            words += f": {redact_phones(row.error_message[:120])}"
    else:
        words = redact_phones((row.error_message or "no reason recorded")[:120])
    if code.isdigit() and code not in ("400", "403", "429"):
        words += f" (Twilio {code})"
    return words


def status_words(
    row: OutboxMessage, person: Person | None, now: datetime, settings: Settings
) -> str:
    zone = ZoneInfo(settings.default_timezone)
    if row.status == "queued":
        return "Queued: " + why_waiting(row, person, now, settings)
    if row.status == "sending":
        return "Being sent now"
    if row.status == "unknown":
        return "Outcome unknown: checking with the provider"
    if row.status in ("sent", "delivered"):
        at = (row.sent_at or row.updated_at).astimezone(zone).strftime("%d %b %H:%M")
        return ("Delivered" if row.status == "delivered" else "Sent") + f", {at}"
    if row.status in ("failed", "undelivered"):
        return "Failed: " + error_words(row)
    return "Not sent: " + error_words(row)


async def cancel_message(
    session: AsyncSession, message_id: int, *, roles: Roles, actor: Actor, now: datetime
) -> bool:
    """Cancel a queued message the viewer may see (and its queued intro). False if it is not
    queued any more (or not theirs to see): nothing changes then."""
    done = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .where(OutboxMessage.status == "queued")
        .where(sees(roles, OutboxMessage.person_id))
        .values(
            status="cancelled",
            error_code=CANCELLED_HERE,
            error_message=f"cancelled from the console by {actor.label}"[:200],
            updated_at=now,
        )
        .returning(OutboxMessage.id, OutboxMessage.dedupe_key)
        .execution_options(synchronize_session=False)
    )
    found = done.first()
    if found is None:
        return False
    cancelled = [found.id]
    intro = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.dedupe_key == keys.intro(found.dedupe_key))
        .where(OutboxMessage.status == "queued")
        .values(status="cancelled", error_code=CANCELLED_HERE, updated_at=now)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    cancelled += [row.id for row in intro]
    for outbox_id in cancelled:
        session.add(
            DeliveryEvent(
                outbox_id=outbox_id,
                kind="cancel",
                status="cancelled",
                error_code=CANCELLED_HERE,
                at=now,
            )
        )
    await record(
        session,
        actor,
        "outbox_cancelled",
        "outbox",
        found.id,
        at=now,
        details={"rows": len(cancelled)},
    )
    return True
