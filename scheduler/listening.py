"""Sending listening campaigns: the first question, the one nudge, the report-back, and the
invitation of the people who raised a theme to the action about it.

Everything goes through ``storage.outbox.enqueue`` with a dedupe key, so sending a campaign
twice, a second worker or a restart never sends anything twice:

* ``listen:<campaign>:<person>:q0`` the first question (later questions are replies to the
  person's answer, written by bot.handlers.listening through the inbound pipeline);
* ``listen:<campaign>:<person>:nudge`` the one nudge a person gets in a campaign, repeating
  the step that waits for them, after ``nudge_after_hours`` without an answer;
* ``listen-report:<campaign>:<person>:<round>`` the "here is what we heard" message;
* ``invite:<action>:<person>`` the invitation to the action about a theme (the same key as
  scheduler.actions.invite, so nobody is invited twice).

Bulk messages start at the end of the person's quiet hours (their own time zone), and the
sender checks consent again at send time. ``run_due`` is the periodic job: it closes campaigns
past their end (cancelling their unsent questions), stops the campaign for anyone who opted
out, and writes the nudges that are due.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from config.clock import Clock
from config.messages import format_when
from config.settings import Settings
from scheduler.outbound import held_back, next_allowed
from storage import counters, keys
from storage.db import Database
from storage.listening import (
    ListeningError,
    Segment,
    campaign_questions,
    close_campaign,
    is_open,
    preferred_channel,
    question_text,
    reachable,
    segment_people,
    step_draft,
)
from storage.listening_reports.themes import theme_table
from storage.listening_themes import label
from storage.models import (
    Action,
    Invitation,
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningCampaign,
    ListeningContact,
    ListeningTheme,
    Person,
)
from storage.outbox import Draft, Envelope, enqueue

log = logging.getLogger(__name__)


def _start(person: Person, now: datetime, settings: Settings) -> datetime:
    return next_allowed(now, person.timezone, settings.quiet_start, settings.quiet_end)


@dataclass
class SendResult:
    people: int = 0  # asked the first question
    unreachable: int = 0


async def send_campaign(
    session: AsyncSession,
    campaign: ListeningCampaign,
    segment: Segment,
    *,
    now: datetime,
    settings: Settings,
) -> SendResult:
    """Ask the first question to everyone in ``segment`` not yet in the campaign."""
    if not is_open(campaign, now):
        raise ListeningError(f"campaign {campaign.slug!r} is not open")
    questions = await campaign_questions(session, campaign.id)
    if not questions:
        raise ListeningError(f"campaign {campaign.slug!r} has no questions")
    result = SendResult()
    for person in await segment_people(session, campaign, segment):
        # A young person no adult has consented for is not asked (scheduler.outbound).
        channel = None if held_back(person, now, "bulk") == "young" else preferred_channel(person)
        if channel is None:
            result.unreachable += 1
            continue
        starts = _start(person, now, settings)
        session.add(
            ListeningContact(
                campaign_id=campaign.id,
                person_id=person.id,
                status="asking",
                step=0,
                channel=channel,
                asked_at=starts,
                source="sent",
                created_at=now,
            )
        )
        draft = Draft(
            "listening_question", {"question": question_text(questions[0], person.language)}
        )
        await enqueue(
            session,
            person,
            Envelope(
                draft,
                keys.listening_first(campaign.id, person.id),
                channel=channel,
                not_before=starts,
                expires_at=campaign.ends_at,
            ),
            now=now,
            alliance=settings.alliance_name,
        )
        result.people += 1
    await session.flush()
    return result


@dataclass
class DueResult:
    closed: list[str] = field(default_factory=list)
    stopped: int = 0
    nudged: int = 0


async def run_due(
    db: Database, settings: Settings, now: datetime, *, limit: int = 500
) -> DueResult:
    """The periodic job (every few minutes is plenty)."""
    result = DueResult()
    async with db.session() as session:
        due = await session.scalars(
            select(ListeningCampaign)
            .where(ListeningCampaign.status == "open")
            .where(ListeningCampaign.ends_at <= now)
        )
        for campaign in list(due):
            await close_campaign(session, campaign, now)
            result.closed.append(campaign.slug)
        stopped = await session.execute(
            update(ListeningContact)
            .where(ListeningContact.status == "asking")
            .where(
                ListeningContact.person_id.in_(
                    select(Person.id).where(Person.consent == "opted_out")
                )
            )
            .values(status="stopped")
        )
        result.stopped = int(getattr(stopped, "rowcount", 0) or 0)
    campaigns = await _nudging_campaigns(db, now)
    for campaign_id, hours in campaigns:
        async with db.session() as session:
            result.nudged += await _nudge(session, campaign_id, hours, now, settings, limit)
    if result.closed or result.stopped or result.nudged:
        log.info(
            "listening: closed %s, stopped %d, nudged %d",
            result.closed or "none",
            result.stopped,
            result.nudged,
        )
    return result


def listening_job(
    db: Database, settings: Settings, clock: Clock
) -> Callable[[], Awaitable[DueResult]]:
    """``worker.add_periodic("listening", listening_job(db, settings, clock), seconds=300)``."""

    async def job() -> DueResult:
        return await run_due(db, settings, clock.now())

    return job


async def _nudging_campaigns(db: Database, now: datetime) -> list[tuple[int, int]]:
    async with db.session() as session:
        rows = await session.execute(
            select(ListeningCampaign.id, ListeningCampaign.nudge_after_hours)
            .where(ListeningCampaign.status == "open")
            .where(ListeningCampaign.nudge_after_hours > 0)
            .where(ListeningCampaign.starts_at <= now)
            .where(or_(ListeningCampaign.ends_at.is_(None), ListeningCampaign.ends_at > now))
        )
        return [(int(cid), int(hours)) for cid, hours in rows]


async def _nudge(
    session: AsyncSession,
    campaign_id: int,
    hours: int,
    now: datetime,
    settings: Settings,
    limit: int,
) -> int:
    campaign = await session.get_one(ListeningCampaign, campaign_id)
    rows = await session.execute(
        select(ListeningContact, Person)
        .join(Person, Person.id == ListeningContact.person_id)
        .where(ListeningContact.campaign_id == campaign_id)
        .where(ListeningContact.status == "asking")
        .where(ListeningContact.nudged_at.is_(None))
        .where(ListeningContact.asked_at <= now - timedelta(hours=hours))
        .where(Person.consent != "opted_out")
        .order_by(ListeningContact.id)
        .limit(limit)
    )
    nudged = 0
    for contact, person in rows.all():
        # Claim it: a second worker running the same job finds nothing left to claim.
        claimed = await session.execute(
            update(ListeningContact)
            .where(ListeningContact.id == contact.id)
            .where(ListeningContact.nudged_at.is_(None))
            .values(nudged_at=now)
            .execution_options(synchronize_session=False)
        )
        if not getattr(claimed, "rowcount", 0):
            continue
        channel = contact.channel or preferred_channel(person)
        if channel is None:
            continue
        draft = await step_draft(
            session, person, contact, settings.alliance_name, template="listening_nudge"
        )
        await enqueue(
            session,
            person,
            Envelope(
                draft,
                keys.listening_nudge(campaign_id, person.id),
                channel=channel,
                not_before=_start(person, now, settings),
                expires_at=campaign.ends_at,
            ),
            now=now,
            alliance=settings.alliance_name,
        )
        nudged += 1
    return nudged


# -- report back ----------------------------------------------------------------------------------


def _textable(campaign_id: int) -> ColumnElement[bool]:
    """People we may text about what they told a campaign: listened to, not opted out,
    reachable, and either opted in or they answered by text themselves (someone logged at the
    door never agreed to texts)."""
    answered_by_text = (
        exists()
        .where(ListeningAnswer.campaign_id == campaign_id)
        .where(ListeningAnswer.person_id == Person.id)
        .where(ListeningAnswer.source.in_(("sms", "telegram")))
    )
    return and_(
        Person.consent != "opted_out",
        reachable(),
        or_(Person.consent == "opted_in", answered_by_text),
    )


@dataclass
class ReportResult:
    people: int  # people listened to (the number in the message)
    themes: list[str]  # top themes, in English
    recipients: int
    queued: int


async def report_back(
    session: AsyncSession,
    campaign: ListeningCampaign,
    *,
    now: datetime,
    settings: Settings,
    top: int = 3,
    round_: int = 1,
    dry_run: bool = False,
) -> ReportResult:
    """The "here is what we heard" message: the number of people and the top themes (by people), to
    everyone who answered, in their language."""
    table = await theme_table(session, campaign)
    top_ids = [row.theme_id for row in table.rows if row.people][:top]
    themes = {
        t.id: t
        for t in await session.scalars(select(ListeningTheme).where(ListeningTheme.id.in_(top_ids)))
    }
    listened = await session.scalar(
        select(func.count())
        .select_from(ListeningContact)
        .where(ListeningContact.campaign_id == campaign.id)
        .where(ListeningContact.first_answer_at.is_not(None))
    )
    people = list(
        await session.scalars(
            select(Person)
            .join(ListeningContact, ListeningContact.person_id == Person.id)
            .where(ListeningContact.campaign_id == campaign.id)
            .where(ListeningContact.first_answer_at.is_not(None))
            .where(_textable(campaign.id))
            .order_by(Person.id)
        )
    )
    result = ReportResult(
        people=int(listened or 0),
        themes=[label(themes[i], "en") for i in top_ids],
        recipients=len(people),
        queued=0,
    )
    if dry_run or not top_ids:
        return result
    for person in people:
        channel = preferred_channel(person)
        assert channel is not None
        names = ", ".join(label(themes[i], person.language) for i in top_ids)
        rows = await enqueue(
            session,
            person,
            Envelope(
                Draft("listening_report", {"people": result.people, "themes": names}),
                keys.listening_report(campaign.id, person.id, round_),
                channel=channel,
                not_before=_start(person, now, settings),
            ),
            now=now,
            alliance=settings.alliance_name,
        )
        result.queued += 1 if rows else 0
    return result


@dataclass
class InviteResult:
    people: int  # raised the theme and may be texted
    already_invited: int
    queued: int


async def invite_theme(
    session: AsyncSession,
    campaign: ListeningCampaign,
    theme_key: str,
    action: Action,
    *,
    now: datetime,
    settings: Settings,
    dry_run: bool = False,
) -> InviteResult:
    """Invite the people who raised ``theme_key`` to ``action`` (the action about it): an
    invitation row each (their RSVP then counts in the action's rollup) and a message."""
    theme = await session.scalar(
        select(ListeningTheme)
        .where(ListeningTheme.campaign_id == campaign.id)
        .where(ListeningTheme.key == theme_key)
    )
    if theme is None:
        raise ListeningError(f"campaign {campaign.slug!r} has no theme {theme_key!r}")
    if action.status != "scheduled" or action.starts_at <= now:
        raise ListeningError(f"action {action.slug!r} is not upcoming")
    raised = (
        exists()
        .where(ListeningAnswer.person_id == Person.id)
        .where(ListeningAnswer.campaign_id == campaign.id)
        .where(ListeningAnswerTheme.answer_id == ListeningAnswer.id)
        .where(ListeningAnswerTheme.theme_id == theme.id)
    )
    people = list(
        await session.scalars(
            select(Person).where(raised).where(_textable(campaign.id)).order_by(Person.id)
        )
    )
    invited = set(
        await session.scalars(
            select(Invitation.person_id)
            .where(Invitation.action_id == action.id)
            .where(Invitation.person_id.in_([p.id for p in people]))
        )
    )
    result = InviteResult(people=len(people), already_invited=len(invited), queued=0)
    if dry_run:
        return result
    for person in people:
        if person.id in invited:
            continue
        channel = preferred_channel(person)
        assert channel is not None
        session.add(Invitation(action_id=action.id, person_id=person.id, invited_at=now, guests=0))
        await counters.invited(session, action.id, [person.id], now)
        draft = Draft(
            "listening_theme_invite",
            {
                "theme": label(theme, person.language),
                "title": action.title,
                "when": format_when(action.starts_at, person.language, person.timezone),
                "place": action.place,
            },
        )
        await enqueue(
            session,
            person,
            Envelope(
                draft,
                # The same key as scheduler.actions.invite: one invitation message per person.
                keys.invite(action.id, person.id),
                channel=channel,
                not_before=_start(person, now, settings),
                expires_at=action.starts_at,
                action_id=action.id,
            ),
            now=now,
            alliance=settings.alliance_name,
        )
        result.queued += 1
    await session.flush()
    return result
