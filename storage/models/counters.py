"""Assembly day: the live counters per action and institution, the capability links (board,
steward and leader links: one table) and the roll call's highlight.

Counters are kept in the same transaction as the write they count (storage/counters.py); the
raw-row rollup (storage/rollup.py) stays the reference they are verified against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CleanString

# What a capability link opens: the projector board, the steward's phone (roll call and door
# check-in), a leader's page for one institution (issue 11, part B).
LINK_KINDS = ("board", "steward", "leader")


class ActionCounter(Base):
    """The running numbers of one action for one bucket: an institution's id; 0 for the
    people in no institution; -1 for everyone once (the rollup's unique row). A person in two
    institutions counts in both institutions' rows, as in the rollup."""

    __tablename__ = "action_counters"

    action_id: Mapped[int] = mapped_column(
        ForeignKey("actions.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    invited: Mapped[int] = mapped_column(Integer, default=0)
    yes: Mapped[int] = mapped_column(Integer, default=0)
    guests: Mapped[int] = mapped_column(Integer, default=0)
    maybe: Mapped[int] = mapped_column(Integer, default=0)
    no: Mapped[int] = mapped_column(Integer, default=0)
    attended: Mapped[int] = mapped_column(Integer, default=0)
    # The latest headcount a leader gave at the door (institution buckets only).
    headcount: Mapped[int | None] = mapped_column(Integer)
    # Bumped by every write to the row: what a board's live poll compares (the clock may
    # stand still; a number may go up and down again).
    seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class CapabilityLink(Base):
    """A link that opens one page without an account. Only the SHA-256 of its token is kept:
    the token itself is shown once, when the link is made."""

    __tablename__ = "capability_links"
    __table_args__ = (Index("ix_capability_links_action_kind", "action_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    # A leader link's institution and leader (part B); null for a board or steward link.
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(CleanString(100), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]  # a leader link's last use


class BoardState(Base):
    """The roll call's place on an action's board: the institution highlighted (its id; 0 for
    the people in no institution; null for none)."""

    __tablename__ = "board_states"

    action_id: Mapped[int] = mapped_column(
        ForeignKey("actions.id", ondelete="CASCADE"), primary_key=True
    )
    highlight: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
