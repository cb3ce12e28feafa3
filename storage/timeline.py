"""A person's whole story with the alliance, newest first, as one list: texts in and out
(with delivery status and the provider's error), RSVPs, attendance, listening answers and
follow-ups. One query module (the console's person page reads only this), one SELECT per
kind, each bounded by ``limit``.

    events = await timeline(session, person_id, limit=100)
    events[0].at, events[0].kind, events[0].title, events[0].text, events[0].status
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Action,
    Attendance,
    InboundMessage,
    Invitation,
    ListeningAnswer,
    ListeningCampaign,
    ListeningFollowUp,
    OutboxMessage,
    RsvpEvent,
)

# Texts whose words are a secret: the page says what they were, never shows them.
SECRET_TEMPLATES = {"signin_code": "A console sign-in code (not shown)"}
KINDS = ("in", "out", "rsvp", "attended", "answer", "follow_up")
STATUS_WORDS = {
    "queued": "Waiting to send",
    "sending": "Sending",
    "unknown": "Not known (being checked)",
    "sent": "Sent",
    "delivered": "Delivered",
    "undelivered": "Not delivered",
    "failed": "Failed",
    "cancelled": "Not sent",
}


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # one of KINDS
    title: str  # "Text from them", "RSVP: yes to Accountability Assembly", ...
    text: str = ""  # what was said, when there is something
    status: str = ""  # delivery status in words (texts out), inbox state (texts in)
    detail: str = ""  # an error in words, a channel, a note
    ref: int | None = None  # the row's id (an inbound message's, for the inbox)


def _out_status(row: OutboxMessage) -> tuple[str, str]:
    words = STATUS_WORDS.get(row.status, row.status)
    detail = ""
    if row.status in ("failed", "undelivered", "cancelled") and (
        row.error_code or row.error_message
    ):
        detail = " ".join(x for x in (row.error_code or "", row.error_message or "") if x)
    return words, detail


async def timeline(session: AsyncSession, person_id: int, *, limit: int = 100) -> list[Event]:
    """The newest ``limit`` events of every kind together, newest first."""
    events: list[Event] = []
    inbound = await session.scalars(
        select(InboundMessage)
        .where(InboundMessage.person_id == person_id)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(limit)
    )
    for msg in inbound:
        state = {"open": "In the inbox", "done": "Dealt with"}.get(msg.inbox_status, "")
        events.append(
            Event(
                msg.received_at,
                "in",
                f"Text from them ({msg.channel})",
                msg.body,
                state,
                msg.intent or "",
                msg.id,
            )
        )
    outbound = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.person_id == person_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    for row in outbound:
        words, detail = _out_status(row)
        events.append(
            Event(
                row.sent_at or row.created_at,
                "out",
                f"Text to them ({row.channel})",
                SECRET_TEMPLATES.get(row.template, row.body),
                words,
                detail,
                row.id,
            )
        )
    rsvps = await session.execute(
        select(RsvpEvent.at, RsvpEvent.response, RsvpEvent.guests, RsvpEvent.channel, Action.title)
        .join(Invitation, Invitation.id == RsvpEvent.invitation_id)
        .join(Action, Action.id == Invitation.action_id)
        .where(Invitation.person_id == person_id)
        .order_by(RsvpEvent.at.desc())
        .limit(limit)
    )
    for at, response, guests, channel, title in rsvps:
        more = f", bringing {guests} more" if guests else ""
        events.append(Event(at, "rsvp", f"RSVP {response} to {title}{more}", detail=channel))
    invited = await session.execute(
        select(Invitation.invited_at, Action.title)
        .join(Action, Action.id == Invitation.action_id)
        .where(Invitation.person_id == person_id)
        .order_by(Invitation.invited_at.desc())
        .limit(limit)
    )
    for at, title in invited:
        events.append(Event(at, "rsvp", f"Invited to {title}"))
    attended = await session.execute(
        select(Attendance.at, Attendance.source, Action.title)
        .join(Action, Action.id == Attendance.action_id)
        .where(Attendance.person_id == person_id)
        .order_by(Attendance.at.desc())
        .limit(limit)
    )
    for at, source, title in attended:
        events.append(Event(at, "attended", f"Came to {title}", detail=source))
    answers = await session.execute(
        select(ListeningAnswer, ListeningCampaign.title)
        .join(ListeningCampaign, ListeningCampaign.id == ListeningAnswer.campaign_id)
        .where(ListeningAnswer.person_id == person_id)
        .order_by(ListeningAnswer.received_at.desc())
        .limit(limit)
    )
    for answer, title in answers:
        events.append(
            Event(
                answer.received_at,
                "answer",
                f"Listening answer in {title}",
                answer.body,
                detail=answer.source.replace("_", " "),
                ref=answer.id,
            )
        )
    follow_ups = await session.execute(
        select(ListeningFollowUp, ListeningCampaign.title)
        .join(ListeningCampaign, ListeningCampaign.id == ListeningFollowUp.campaign_id)
        .where(ListeningFollowUp.person_id == person_id)
        .order_by(ListeningFollowUp.at.desc())
        .limit(limit)
    )
    for follow_up, title in follow_ups:
        by = follow_up.by_name or "someone"
        events.append(
            Event(
                follow_up.at,
                "follow_up",
                f"Followed up by {by} ({title})",
                follow_up.note,
                detail=follow_up.channel,
            )
        )
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]
