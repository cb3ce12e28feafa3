"""The organisers' daily digest and the leaders' chase nudges.

``build_digest`` gathers, for each upcoming (or just finished) action, the rollup from
storage.rollup (per institution: commitment, yes + guests, maybe, no, not replied, attended,
gap), the change in confirmed people since the last daily snapshot, and the institutions that
have not moved (no RSVP) for ``settings.idle_days``; plus the inbox replies and the failed
messages of the last 24 hours. ``render_text`` (CLI, Telegram) and ``render_sms`` (compact)
print it; scheduler.chart draws it.

``plan_digests`` runs periodically (every few minutes): once an organiser's local
``digest_time`` has come (and for 12 hours after), it enqueues that day's digest for them
(Telegram if they have it, else a compact SMS; dedupe ``digest:{date}:{person}``); on Telegram,
one chart row per action follows, its PNG in outbox_attachments. Leaders get a short nudge
about their own institution only, for the next action. It also takes the day's snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from config.messages import format_when
from config.settings import Settings
from config.text import table
from scheduler.outbound import bulk_not_before, place_message, when_for, zone_of
from storage import keys
from storage.db import Database
from storage.listening_reports import listening_summary
from storage.models import (
    Action,
    InboundMessage,
    Invitation,
    Membership,
    OutboxAttachment,
    OutboxMessage,
    Person,
    RollupSnapshot,
)
from storage.outbox import DROPPED, Draft, address_for
from storage.roles import organisers as all_organisers
from storage.rollup import (
    TOTALS_NOTE,
    Rollup,
    RollupRow,
    action_rollup,
    scoped_rollup,
)

log = logging.getLogger(__name__)

RECENT = timedelta(hours=36)  # a finished action stays in the digest this long (attended)
DIGEST_WINDOW = timedelta(hours=12)  # a day's digest is not sent later than this after its time
SINCE = timedelta(hours=24)  # "since yesterday" for inbox replies and failed messages
MAX_ROWS = 30  # institutions listed per action (the rest summed up in one line)
FAILED = ("failed", "undelivered")


@dataclass
class DigestAction:
    rollup: Rollup
    # Change in confirmed people (yes + guests) per row key since the snapshot of ``since``.
    change: dict[str, int]
    since: date | None
    idle: list[RollupRow]  # institutions with no RSVP for ``idle_days``
    started: bool

    @property
    def action(self) -> Action:
        return self.rollup.action

    def key(self, row: RollupRow) -> str:
        if row is self.rollup.totals:
            return "total"
        if row is self.rollup.unique:
            return "unique"  # not in the snapshots: no change shown
        return "none" if row.institution_id is None else str(row.institution_id)

    def change_for(self, row: RollupRow) -> int | None:
        return self.change.get(self.key(row))

    def shown_rows(self) -> list[RollupRow]:
        """Institutions with a commitment or anyone invited."""
        return [r for r in self.rollup.rows if r.committed is not None or r.invited or r.attended]


@dataclass
class Digest:
    alliance: str
    now: datetime
    timezone: str
    day: date
    idle_days: int
    actions: list[DigestAction] = field(default_factory=list)
    inbox_replies: int = 0  # open inbox messages received in the last 24 hours
    inbox_open: int = 0  # open inbox messages, however old
    failed_messages: int = 0  # outbox rows failed or undelivered in the last 24 hours
    dropped_messages: int = 0  # dropped on purpose (too late) in the last 24 hours
    listening: list[str] = field(default_factory=list)  # counts and themes, never anyone's words


def local_day(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def snapshot_counts(rollup: Rollup) -> dict[str, Any]:
    def numbers(row: RollupRow) -> dict[str, int | None]:
        return {
            "committed": row.committed,
            "yes": row.yes,
            "guests": row.guests,
            "maybe": row.maybe,
            "no": row.no,
            "not_replied": row.not_replied,
            "attended": row.attended,
        }

    counts: dict[str, Any] = {str(r.institution_id): numbers(r) for r in rollup.rows}
    counts["none"] = numbers(rollup.no_institution)
    counts["total"] = numbers(rollup.totals)
    return counts


async def digest_actions(session: AsyncSession, now: datetime) -> list[Action]:
    """Scheduled actions not over yet, and those that ended in the last 36 hours."""
    return list(
        await session.scalars(
            select(Action)
            .where(Action.status == "scheduled")
            .where(Action.ends_at > now - RECENT)
            .order_by(Action.starts_at)
        )
    )


async def build_digest(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    *,
    institution_ids: frozenset[int] | None = None,
) -> Digest:
    """The digest for the whole alliance, or with ``institution_ids`` only what a leader of
    those institutions may see: their rows (totals are theirs, no "no institution" row), the
    inbox and failures of their own members, and no listening summary."""
    tz = settings.default_timezone
    digest = Digest(settings.alliance_name, now, tz, local_day(now, tz), settings.idle_days)
    for action in await digest_actions(session, now):
        digest.actions.append(
            await _digest_action(session, settings, action, now, digest.day, institution_ids)
        )
    since = now - SINCE
    open_inbox = InboundMessage.inbox_status == "open"
    if institution_ids is not None:
        open_inbox &= InboundMessage.person_id.in_(_members_of(institution_ids))
    digest.inbox_open = await _count(InboundMessage, session, open_inbox)
    digest.inbox_replies = await _count(
        InboundMessage, session, open_inbox & (InboundMessage.received_at >= since)
    )
    mine = (
        true()
        if institution_ids is None
        else OutboxMessage.person_id.in_(_members_of(institution_ids))
    )
    digest.failed_messages = await _outbox_count(
        session, since, OutboxMessage.status.in_(FAILED) & mine
    )
    digest.dropped_messages = await _outbox_count(
        session,
        since,
        (OutboxMessage.status == "cancelled") & OutboxMessage.error_code.in_(DROPPED) & mine,
    )
    if institution_ids is None:
        summary = await listening_summary(session, now)
        if summary:
            digest.listening = summary.lines()
    return digest


def _members_of(institution_ids: frozenset[int]) -> Any:
    return select(Membership.person_id).where(Membership.institution_id.in_(institution_ids))


async def _count(model: Any, session: AsyncSession, condition: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(condition)) or 0)


async def _outbox_count(session: AsyncSession, since: datetime, condition: Any) -> int:
    return await _count(OutboxMessage, session, condition & (OutboxMessage.updated_at >= since))


async def _digest_action(
    session: AsyncSession,
    settings: Settings,
    action: Action,
    now: datetime,
    today: date,
    institution_ids: frozenset[int] | None = None,
) -> DigestAction:
    if institution_ids is None:
        rollup = await action_rollup(session, action)
    else:
        rollup = await scoped_rollup(session, action, institution_ids)
    snapshot = await session.scalar(
        select(RollupSnapshot)
        .where(RollupSnapshot.action_id == action.id)
        .where(RollupSnapshot.day < today)
        .order_by(RollupSnapshot.day.desc())
        .limit(1)
    )
    result = DigestAction(rollup, {}, None, [], started=action.starts_at <= now)
    if snapshot is not None:
        result.since = snapshot.day
        for row in [*rollup.rows, rollup.no_institution, rollup.totals]:
            before = snapshot.counts.get(result.key(row))
            if before is not None:
                result.change[result.key(row)] = row.confirmed - (
                    int(before["yes"]) + int(before["guests"])
                )
        if institution_ids is not None:
            # The snapshot's total is the alliance's: these institutions' total moved by the
            # sum of their own changes (when every one of them was in the snapshot).
            result.change.pop("none", None)
            result.change.pop("total", None)
            changes = [result.change.get(result.key(r)) for r in rollup.rows]
            if rollup.rows and all(c is not None for c in changes):
                result.change["total"] = sum(c for c in changes if c is not None)
    if not result.started:
        result.idle = await _idle(session, rollup, now - timedelta(days=settings.idle_days))
    return result


async def _idle(session: AsyncSession, rollup: Rollup, cutoff: datetime) -> list[RollupRow]:
    """Institutions invited before ``cutoff`` with no RSVP from any member since then (an
    invitation's ``responded_at`` is the time of its latest RSVP)."""
    activity = await session.execute(
        select(
            Membership.institution_id,
            func.min(Invitation.invited_at),
            func.max(Invitation.responded_at),
        )
        .select_from(Invitation)
        .join(Membership, Membership.person_id == Invitation.person_id)
        .where(Invitation.action_id == rollup.action.id)
        .group_by(Membership.institution_id)
    )
    quiet = {
        iid
        for iid, first_invited, last_rsvp in activity
        if first_invited <= cutoff and (last_rsvp is None or last_rsvp <= cutoff)
    }
    return [row for row in rollup.rows if row.institution_id in quiet]


# --- rendering ---------------------------------------------------------------------------


def _day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def _signed(value: int | None) -> str:
    return "-" if value is None else f"{value:+d}"


def _selected(item: DigestAction, limit: int) -> tuple[list[RollupRow], list[RollupRow]]:
    """The institutions to list (furthest behind first when there are too many) and the rest."""
    rows = item.shown_rows()
    if len(rows) <= limit:
        return rows, []
    ranked = sorted(rows, key=lambda r: (-(r.gap or 0), r.institution))
    keep = {id(r) for r in ranked[:limit]}
    return [r for r in rows if id(r) in keep], [r for r in rows if id(r) not in keep]


def render_text(digest: Digest, *, max_rows: int = MAX_ROWS) -> str:
    """Plain text: a table per action. Fits a Telegram message (4096) up to ``max_rows``."""
    when = format_when(digest.now, "en", digest.timezone)
    out = [f"{digest.alliance} turnout digest, {when}"]
    if not digest.actions:
        out.append("\nNo upcoming actions.")
    for item in digest.actions:
        action = item.action
        out.append("")
        starts = format_when(action.starts_at, "en", digest.timezone)
        head = f"{action.title} ({action.slug}), {starts}"
        out.append(f"{head} at {action.place}" + (" [under way or over]" if item.started else ""))
        shown, rest = _selected(item, max_rows)
        headers = ["institution", "committed", "yes", "+guests", "maybe", "no", "not replied"]
        headers += ["change", "gap"] + (["here"] if item.started else [])

        def cells(row: RollupRow, item: DigestAction = item) -> list[object]:
            values: list[object] = [
                row.institution,
                "-" if row.committed is None else row.committed,
                row.yes,
                row.guests,
                row.maybe,
                row.no,
                row.not_replied,
                _signed(item.change_for(row)),
                "-" if row.gap is None else row.gap,
            ]
            return values + ([row.attended] if item.started else [])

        lines = [cells(r) for r in shown]
        if rest:
            others = RollupRow(None, f"({len(rest)} more institutions)")
            for name in ("yes", "guests", "maybe", "no", "not_replied", "attended"):
                setattr(others, name, sum(getattr(r, name) for r in rest))
            lines.append([*cells(others)[:7], "", "", *([others.attended] if item.started else [])])
        lines.append(cells(item.rollup.no_institution))
        lines.append(cells(item.rollup.totals))
        lines.append(cells(item.rollup.unique))
        out.append(table(headers, lines))
        out.append(TOTALS_NOTE)
        notes = []
        if item.since is not None:
            notes.append(f"Change since {_day(item.since)}.")
        if item.idle:
            names = ", ".join(r.institution for r in item.idle)
            notes.append(f"Not moved for {digest.idle_days} days: {names}.")
        if notes:
            out.append(" ".join(notes))
    out.append("")
    out.append(f"Inbox replies since yesterday: {digest.inbox_replies}")
    failed = f"Failed messages since yesterday: {digest.failed_messages}"
    if digest.dropped_messages:
        failed += f" ({digest.dropped_messages} more dropped as too late)"
    out.append(failed)
    if digest.listening:
        out.append("")
        out.append("Listening")
        out.extend(digest.listening)
    return "\n".join(out)


def render_sms(digest: Digest, *, limit: int = 459) -> str:
    """Compact: one line per action (confirmed/committed, unique people when someone counts in
    two institutions, change, the sum of the shortfalls, who is behind, who is quiet), then
    the inbox and failures. At most ``limit`` characters (three SMS parts)."""
    parts = []
    for item in digest.actions:
        totals, unique = item.rollup.totals, item.rollup.unique
        committed = f"/{totals.committed}" if totals.committed else ""
        day = _day(local_day(item.action.starts_at, digest.timezone))
        text = f"{item.action.title} {day}: {totals.confirmed}"
        text += f"{committed} confirmed"
        if unique.confirmed != totals.confirmed:
            text += f" ({unique.confirmed} people)"
        change = item.change_for(totals)
        if change:
            text += f" ({change:+d})"
        if totals.gap:
            text += f", {totals.gap} short"
        text += f", {totals.maybe} maybe, {totals.not_replied} no reply."
        behind = sorted(
            (r for r in item.rollup.rows if r.gap is not None and r.gap > 0),
            key=lambda r: -(r.gap or 0),
        )
        if behind:
            text += " Behind: " + ", ".join(
                f"{r.institution} {r.confirmed}/{r.committed}" for r in behind[:3]
            )
            text += "." if len(behind) <= 3 else f" +{len(behind) - 3} more."
        if item.idle:
            text += f" Quiet {digest.idle_days}d: " + ", ".join(
                r.institution for r in item.idle[:3]
            )
            text += "." if len(item.idle) <= 3 else f" +{len(item.idle) - 3}."
        parts.append(text)
    if not parts:
        parts.append("No upcoming actions.")
    parts.append(f"Inbox {digest.inbox_replies}. Failed {digest.failed_messages}.")
    text = "\n".join(parts)
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def leader_draft(action: Action, row: RollupRow, leader: Person, settings: Settings) -> Draft:
    """A leader's nudge: their institution's numbers only."""
    return Draft(
        "leader_nudge",
        {
            "institution": row.institution,
            "title": action.title,
            "when": when_for(leader, action.starts_at, settings),
            "committed": "-" if row.committed is None else row.committed,
            "yes": row.yes,
            "guests": row.guests,
            "maybe": row.maybe,
            "waiting": row.not_replied,
        },
    )


# --- planning ----------------------------------------------------------------------------


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
        snapshot_due = await _snapshot_due(session, settings, now)
        if not snapshot_due and all(k in done for k in wanted):
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
    if snapshot_due:
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
    from scheduler.chart import render_chart  # matplotlib is slow to import: only when needed

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

    if not await put(Draft("digest", {"date": _day(day), "body": body}), key, None):
        return
    report.digests += 1
    for item in digest.actions:
        png = charts.get(item.action.id) if telegram else None
        if png is None:
            continue
        chart_key = keys.digest_chart(key, item.action.id)
        title = {"title": item.action.title, "date": _day(day)}
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


async def _snapshot_due(session: AsyncSession, settings: Settings, now: datetime) -> bool:
    """Today's snapshot is taken at the alliance's digest time (default time zone)."""
    zone = ZoneInfo(settings.default_timezone)
    today = now.astimezone(zone).date()
    if now < datetime.combine(today, settings.digest_time, tzinfo=zone):
        return False
    actions = await digest_actions(session, now)
    if not actions:
        return False
    have = set(
        await session.scalars(
            select(RollupSnapshot.action_id)
            .where(RollupSnapshot.day == today)
            .where(RollupSnapshot.action_id.in_([a.id for a in actions]))
        )
    )
    return any(a.id not in have for a in actions)


async def take_snapshots(session: AsyncSession, digest: Digest) -> int:
    """Store each action's numbers for the digest's day (first one of the day wins)."""
    if not digest.actions:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = [
        {
            "action_id": item.action.id,
            "day": digest.day,
            "taken_at": digest.now,
            "counts": snapshot_counts(item.rollup),
        }
        for item in digest.actions
    ]
    stmt = insert(RollupSnapshot).values(values)
    result = await session.execute(
        stmt.on_conflict_do_nothing(index_elements=["action_id", "day"]).returning(
            RollupSnapshot.id
        )
    )
    return len(result.all())
