"""What is open for a person: the one read the conversation router makes before it decides what
a text means (bot/handlers/router.py).

``open_state(session, person_id, now, asking=...)`` answers, in a single SELECT:

* the person's **open invitations** (the action scheduled and not over), soonest first, each
  with its action;
* the **listening step** waiting for their answer (the most recently asked, in a campaign still
  open or closed recently enough for a reply to be "late"), with its campaign and how many
  questions the campaign asks, so whether the step is the **consent question** (asked after
  the last question) is known without another read;
* the **last question we asked them** about an action (the latest message of one of the
  ``asking`` templates that left, or may have left, for their phone), with its action: a
  "did you make it?" among them is answered by a YES / NO (the router decides, with the
  reminder ladder's window).

Handlers take what they need from it and never ask again. The statement is one row per open
invitation (one row of nulls when there is none), outer-joined onto the person by index; the
listening step and the last question are picked by correlated subqueries in their joins
(``... ON contact.id = (SELECT ... ORDER BY ... LIMIT 1)``), on both databases. It is Core
(plain columns); the objects are built from the row and put in the session as if read by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, String, bindparam, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import fast
from storage.db import as_loaded, attach, columns_of
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
M = TypeVar("M")


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

# Core, not the ORM: the statement selects plain columns and the objects are built from them
# (storage.db.as_loaded) and put in the session as if it had read them. The ORM's loading of
# five entities from one row cost more than the statement itself (docs/benchmarks.md).
_people = Person.__table__
_contact = ListeningContact.__table__.alias("waiting_contact")
_campaign = ListeningCampaign.__table__.alias("waiting_campaign")
_asked = OutboxMessage.__table__.alias("asked")
_asked_action = Action.__table__.alias("asked_action")
_invitations = Invitation.__table__
_actions = Action.__table__
_pending = PendingQuestion.__table__
_asked_at = func.coalesce(_asked.c.sent_at, _asked.c.not_before)

# The result row: (model, first column, how many) for each object built from it.
_CONTACT = columns_of(ListeningContact, _contact)
_CAMPAIGN = columns_of(ListeningCampaign, _campaign)
_ASKED_ACTION = columns_of(Action, _asked_action)
_INVITATION = columns_of(Invitation, _invitations)
_ACTION = columns_of(Action, _actions)
_PENDING = columns_of(PendingQuestion, _pending)


def _slices(*parts: list[Any]) -> list[slice]:
    """Where each part's columns sit in a row that starts with the three plain values."""
    at, found = 3, []
    for part in parts:
        found.append(slice(at, at + len(part)))
        at += len(part)
    return found


_PERSON = columns_of(Person, _people)
_C, _K, _AA, _I, _A, _Q, _P = _slices(
    _CONTACT, _CAMPAIGN, _ASKED_ACTION, _INVITATION, _ACTION, _PENDING, _PERSON
)


def _one_of(column: Any, values: Sequence[str]) -> Any:
    """``column IN (...)`` with one plain parameter per value: an expanding parameter (what
    ``in_(list)`` makes) is rendered afresh for every execution."""
    return column.in_([literal(v, String()) for v in values])


