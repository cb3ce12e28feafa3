"""Segments: who an invitation goes to, as a query of person ids (for
scheduler.actions.invite's ``people``). One of:

* ``everyone``: every person on record;
* ``institutions``: the members of the institutions picked;
* ``replied``: the people who replied X (yes, no, maybe, not replied, or came) to another
  action;
* ``theme``: the people who raised a listening theme (an answer tagged with it);
* ``not_asked``: the people not yet invited to this action.

Limited to a leader's institutions when ``scope`` is given. Who may actually be texted
(consent, a working number, quiet hours) is not decided here: the invitation use case does
that (scheduler/actions.py, scheduler/outbound.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from storage.models import (
    Action,
    Attendance,
    Institution,
    Invitation,
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningCampaign,
    ListeningTheme,
    Membership,
    Person,
)

SEGMENT_KINDS = ("everyone", "institutions", "replied", "theme", "not_asked")
REPLIES = ("yes", "maybe", "no", "none", "attended")


class SegmentError(ValueError):
    """The segment is not one that can be picked; the message says why."""


@dataclass(frozen=True)
class Segment:
    kind: str
    institution_ids: tuple[int, ...] = ()
    action_id: int | None = None  # replied: the other action
    reply: str | None = None  # replied: one of REPLIES
    theme_id: int | None = None  # theme

    def check(self) -> None:
        if self.kind not in SEGMENT_KINDS:
            raise SegmentError(f"unknown segment {self.kind!r}")
        if self.kind == "institutions" and not self.institution_ids:
            raise SegmentError("pick at least one institution")
        if self.kind == "replied" and (self.action_id is None or self.reply not in REPLIES):
            raise SegmentError("pick the other action and the reply")
        if self.kind == "theme" and self.theme_id is None:
            raise SegmentError("pick a listening theme")


@dataclass(frozen=True)
class Choice:
    id: int
    label: str


def people(
    segment: Segment, *, action_id: int, scope: Collection[int] | None = None
) -> Select[int]:
    """The ids of the people in ``segment`` (for inviting them to ``action_id``)."""
    segment.check()
    query = select(Person.id)
    if segment.kind == "institutions":
        query = query.where(
            Person.id.in_(
                select(Membership.person_id).where(
                    Membership.institution_id.in_(sorted(segment.institution_ids))
                )
            )
        )
    elif segment.kind == "replied":
        invited = select(Invitation.person_id).where(Invitation.action_id == segment.action_id)
        if segment.reply == "none":
            invited = invited.where(Invitation.response.is_(None))
        elif segment.reply == "attended":
            invited = select(Attendance.person_id).where(Attendance.action_id == segment.action_id)
        else:
            invited = invited.where(Invitation.response == segment.reply)
        query = query.where(Person.id.in_(invited))
    elif segment.kind == "theme":
        raised = (
            exists()
            .where(ListeningAnswer.person_id == Person.id)
            .where(ListeningAnswerTheme.answer_id == ListeningAnswer.id)
            .where(ListeningAnswerTheme.theme_id == segment.theme_id)
        )
        query = query.where(raised)
    elif segment.kind == "not_asked":
        asked = select(Invitation.person_id).where(Invitation.action_id == action_id)
        query = query.where(Person.id.not_in(asked))
    if scope is not None:
        query = query.where(
            Person.id.in_(
                select(Membership.person_id).where(Membership.institution_id.in_(sorted(scope)))
            )
        )
    return query


async def institution_choices(
    session: AsyncSession, scope: Collection[int] | None = None
) -> list[Choice]:
    query = select(Institution.id, Institution.name).where(Institution.status != "former")
    if scope is not None:
        query = query.where(Institution.id.in_(sorted(scope)))
    return [Choice(i, n) for i, n in await session.execute(query.order_by(Institution.name))]


async def action_choices(session: AsyncSession, *, besides: int) -> list[Choice]:
    """Other actions, latest first (the "replied X to" picker)."""
    query = (
        select(Action.id, Action.title, Action.starts_at)
        .where(Action.id != besides)
        .order_by(Action.starts_at.desc())
    )
    return [
        Choice(i, f"{title} ({starts:%d %b %Y})")
        for i, title, starts in await session.execute(query)
    ]


async def theme_choices(session: AsyncSession) -> list[Choice]:
    """Every listening theme, with its campaign."""
    query = (
        select(
            ListeningTheme.id, ListeningTheme.key, ListeningTheme.labels, ListeningCampaign.title
        )
        .join(ListeningCampaign, ListeningCampaign.id == ListeningTheme.campaign_id)
        .order_by(ListeningCampaign.title, ListeningTheme.position, ListeningTheme.id)
    )
    return [
        Choice(i, f"{(labels or {}).get('en') or key} ({campaign})")
        for i, key, labels, campaign in await session.execute(query)
    ]


async def theme_by_key(session: AsyncSession, campaign_slug: str, key: str) -> int | None:
    """The id of a campaign's theme, by the campaign's short name and the theme's key."""
    return await session.scalar(
        select(ListeningTheme.id)
        .join(ListeningCampaign, ListeningCampaign.id == ListeningTheme.campaign_id)
        .where(ListeningCampaign.slug == campaign_slug.strip())
        .where(ListeningTheme.key == key.strip())
    )


async def check_exists(session: AsyncSession, segment: Segment) -> None:
    """Every id the segment names is on record (else a SegmentError saying which)."""
    segment.check()
    if segment.kind == "institutions":
        found = set(
            await session.scalars(
                select(Institution.id).where(Institution.id.in_(segment.institution_ids))
            )
        )
        if found != set(segment.institution_ids):
            raise SegmentError("an institution picked is not on record")
    if (
        segment.kind == "replied"
        and segment.action_id is not None
        and await session.get(Action, segment.action_id) is None
    ):
        raise SegmentError("the other action is not on record")
    if (
        segment.kind == "theme"
        and segment.theme_id is not None
        and await session.get(ListeningTheme, segment.theme_id) is None
    ):
        raise SegmentError("the listening theme is not on record")
