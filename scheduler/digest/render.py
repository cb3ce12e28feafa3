"""The digest as text: ``render_text`` (CLI, Telegram: a fixed-width table per action) and
``render_sms`` (compact), and a leader's nudge about their own institution (``leader_draft``).
"""

from __future__ import annotations

from datetime import date

from config.messages import format_when
from config.settings import Settings
from config.text import table
from scheduler.digest.build import Digest, DigestAction, local_day
from scheduler.outbound import when_for
from storage.models import Action, Person
from storage.outbox import Draft
from storage.rollup import TOTALS_NOTE, RollupRow

MAX_ROWS = 30  # institutions listed per action (the rest summed up in one line)


def short_day(d: date) -> str:
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
            notes.append(f"Change since {short_day(item.since)}.")
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
    if digest.promises_due:
        out.append("")
        out.append("Promises falling due")
        out.extend(digest.promises_due)
    return "\n".join(out)


def render_sms(digest: Digest, *, limit: int = 459) -> str:
    """Compact: one line per action (confirmed/committed, unique people when someone counts in
    two institutions, change, the sum of the shortfalls, who is behind, who is quiet), then
    the inbox and failures. At most ``limit`` characters (three SMS parts)."""
    parts = []
    for item in digest.actions:
        totals, unique = item.rollup.totals, item.rollup.unique
        committed = f"/{totals.committed}" if totals.committed else ""
        day = short_day(local_day(item.action.starts_at, digest.timezone))
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
    tail = f"Inbox {digest.inbox_replies}. Failed {digest.failed_messages}."
    if digest.promises_due:
        tail += f" Promises due {len(digest.promises_due)}."
    parts.append(tail)
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
