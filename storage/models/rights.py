"""People's data rights: the history of their consent, and the numbers erased people left
behind (so an import never brings them back).

``consent_events`` is written only by storage/consent.py, which also keeps ``people.consent``
(the current state, fast to read) in step. ``suppressions`` holds a keyed hash of an erased
person's E.164 number, never the number (storage/suppression.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CleanText

# Where a change of consent came from.
CONSENT_SOURCES = (
    "texted_in",  # a new number texted us: opted in by writing
    "import",  # a spreadsheet import (storage/importer.py)
    "stop_word",  # STOP (and its Welsh and Polish words), by SMS or Telegram
    "start_word",  # START
    "carrier",  # the carrier refused: Twilio error 21610 (the person unsubscribed there)
    "organiser",  # an organiser or the operator (the console, the CLI)
    "telegram",  # linked a Telegram account by sharing their number
    "face_to_face",  # met at the door and logged by a leader: listened to, never asked (unknown)
    "door",  # a walk-in who agreed to texts when a steward checked them in (scheduler/door.py)
    "erased",  # the person was erased
    "backfill",  # the state when history began (migration 0011)
)


class ConsentEvent(Base):
    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # one of CONSENT_STATES
    source: Mapped[str] = mapped_column(String(32))  # one of CONSENT_SOURCES
    channel: Mapped[str | None] = mapped_column(String(16))  # sms | telegram | web | cli | ...
    # The words the person used ("STOP please"), when they texted it: personal data.
    words: Mapped[str | None] = mapped_column(CleanText)
    at: Mapped[datetime] = mapped_column(index=True)


class Suppression(Base):
    """An erased number: HMAC-SHA256 of the E.164 number under TURNOUT_SUPPRESSION_SECRET."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime]
