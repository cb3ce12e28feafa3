"""The digest's listening section: counts and themes, never what anyone said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.listening_reports.follow_ups import waiting_for_follow_up
from storage.listening_reports.scope import Scope, within_scope
from storage.models import (
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningCampaign,
    ListeningContact,
    ListeningTheme,
)


@dataclass
class ListeningSummary:
    """For the organisers' daily digest: counts only, never what anyone said."""

    new_answers: int
    new_people: int
    top_themes: list[tuple[str, int, int]]  # label, people, of whom new since yesterday
    waiting: int
    oldest_wait: timedelta | None
    campaigns: list[tuple[str, int, int | None]]  # title, people listened to, target

    def __bool__(self) -> bool:
        return bool(self.new_answers or self.waiting or self.campaigns)

    def lines(self) -> list[str]:
        """Plain English lines, for the digest's text body."""
        if not self:
            return []
        out = ["Listening"]
        for title, listened, target in self.campaigns:
            out.append(f"{title}: {listened} listened to" + (f" of {target}" if target else ""))
        out.append(f"New answers since yesterday: {self.new_answers} from {self.new_people} people")
        if self.top_themes:
            themes = ", ".join(f"{lab} {people} (+{new})" for lab, people, new in self.top_themes)
            out.append(f"Top themes (people): {themes}")
        if self.waiting:
            days = self.oldest_wait.days if self.oldest_wait else 0
            out.append(f"Waiting for a follow-up: {self.waiting}, longest {days} days")
        return out


async def listening_summary(
    session: AsyncSession, now: datetime, *, top: int = 3, scope: Scope = None
) -> ListeningSummary:
    """New answers in the last 24 hours, the top themes of the campaigns still open (or closed
    in the last week), and the follow-ups waiting."""
    since = now - timedelta(days=1)
    a = ListeningAnswer
    new = (
        await session.execute(
            select(func.count(), func.count(func.distinct(a.person_id)))
            .where(a.received_at >= since)
            .where(within_scope(a.person_id, scope))
        )
    ).one()
    live = select(ListeningCampaign).where(
        or_(
            ListeningCampaign.status == "open",
            ListeningCampaign.closed_at >= now - timedelta(days=7),
        )
    )
    campaigns = list(await session.scalars(live.order_by(ListeningCampaign.starts_at)))
    ids = [c.id for c in campaigns]
    listened = dict(
        (
            await session.execute(
                select(ListeningContact.campaign_id, func.count())
                .where(ListeningContact.campaign_id.in_(ids))
                .where(ListeningContact.first_answer_at.is_not(None))
                .where(within_scope(ListeningContact.person_id, scope))
                .group_by(ListeningContact.campaign_id)
            )
        ).all()
    )
    labels = {
        str(key): (labels or {}).get("en") or str(key)
        for key, labels in await session.execute(
            select(ListeningTheme.key, ListeningTheme.labels).where(
                ListeningTheme.campaign_id.in_(ids)
            )
        )
    }
    # JSON cannot be grouped on PostgreSQL: group by key, labels looked up above.
    themes = await session.execute(
        select(
            ListeningTheme.key,
            func.count(func.distinct(a.person_id)),
            func.count(func.distinct(case((a.received_at >= since, a.person_id)))),
        )
        .join(ListeningAnswerTheme, ListeningAnswerTheme.theme_id == ListeningTheme.id)
        .join(a, a.id == ListeningAnswerTheme.answer_id)
        .where(ListeningTheme.campaign_id.in_(ids))
        .where(within_scope(a.person_id, scope))
        .group_by(ListeningTheme.key)
    )
    merged: dict[str, list[Any]] = {}
    for key, people, fresh in themes:
        entry = merged.setdefault(str(key), [labels.get(str(key), key), 0, 0])
        entry[1] += int(people)
        entry[2] += int(fresh)
    ranked = sorted(merged.values(), key=lambda e: (-e[1], e[0]))[:top]
    waiting = await waiting_for_follow_up(session, now, scope=scope)
    return ListeningSummary(
        new_answers=int(new[0]),
        new_people=int(new[1]),
        top_themes=[(str(lab), int(p), int(n)) for lab, p, n in ranked],
        waiting=len(waiting),
        oldest_wait=waiting[0].waited if waiting else None,
        campaigns=[(c.title, int(listened.get(c.id, 0)), c.target) for c in campaigns],
    )
