"""What an organiser or leader does with the inbox from the console: reply, mark done, assign
to a leader, attach a text to a listening question. Each is written here once and audited
(storage/audit.py); views only call these.

A reply goes through the outbox like every message (storage/outbox.py, a dedupe key from
storage/keys.py) under the outbound policy (scheduler/outbound.py): nobody who said STOP, only
a way the person can be reached, and not in their quiet hours (it waits for the morning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.segments import count_segments
from config.settings import Settings
from scheduler.outbound import bulk_not_before, channel_for
from storage import keys
from storage.audit import Actor, record
from storage.inbox import OPEN, assignee_choices, open_in_conversation
from storage.listening import ListeningError, attach_inbound
from storage.models import (
    InboundMessage,
    InboxAssignment,
    ListeningCampaign,
    ListeningQuestion,
    OutboxMessage,
    Person,
)
from storage.outbox import Draft, Envelope, address_for, enqueue

MAX_REPLY = 612  # four GSM-7 parts: past that a text is a letter
TEMPLATE = "console_reply"


class InboxError(ValueError):
    """Why it cannot be done, in words for the page."""


@dataclass(frozen=True)
class ReplyResult:
    row: OutboxMessage
    new: bool  # False: the same words were already sent to this text (a form sent twice)
    held_until: datetime | None  # quiet hours: when it will go


async def reply(
    session: AsyncSession,
    message: InboundMessage,
    body: str,
    *,
    settings: Settings,
    actor: Actor,
    now: datetime,
) -> ReplyResult:
    words = body.strip()
    if not words:
        raise InboxError("Write a reply")
    if len(words) > MAX_REPLY:
        raise InboxError(f"The reply must be {MAX_REPLY} characters or fewer")
    if message.person_id is None:
        raise InboxError("This number is not anyone on record, so the console cannot reply")
    person = await session.get_one(Person, message.person_id)
    if person.opted_out:
        raise InboxError("They replied STOP: nothing can be sent to them until they text START")
    # Whether they may be reached at all is channel_for's rule (every hold the outbound policy
    # has); then the answer goes back the way the text came, when that way still works.
    fallback = channel_for(person, now)
    if fallback is None:
        raise InboxError("They cannot be reached: no working number or linked Telegram")
    channel = (
        message.channel
        if message.channel in ("sms", "telegram") and address_for(person, message.channel)
        else fallback
    )
    not_before = bulk_not_before(person, now, settings)
    key = keys.inbox_reply(message.id, words)
    before = await session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    if before is not None:  # the same words to the same text: written once, never again
        return ReplyResult(before, False, None)
    rows = await enqueue(
        session,
        person,
        Envelope(
            Draft(TEMPLATE, {"text": words}),
            key,
            kind="reply",
            channel=channel,
            not_before=not_before,
            in_reply_to_id=message.id,
        ),
        now=now,
        alliance=settings.alliance_name,
    )
    row = next(r for r in rows if r.dedupe_key == key)
    await record(
        session,
        actor,
        "inbox_replied",
        "inbound_message",
        message.id,
        at=now,
        details={
            "outbox": row.id,
            "channel": channel,
            "segments": count_segments(words) if channel == "sms" else 1,
            "held": not_before > now,
        },
    )
    return ReplyResult(row, True, not_before if not_before > now else None)


async def mark_done(
    session: AsyncSession, message: InboundMessage, *, actor: Actor, now: datetime
) -> int:
    """Every open text of the conversation is done; how many."""
    done = await open_in_conversation(session, message)
    for item in done:
        item.inbox_status = "done"
    if done:
        await record(
            session,
            actor,
            "inbox_done",
            "inbound_message",
            message.id,
            at=now,
            details={"messages": [m.id for m in done]},
        )
    return len(done)


async def reopen(
    session: AsyncSession, message: InboundMessage, *, actor: Actor, now: datetime
) -> None:
    if message.inbox_status != "done":
        return
    message.inbox_status = OPEN
    await record(session, actor, "inbox_reopened", "inbound_message", message.id, at=now)


async def assign(
    session: AsyncSession,
    message: InboundMessage,
    assignee_id: int | None,
    *,
    by: Person,
    actor: Actor,
    now: datetime,
) -> int:
    """Give the conversation's open texts to ``assignee_id`` (a leader of the person's
    institutions or an organiser; None: to nobody). How many texts."""
    if assignee_id is not None:
        allowed = {pid for pid, _ in await assignee_choices(session, message.person_id)}
        if assignee_id not in allowed:
            raise InboxError("Choose someone from the list")
    texts = [m.id for m in await open_in_conversation(session, message)] or [message.id]
    await session.execute(delete(InboxAssignment).where(InboxAssignment.inbound_id.in_(texts)))
    if assignee_id is not None:
        await session.execute(
            insert(InboxAssignment),
            [
                {
                    "inbound_id": tid,
                    "assigned_to_id": assignee_id,
                    "assigned_by_id": by.id,
                    "assigned_at": now,
                }
                for tid in texts
            ],
        )
    await record(
        session,
        actor,
        "inbox_assigned",
        "inbound_message",
        message.id,
        at=now,
        details={"to": assignee_id, "messages": texts},
    )
    return len(texts)


async def attach(
    session: AsyncSession,
    message: InboundMessage,
    campaign: ListeningCampaign,
    question: ListeningQuestion | None,
    *,
    actor: Actor,
    now: datetime,
) -> int:
    """The text becomes a listening answer of ``campaign`` (to ``question``); the answer's id.
    It leaves the inbox (storage.listening.attach_inbound)."""
    if question is not None and question.campaign_id != campaign.id:
        raise InboxError("That question is not in that campaign")
    try:
        answer = await attach_inbound(
            session,
            campaign=campaign,
            inbound=message,
            question_id=question.id if question is not None else None,
        )
    except ListeningError as problem:
        raise InboxError(str(problem).capitalize()) from None
    await record(
        session,
        actor,
        "inbox_attached",
        "inbound_message",
        message.id,
        at=now,
        details={"campaign": campaign.id, "answer": answer.id},
    )
    return answer.id
