"""Sending the digest: ``plan_digests`` runs periodically (every few minutes): once an
organiser's local ``digest_time`` has come (and for 12 hours after), it enqueues that day's
digest for them (Telegram if they have it, else a compact SMS; dedupe key
``storage.keys.digest``); on Telegram, one chart row per action follows, its PNG in
outbox_attachments. Leaders get a short nudge about their own institution only, for the next
action. It also takes the day's snapshot (snapshots.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from scheduler.digest.build import Digest, build_digest
from scheduler.digest.chart import render_chart
from scheduler.digest.render import leader_draft, render_sms, render_text, short_day
from scheduler.digest.snapshots import snapshot_due, take_snapshots
from scheduler.outbound import bulk_not_before, place_message, zone_of
from storage import keys
from storage.db import Database
from storage.models import Membership, OutboxAttachment, OutboxMessage, Person
from storage.outbox import Draft, address_for
from storage.roles import organisers as all_organisers

log = logging.getLogger(__name__)

DIGEST_WINDOW = timedelta(hours=12)  # a day's digest is not sent later than this after its time


@dataclass
class DigestReport:
    digests: int = 0
    charts: int = 0
    nudges: int = 0
    snapshots: int = 0


def digest_day(person: Person, now: datetime, settings: Settings) -> date | None:
    """The local day whose digest is due for ``person`` now (its time has come, less than
    DIGEST_WINDOW ago), or None."""
    zone = ZoneInfo(zone_of(person, settings))
    today = now.astimezone(zone).date()
    for day in (today, today - timedelta(days=1)):
        opens = datetime.combine(day, settings.digest_time, tzinfo=zone)
        if opens <= now < opens + DIGEST_WINDOW:
            return day
    return None


def _window_end(day: date, person: Person, settings: Settings) -> datetime:
    zone = ZoneInfo(zone_of(person, settings))
    return datetime.combine(day, settings.digest_time, tzinfo=zone) + DIGEST_WINDOW


async def _people_with_role(session: AsyncSession, role: str) -> list[tuple[Person, int]]:
    rows = await session.execute(
        select(Person, Membership.institution_id)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.role == role)
        .where(Person.consent != "opted_out")
        .order_by(Person.id, Membership.institution_id)
    )
    return [(p, iid) for p, iid in rows]


async def _existing(session: AsyncSession, wanted: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            await session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(chunk))
            )
        )
    return found


async def plan_digests(db: Database, settings: Settings, now: datetime) -> DigestReport:
    """Enqueue the digests, charts and leader nudges due now; take today's snapshots.
    Idempotent: run it every few minutes."""
    report = DigestReport()
    async with db.session() as session:
        organisers = {p.id: p for p in await all_organisers(session) if not p.opted_out}
        leaders = await _people_with_role(session, "leader")
        due_organisers = [
            (p, day) for p in organisers.values() if (day := digest_day(p, now, settings))
        ]
        due_leaders = [(p, iid, day) for p, iid in leaders if (day := digest_day(p, now, settings))]
        wanted = [keys.digest(day, p.id) for p, day in due_organisers]
        wanted += [keys.leader_nudge(day, iid, p.id) for p, iid, day in due_leaders]
        done = await _existing(session, wanted)
        snapshot_wanted = await snapshot_due(session, settings, now)
        if not snapshot_wanted and all(k in done for k in wanted):
            return report
        digest = await build_digest(session, settings, now)
    async with db.session() as session:
        charts = (
            _charts(digest) if any(address_for(p, "telegram") for p, _ in due_organisers) else {}
        )
        for person, day in due_organisers:
            key = keys.digest(day, person.id)
            if key not in done:
                await _enqueue_digest(session, settings, person, day, key, digest, charts, report)
    async with db.session() as session:
        await _enqueue_nudges(session, settings, now, digest, due_leaders, done, report)
    if snapshot_wanted:
        async with db.session() as session:
            report.snapshots = await take_snapshots(session, digest)
    if report.digests or report.nudges or report.snapshots:
        log.info(
            "digests %d (+%d charts), leader nudges %d, snapshots %d",
            report.digests,
            report.charts,
            report.nudges,
            report.snapshots,
        )
    return report


def _charts(digest: Digest) -> dict[int, bytes]:
    return {
        item.action.id: render_chart(item)
        for item in digest.actions
        if any(r.committed or r.confirmed for r in item.rollup.rows)
    }


async def _enqueue_digest(
    session: AsyncSession,
    settings: Settings,
    person: Person,
    day: date,
    key: str,
    digest: Digest,
    charts: dict[int, bytes],
    report: DigestReport,
) -> None:
    person = await session.get_one(Person, person.id)
    telegram = address_for(person, "telegram") is not None
    body = render_text(digest) if telegram else render_sms(digest)
    channel = "telegram" if telegram else "sms"
    deadline = _window_end(day, person, settings) + timedelta(hours=12)

    async def put(draft: Draft, key: str, action_id: int | None) -> bool:
        outcome = await place_message(
            session,
            person,
            draft,
            settings=settings,
            key=key,
            now=digest.now,
            not_before=digest.now,
            deadline=deadline,
            action_id=action_id,
            kind="system",
            channel=channel,
        )
        return outcome == "queued"

    if not await put(Draft("digest", {"date": short_day(day), "body": body}), key, None):
        return
    report.digests += 1
    for item in digest.actions:
        png = charts.get(item.action.id) if telegram else None
        if png is None:
            continue
        chart_key = keys.digest_chart(key, item.action.id)
        title = {"title": item.action.title, "date": short_day(day)}
        if not await put(Draft("digest_chart", title), chart_key, None):
            continue
        row_id = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.dedupe_key == chart_key)
        )
        assert row_id is not None
        attached = await session.scalar(
            select(OutboxAttachment.id).where(OutboxAttachment.outbox_id == row_id)
        )
        if attached is not None:  # another planner got there first
            continue
        session.add(
            OutboxAttachment(
                outbox_id=row_id,
                filename=f"turnout-{item.action.slug}-{day.isoformat()}.png",
                content_type="image/png",
                data=png,
                created_at=digest.now,
            )
        )
        report.charts += 1


async def _enqueue_nudges(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    digest: Digest,
    due_leaders: list[tuple[Person, int, date]],
    done: set[str],
    report: DigestReport,
) -> None:
    horizon = now + timedelta(days=settings.leader_nudge_days)
    upcoming = [i for i in digest.actions if not i.started and i.action.starts_at <= horizon]
    if not upcoming or settings.leader_nudge_days == 0:
        return
    item = upcoming[0]
    for leader, iid, day in due_leaders:
        key = keys.leader_nudge(day, iid, leader.id)
        if key in done:
            continue
        try:
            row = item.rollup.row_for(iid)
        except KeyError:
            continue
        if row.not_replied == 0 and (row.gap is None or row.gap <= 0):
            continue  # nothing to chase
        leader = await session.get_one(Person, leader.id)
        outcome = await place_message(
            session,
            leader,
            leader_draft(item.action, row, leader, settings),
            settings=settings,
            key=key,
            now=now,
            not_before=bulk_not_before(leader, now, settings),
            deadline=_window_end(day, leader, settings),
            action_id=item.action.id,
        )
        report.nudges += outcome == "queued"
