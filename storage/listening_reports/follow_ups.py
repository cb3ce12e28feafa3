"""Who waits for a follow-up: people who consented to be followed up and have not been yet,
longest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.listening_reports.scope import Scope, institution_names_for, within_scope
from storage.models import ListeningCampaign, ListeningContact, ListeningFollowUp, Person
from storage.rollup import NO_INSTITUTION


@dataclass
class Waiting:
    person_id: int
    name: str
    institutions: str
    campaign: str
    consented_at: datetime
    waited: timedelta


async def waiting_for_follow_up(
    session: AsyncSession,
    now: datetime,
    *,
    campaign: ListeningCampaign | None = None,
    scope: Scope = None,
) -> list[Waiting]:
    """People who said yes to a follow-up and have not had one, longest wait first."""
    c = ListeningContact
    query = (
        select(c.person_id, Person.name, ListeningCampaign.slug, c.consent_at)
        .join(Person, Person.id == c.person_id)
        .join(ListeningCampaign, ListeningCampaign.id == c.campaign_id)
        .where(c.consent == "yes")
        .where(
            ~exists()
            .where(ListeningFollowUp.campaign_id == c.campaign_id)
            .where(ListeningFollowUp.person_id == c.person_id)
        )
        .where(within_scope(c.person_id, scope))
        .order_by(c.consent_at, c.id)
    )
    if campaign is not None:
        query = query.where(c.campaign_id == campaign.id)
    rows = (await session.execute(query)).all()
    names = await institution_names_for(session, [int(r[0]) for r in rows])
    out = []
    for pid, name, slug, consented_at in rows:
        since = consented_at or now
        institutions = names.get(int(pid), NO_INSTITUTION)
        out.append(Waiting(int(pid), str(name), institutions, str(slug), since, now - since))
    return out
