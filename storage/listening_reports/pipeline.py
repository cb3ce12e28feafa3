"""The follow-up pipeline: from listened to, to consented, to followed up, to came to an action
(or coming), per institution or per campaign."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.listening_reports.scope import Scope, institution_names, within_scope
from storage.models import (
    Action,
    Attendance,
    Invitation,
    ListeningCampaign,
    ListeningContact,
    ListeningFollowUp,
    Membership,
)
from storage.rollup import NO_INSTITUTION


@dataclass
class PipelineRow:
    """listened -> consented -> followed up -> came to an action (each step a subset of the
    one before). ``coming``: followed-up people with a YES to an action still ahead."""

    key: int | None
    label: str
    listened: int = 0
    consented: int = 0
    followed_up: int = 0
    came: int = 0
    coming: int = 0

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return None if whole == 0 else part / whole

    @property
    def consent_rate(self) -> float | None:
        return self.rate(self.consented, self.listened)

    @property
    def follow_up_rate(self) -> float | None:
        return self.rate(self.followed_up, self.consented)

    @property
    def came_rate(self) -> float | None:
        return self.rate(self.came, self.followed_up)


@dataclass
class Pipeline:
    rows: list[PipelineRow]
    no_institution: PipelineRow | None
    total: PipelineRow
    target: int | None = None


def _pipeline_select(now: datetime, group: Any | None) -> Select[Any]:
    """Counts over listened-to contacts, grouped by ``group`` (first column) if given."""
    c = ListeningContact
    followed = (
        select(ListeningFollowUp.campaign_id, ListeningFollowUp.person_id)
        .group_by(ListeningFollowUp.campaign_id, ListeningFollowUp.person_id)
        .subquery("followed")
    )
    attended = (
        select(Attendance.person_id, func.max(Attendance.at).label("last_at"))
        .group_by(Attendance.person_id)
        .subquery("attended")
    )
    coming = (
        select(Invitation.person_id, func.max(Invitation.responded_at).label("yes_at"))
        .join(Action, Action.id == Invitation.action_id)
        .where(Invitation.response == "yes")
        .where(Action.status == "scheduled")
        .where(Action.ends_at > now)
        .group_by(Invitation.person_id)
        .subquery("coming")
    )
    consented = c.consent == "yes"
    was_followed = and_(consented, followed.c.person_id.is_not(None))
    came = and_(
        was_followed,
        attended.c.last_at.is_not(None),
        attended.c.last_at >= c.first_answer_at,
    )
    will_come = and_(was_followed, ~came, coming.c.person_id.is_not(None))

    def total(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    counts = [func.count(), total(consented), total(was_followed), total(came), total(will_come)]
    query = (
        select(*([] if group is None else [group]), *counts)
        .select_from(c)
        .outerjoin(
            followed,
            and_(followed.c.campaign_id == c.campaign_id, followed.c.person_id == c.person_id),
        )
        .outerjoin(attended, attended.c.person_id == c.person_id)
        .outerjoin(coming, coming.c.person_id == c.person_id)
        .where(c.first_answer_at.is_not(None))
    )
    return query if group is None else query.group_by(group)


def _fill(row: PipelineRow, values: Sequence[Any]) -> PipelineRow:
    row.listened, row.consented, row.followed_up, row.came, row.coming = (int(v) for v in values)
    return row


async def pipeline(
    session: AsyncSession,
    now: datetime,
    *,
    campaign: ListeningCampaign | None = None,
    scope: Scope = None,
) -> Pipeline:
    """The follow-up pipeline per institution, for one campaign or all of them (then a person
    listened to in two campaigns counts in each)."""
    c = ListeningContact
    by_institution = _pipeline_select(now, Membership.institution_id).outerjoin(
        Membership, Membership.person_id == c.person_id
    )
    overall = _pipeline_select(now, None).where(within_scope(c.person_id, scope))
    if campaign is not None:
        by_institution = by_institution.where(c.campaign_id == campaign.id)
        overall = overall.where(c.campaign_id == campaign.id)
    if scope is not None:
        by_institution = by_institution.where(Membership.institution_id.in_(list(scope)))
    found = {row[0]: row[1:] for row in await session.execute(by_institution)}
    rows = [
        _fill(PipelineRow(iid, name), found.get(iid, (0, 0, 0, 0, 0)))
        for iid, name in await institution_names(session, scope)
    ]
    no_institution = None
    if scope is None:
        no_institution = _fill(PipelineRow(None, NO_INSTITUTION), found.get(None, (0,) * 5))
    total = _fill(PipelineRow(None, "Total"), (await session.execute(overall)).one())
    return Pipeline(rows, no_institution, total, campaign.target if campaign else None)


async def pipeline_by_campaign(
    session: AsyncSession, now: datetime, *, scope: Scope = None
) -> list[tuple[ListeningCampaign, PipelineRow]]:
    c = ListeningContact
    query = _pipeline_select(now, c.campaign_id).where(within_scope(c.person_id, scope))
    found = {row[0]: row[1:] for row in await session.execute(query)}
    campaigns = await session.scalars(
        select(ListeningCampaign).order_by(ListeningCampaign.starts_at.desc())
    )
    return [
        (camp, _fill(PipelineRow(camp.id, camp.title), found.get(camp.id, (0,) * 5)))
        for camp in campaigns
    ]
