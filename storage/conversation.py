"""What is open for a person: the one read the conversation router makes before it decides what
a text means (bot/handlers/router.py).

``open_state(session, person_id, now, asking=...)`` answers, in a single SELECT:

* the person's **open invitations** (the action scheduled and not over), soonest first, each
  with its action;
* the **listening step** waiting for their answer (the most recently asked, in a campaign still
  open or closed recently enough for a reply to be "late"), with its campaign and how many
  questions the campaign asks, so whether the step is the **consent question** (asked after
  the last question) is known without another read;
* the **walk-in question** waiting for their answer ("what is your name?", "which group are
  you with?": bot/handlers/walkin.py), if it was asked within storage.walkins.PENDING_WINDOW;
* the **last question we asked them** about an action (the latest message of one of the
  ``asking`` templates that left, or may have left, for their phone), with its action: a
  "did you make it?" among them is answered by a YES / NO (the router decides, with the
  reminder ladder's window).

Handlers take what they need from it and never ask again. The statement is one row per open
invitation (one row of nulls when there is none), outer-joined onto the person by index; the
listening step and the last question are picked by correlated subqueries in their joins
(``... ON contact.id = (SELECT ... ORDER BY ... LIMIT 1)``), on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.listening import LATE_REPLY_WINDOW
from storage.models import (
    Action,
    Invitation,
    ListeningCampaign,
    ListeningContact,
    ListeningQuestion,
    OutboxMessage,
    PendingQuestion,
    Person,
)
from storage.walkins import PENDING_WINDOW

# Outbox statuses of a message that left (or may have left) for the person's phone: what
# they may be answering.
GONE = ("sending", "unknown", "sent", "delivered")


@dataclass(frozen=True)
class ListeningStep:
    """A listening campaign waiting on the person: the question at ``contact.step``, or, once
    every question has been answered, the consent question."""

    contact: ListeningContact
    campaign: ListeningCampaign
    questions: int  # how many questions the campaign asks

    @property
    def asking_consent(self) -> bool:
        return self.contact.step >= self.questions


@dataclass(frozen=True)
class LastQuestion:
    """The latest message that asked the person something about an action."""

    template: str
    action: Action
    asked_at: datetime

    def is_recent(self, template: str, now: datetime, window: timedelta) -> bool:
        """It was ``template``, asked within ``window`` before ``now``."""
        return self.template == template and now - window <= self.asked_at <= now


@dataclass(frozen=True)
class OpenState:
    invitations: list[tuple[Invitation, Action]]  # open ones, soonest first
    listening: ListeningStep | None = None
    last_question: LastQuestion | None = None
    pending: PendingQuestion | None = None  # a walk-in's question waiting for the answer

    @property
    def latest_invited_at(self) -> datetime | None:
        return max((i.invited_at for i, _ in self.invitations), default=None)


NOTHING_OPEN = OpenState([])

_contact = aliased(ListeningContact, name="waiting_contact")
_campaign = aliased(ListeningCampaign, name="waiting_campaign")
_asked = aliased(OutboxMessage, name="asked")
_asked_action = aliased(Action, name="asked_action")
_asked_at = func.coalesce(_asked.sent_at, _asked.not_before)


def _statement() -> Select[Any]:
    """Built once (the router runs it for every YES): every value is a parameter."""
    step = aliased(ListeningContact)
    step_campaign = aliased(ListeningCampaign)
    waiting_step = (
        select(step.id)
        .join(step_campaign, step_campaign.id == step.campaign_id)
        .where(step.person_id == Person.id)
        .where(step.status == "asking")
        .where(step.asked_at <= bindparam("now"))
        .where(
            or_(
                step_campaign.closed_at.is_(None),
                step_campaign.closed_at >= bindparam("late_since"),
            )
        )
        .order_by(step.asked_at.desc(), step.id.desc())
        .limit(1)
        .correlate(Person)
        .scalar_subquery()
    )
    asking = aliased(OutboxMessage)
    asking_at = func.coalesce(asking.sent_at, asking.not_before)
    last_asked = (
        select(asking.id)
        .where(asking.person_id == Person.id)
        .where(asking.template.in_(bindparam("asking", expanding=True)))
        .where(asking.status.in_(GONE))
        .order_by(asking_at.desc(), asking.id.desc())
        .limit(1)
        .correlate(Person)
        .scalar_subquery()
    )
    questions = (
        select(func.count(ListeningQuestion.id))
        .where(ListeningQuestion.campaign_id == _campaign.id)
        .correlate(_campaign)
        .scalar_subquery()
    )
    # The open actions are few: the person's invitations to them are found through the
    # (person_id, action_id) index. (A nested "LEFT JOIN (invitations JOIN actions)" would be
    # built for every invitation of every open action first, on SQLite.)
    open_actions = (
        select(Action.id)
        .where(Action.status == "scheduled")
        .where(Action.ends_at > bindparam("now"))
    )
    return (
        select(
            _contact,
            _campaign,
            questions,
            _asked.template,
            _asked_at,
            _asked_action,
            Invitation,
            Action,
            PendingQuestion,
        )
        .select_from(Person)
        .outerjoin(_contact, _contact.id == waiting_step)
        .outerjoin(_campaign, _campaign.id == _contact.campaign_id)
        .outerjoin(_asked, _asked.id == last_asked)
        .outerjoin(_asked_action, _asked_action.id == _asked.action_id)
        .outerjoin(
            Invitation,
            (Invitation.person_id == Person.id) & Invitation.action_id.in_(open_actions),
        )
        .outerjoin(Action, Action.id == Invitation.action_id)
        .outerjoin(
            PendingQuestion,
            (PendingQuestion.person_id == Person.id)
            & (PendingQuestion.asked_at >= bindparam("pending_since")),
        )
        .where(Person.id == bindparam("person_id"))
        .order_by(Action.starts_at, Action.id)
    )


_OPEN_STATE = _statement()


async def open_state(
    session: AsyncSession, person_id: int, now: datetime, *, asking: Sequence[str]
) -> OpenState:
    """What is open for the person (the module docstring): one statement, one round trip.
    ``asking``: the templates that ask a person something about an action (the reminder
    ladder's, scheduler.reminders.ASKING_TEMPLATES)."""
    rows = (
        await session.execute(
            _OPEN_STATE,
            {
                "person_id": person_id,
                "now": now,
                "late_since": now - LATE_REPLY_WINDOW,
                "pending_since": now - PENDING_WINDOW,
                "asking": list(asking),
            },
        )
    ).all()
    if not rows:
        return NOTHING_OPEN
    contact, campaign, questions, template, asked_at, asked_action = rows[0][:6]
    listening = None
    if contact is not None and campaign is not None:
        listening = ListeningStep(contact, campaign, int(questions or 0))
    last = None
    if template is not None and asked_action is not None and asked_at is not None:
        # coalesce() keeps the column type: an aware UTC datetime on both backends.
        last = LastQuestion(template, asked_action, asked_at)
    invitations = [(row[6], row[7]) for row in rows if row[6] is not None and row[7] is not None]
    return OpenState(invitations, listening, last, rows[0][8])