def _statement(asking: tuple[str, ...], *, by_phone: bool = False) -> Select[Any]:
    """Built once per ``asking`` (the router runs it for every YES): every value a parameter.
    ``by_phone``: the person found by ``phone`` instead of ``person_id``, their own columns
    after the rest."""
    step = ListeningContact.__table__.alias("step")
    step_campaign = ListeningCampaign.__table__.alias("step_campaign")
    waiting_step = (
        select(step.c.id)
        .join(step_campaign, step_campaign.c.id == step.c.campaign_id)
        .where(step.c.person_id == _people.c.id)
        .where(step.c.status == "asking")
        .where(step.c.asked_at <= bindparam("now"))
        .where(
            or_(
                step_campaign.c.closed_at.is_(None),
                step_campaign.c.closed_at >= bindparam("late_since"),
            )
        )
        .order_by(step.c.asked_at.desc(), step.c.id.desc())
        .limit(1)
        .correlate(_people)
        .scalar_subquery()
    )
    asked = OutboxMessage.__table__.alias("asking")
    asked_at = func.coalesce(asked.c.sent_at, asked.c.not_before)
    last_asked = (
        select(asked.c.id)
        .where(asked.c.person_id == _people.c.id)
        .where(_one_of(asked.c.template, asking))
        .where(_one_of(asked.c.status, GONE))
        .order_by(asked_at.desc(), asked.c.id.desc())
        .limit(1)
        .correlate(_people)
        .scalar_subquery()
    )
    questions_table = ListeningQuestion.__table__
    questions = (
        select(func.count(questions_table.c.id))
        .where(questions_table.c.campaign_id == _campaign.c.id)
        .correlate(_campaign)
        .scalar_subquery()
    )
    # The open actions are few: the person's invitations to them are found through the
    # (person_id, action_id) index. (A nested "LEFT JOIN (invitations JOIN actions)" would be
    # built for every invitation of every open action first, on SQLite.)
    open_actions = (
        select(_actions.c.id)
        .where(_actions.c.status == "scheduled")
        .where(_actions.c.ends_at > bindparam("now"))
    )
    return (
        select(
            questions,
            _asked.c.template,
            _asked_at,
            *_CONTACT,
            *_CAMPAIGN,
            *_ASKED_ACTION,
            *_INVITATION,
            *_ACTION,
            *_PENDING,
            *(_PERSON if by_phone else ()),
        )
        .select_from(_people)
        .outerjoin(_contact, _contact.c.id == waiting_step)
        .outerjoin(_campaign, _campaign.c.id == _contact.c.campaign_id)
        .outerjoin(_asked, _asked.c.id == last_asked)
        .outerjoin(_asked_action, _asked_action.c.id == _asked.c.action_id)
        .outerjoin(
            _invitations,
            (_invitations.c.person_id == _people.c.id) & _invitations.c.action_id.in_(open_actions),
        )
        .outerjoin(_actions, _actions.c.id == _invitations.c.action_id)
        .outerjoin(
            _pending,
            (_pending.c.person_id == _people.c.id)
            & (_pending.c.asked_at >= bindparam("pending_since")),
        )
        .where(
            _people.c.phone == bindparam("phone")
            if by_phone
            else _people.c.id == bindparam("person_id")
        )
        .order_by(_actions.c.starts_at, _actions.c.id)
    )


_STATEMENTS: dict[tuple[tuple[str, ...], bool], fast.Statement] = {}


def _open_state(asking: Sequence[str], by_phone: bool) -> fast.Statement:
    """Run on the driver connection (storage.fast): SQLAlchemy's execution of a statement of
    87 columns cost more than the statement."""
    key = (tuple(asking), by_phone)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = fast.prepare(_statement(key[0], by_phone=by_phone))
    return statement


def _loaded(session: AsyncSession, model: type[M], row: Any, where: slice) -> M | None:
    """The object for the row's columns at ``where`` (None when the outer join found none),
    in the session."""
    values = row[where]
    if values[0] is None:  # the id
        return None
    return attach(session, as_loaded(model, values))


async def open_state(
    session: AsyncSession, person_id: int, now: datetime, *, asking: Sequence[str]
) -> OpenState:
    """What is open for the person (the module docstring): one statement, one round trip.
    ``asking``: the templates that ask a person something about an action (the reminder
    ladder's, scheduler.reminders.ASKING_TEMPLATES)."""
    rows = await _read(session, _open_state(asking, False), {"person_id": person_id}, now)
    return _state(session, rows)


async def open_state_by_phone(
    session: AsyncSession, phone: str, now: datetime, *, asking: Sequence[str]
) -> tuple[Person, OpenState] | None:
    """The person with this phone number and what is open for them, in the same one statement
    (an SMS's sender is found and routed on one read); None when no one has the number."""
    rows = await _read(session, _open_state(asking, True), {"phone": phone}, now)
    person = _loaded(session, Person, rows[0], _P) if rows else None
    if person is None:
        return None
    return person, _state(session, rows)


async def _read(
    session: AsyncSession,
    statement: fast.Statement,
    who: dict[str, Any],
    now: datetime,
) -> list[Any]:
    connection = await session.connection()
    params = {
        **who,
        "now": now,
        "late_since": now - LATE_REPLY_WINDOW,
        "pending_since": now - PENDING_WINDOW,
    }
    return await fast.rows(connection, statement, params)


def _state(session: AsyncSession, rows: list[Any]) -> OpenState:
    if not rows:
        return NOTHING_OPEN
    first = rows[0]
    questions, template, asked_at = first[:3]
    listening = None
    contact = _loaded(session, ListeningContact, first, _C)
    campaign = _loaded(session, ListeningCampaign, first, _K)
    if contact is not None and campaign is not None:
        listening = ListeningStep(contact, campaign, int(questions or 0))
    last = None
    asked_action = _loaded(session, Action, first, _AA)
    if template is not None and asked_action is not None and asked_at is not None:
        # coalesce() keeps the column type: an aware UTC datetime on both backends.
        last = LastQuestion(template, asked_action, asked_at)
    invitations = []
    for row in rows:
        invitation = _loaded(session, Invitation, row, _I)
        action = _loaded(session, Action, row, _A)
        if invitation is not None and action is not None:
            invitations.append((invitation, action))
    return OpenState(invitations, listening, last, _loaded(session, PendingQuestion, first, _Q))
