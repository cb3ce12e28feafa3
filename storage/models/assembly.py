"""Assembly day and after (issue 11, part B): leaders' links to their institution's page, the
question a walk-in is answering by text, and the asks put to power-holders with the promises
they made.

* A leader's link (no account) is a ``capability_links`` row of kind "leader"
  (storage/models/counters.py; storage/leader_links.py).
* ``pending_questions``: what we last asked a walk-in who texted HERE from a number we did not
  know ("what is your name?", then "which group are you with?"); one row per person at most,
  read by the conversation router with everything else open for them
  (storage/conversation.py).
* ``promises``: per action, an ask put to a power-holder (their name, role, organisation),
  their answer, the words of the promise, the date it should be kept by, and whether it was.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CleanString, CleanText

# What a power-holder said to the ask.
ANSWERS = ("yes", "no", "partly", "will_respond")
# Whether the promise was kept; "open" until someone says.
PROMISE_STATUSES = ("open", "kept", "broken")
# The questions a walk-in is asked, in order.
WALKIN_STEPS = ("name", "group")


class PendingQuestion(Base):
    __tablename__ = "pending_questions"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(16))  # one of WALKIN_STEPS
    tries: Mapped[int] = mapped_column(Integer, default=0)  # answers we could not use
    asked_at: Mapped[datetime]


class Promise(Base):
    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"), index=True)
    holder_name: Mapped[str] = mapped_column(CleanString(200))
    holder_role: Mapped[str] = mapped_column(CleanString(200), default="")
    holder_organisation: Mapped[str] = mapped_column(CleanString(200), default="")
    ask: Mapped[str] = mapped_column(CleanText)
    answer: Mapped[str] = mapped_column(String(16), default="will_respond")  # ANSWERS
    words: Mapped[str] = mapped_column(CleanText, default="")  # the promise, as said
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # PROMISE_STATUSES
    note: Mapped[str] = mapped_column(CleanText, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
