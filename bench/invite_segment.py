"""Invite a segment (issue 10): the invitation preview and queueing for 10,000 people, next to
the same rows inserted by a bare executemany in the same run.

    .venv/bin/python bench/invite_segment.py [--backend sqlite|postgresql|both]
        [--people 10000] [--repeat 3] [--doc docs/benchmarks.md | --no-doc]

Seeds a fresh database: ``--people`` people (every 97th opted out, every 101st under 16 with
no adult's consent, every 113th with no working number and no Telegram; languages en, cy, pl;
time zones London and New York; half of them never texted: the invitation introduces us, and
their ``introduced_at`` is written too), 50 institutions (every 10th person in none, every
50th in two), ``--repeat`` + 1 upcoming actions. Then, per repeat, on a fresh action:

* **preview**: ``scheduler.invitations.preview`` for everyone (the invite use case rehearsed in
  a transaction and rolled back, its outbox rows read back and described);
* **queue**: ``scheduler.invitations.queue`` for everyone, committed (invitations, outbox rows,
  the live counters);
* **again**: the same queue submitted a second time (it must queue nothing);
* **bare**: the same rows (the invitations and outbox rows that queue wrote, under other keys,
  on another action) inserted with a plain ``connection.execute(insert(table), rows)`` (the
  driver's executemany, no RETURNING, no ON CONFLICT), rolled back: the floor for writing them.

It checks what it measured: the preview's numbers equal what queueing did, each person
reachable has one invitation and one invitation text, nobody opted out, young or unreachable
got anything, and the second submit queued nothing. On PostgreSQL it also runs two queues of
the last action at once (two sessions) and checks nothing was queued twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from config.settings import Settings  # noqa: E402
from scheduler.actions import InviteReport  # noqa: E402
from scheduler.invitations import Preview, preview, queue  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Action,
    Institution,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
)
from storage.segments import Segment  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# 10:00 in London, 05:00 in New York: New York's people are held until their morning.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
INSTITUTIONS = 50
TARGET_S = 1.0
SECTION = "## Invite a segment"


async def seed(db: Database, people: int, actions: int) -> None:
    t = NOW - timedelta(days=30)
    async with db.session() as s:
        await s.execute(
            insert(Institution),
            [
                {
                    "name": f"Institution {i:02d}",
                    "kind": "faith",
                    "status": "member",
                    "created_at": t,
                }
                for i in range(1, INSTITUTIONS + 1)
            ],
        )
        rows = []
        for n in range(1, people + 1):
            unreachable = n % 113 == 0
            rows.append(
                {
                    "name": f"Person {n:05d}",
                    "phone": None if unreachable else f"+447700{n:06d}",
                    "phone_status": "ok",
                    "language": ("en", "en", "cy", "pl")[n % 4],
                    "timezone": "America/New_York" if n % 7 == 0 else "Europe/London",
                    "consent": "opted_out" if n % 97 == 0 else "opted_in",
                    "consent_source": "import",
                    "consent_at": t,
                    "telegram_status": "ok",
                    "under_16": n % 101 == 0,
                    "introduced_at": t if n % 2 else None,
                    "created_at": t,
                }
            )
        for start in range(0, len(rows), 5000):
            await s.execute(insert(Person), rows[start : start + 5000])
        memberships = []
        for n in range(1, people + 1):
            if n % 10 == 0:
                continue
            first = 1 + n % INSTITUTIONS
            memberships.append(
                {"person_id": n, "institution_id": first, "role": "member", "created_at": t}
            )
            if n % 50 == 1:
                second = 1 + first % INSTITUTIONS
                memberships.append(
                    {"person_id": n, "institution_id": second, "role": "member", "created_at": t}
                )
        for start in range(0, len(memberships), 5000):
            await s.execute(insert(Membership), memberships[start : start + 5000])
        await s.execute(
            insert(Action),
            [
                {
                    "slug": f"action-{a:02d}",
                    "title": f"Action {a:02d}",
                    "kind": "assembly",
                    "starts_at": NOW + timedelta(days=a),
                    "ends_at": NOW + timedelta(days=a, hours=2),
                    "place": "De Montfort Hall",
                    "bring": "",
                    "status": "scheduled",
                    "revision": 0,
                    "created_at": t,
                    "updated_at": t,
                }
                for a in range(1, actions + 1)
            ],
        )
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await work()
    return time.perf_counter() - start, result


async def queue_once(db: Database, action_id: int, settings: Settings) -> InviteReport:
    async with db.session() as s:
        action = await s.get(Action, action_id)
        assert action is not None
        return await queue(s, action, Segment("everyone"), scope=None, settings=settings, now=NOW)


async def bare(db: Database, action_id: int, other_id: int) -> tuple[float, int]:
    """The rows queue wrote for ``action_id``, inserted again (other keys, on ``other_id``) by a
    plain executemany, and rolled back. Returns the seconds and the number of rows."""
    outbox = OutboxMessage.__table__
    invitations = Invitation.__table__
    async with db.session() as s:
        out_rows = [
            {**row._asdict(), "dedupe_key": "bare:" + row.dedupe_key, "action_id": other_id}
            for row in await s.execute(
                select(*[c for c in outbox.c if c.name != "id"]).where(
                    outbox.c.action_id == action_id
                )
            )
        ]
        inv_rows = [
            {**row._asdict(), "action_id": other_id}
            for row in await s.execute(
                select(*[c for c in invitations.c if c.name != "id"]).where(
                    invitations.c.action_id == action_id
                )
            )
        ]
    async with db.engine.connect() as conn, conn.begin() as tx:
        start = time.perf_counter()
        await conn.execute(insert(invitations), inv_rows)
        await conn.execute(insert(outbox), out_rows)
        seconds = time.perf_counter() - start
        await tx.rollback()
    return seconds, len(out_rows) + len(inv_rows)


async def check(db: Database, action_id: int, seen: Preview, report: InviteReport) -> int:
    """What queueing wrote agrees with the preview and with the rules; returns rows written."""
    async with db.session() as s:
        invited = await s.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.action_id == action_id)
        )
        texts = list(
            await s.execute(
                select(OutboxMessage.person_id, OutboxMessage.template, OutboxMessage.status)
                .where(OutboxMessage.action_id == action_id)
                .where(OutboxMessage.template == "invite")
            )
        )
        rows = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.action_id == action_id)
        )
        people = {p.id: p for p in await s.scalars(select(Person))}
    assert seen.report == report, (seen.report, report)
    assert seen.invitations == report.queued == len(texts) == invited, (seen, report, len(texts))
    assert len({pid for pid, _, _ in texts}) == len(texts)  # one each
    for pid, _template, _status in texts:
        p = people[pid]
        assert p.consent != "opted_out" and not p.under_16, pid
    return int(rows or 0) + int(invited or 0)


async def bench_backend(url: str, people: int, repeat: int) -> dict[str, Any]:
    db = Database.from_url(url)
    await upgrade(db.engine)
    # Actions 1..repeat are measured; the last one is the scratch action of the baseline (and,
    # on PostgreSQL, of the two concurrent queues).
    await seed(db, people, repeat + 1)
    settings = Settings.from_env(
        {"TURNOUT_DATABASE_URL": url, "TURNOUT_ALLIANCE_NAME": "Bench Citizens"},
        env_file=None,
    )
    out: dict[str, Any] = {"preview": [], "queue": [], "again": [], "bare": []}
    try:
        for action_id in range(1, repeat + 1):
            seconds, seen = await timed(
                lambda a=action_id: preview(
                    db, a, Segment("everyone"), scope=None, settings=settings, now=NOW
                )
            )
            out["preview"].append(seconds)
            seconds, report = await timed(lambda a=action_id: queue_once(db, a, settings))
            out["queue"].append(seconds)
            seconds, again = await timed(lambda a=action_id: queue_once(db, a, settings))
            out["again"].append(seconds)
            assert again.queued == again.invited == 0, again
            out["rows"] = await check(db, action_id, seen, report)
            out["report"], out["seen"] = report, seen
            seconds, bare_rows = await bare(db, action_id, repeat + 1)
            assert bare_rows == out["rows"], (bare_rows, out["rows"])
            out["bare"].append(seconds)
        if not db.is_sqlite:
            last = repeat + 1
            both = await asyncio.gather(
                queue_once(db, last, settings), queue_once(db, last, settings)
            )
            async with db.session() as s:
                keys = list(
                    await s.scalars(
                        select(OutboxMessage.dedupe_key).where(OutboxMessage.action_id == last)
                    )
                )
            assert len(keys) == len(set(keys))
            assert both[0].queued + both[1].queued == out["report"].queued, both
            out["concurrent"] = [r.queued for r in both]
    finally:
        await db.dispose()
    return out


async def pg_database(base_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    base = make_url(base_url)
    name = f"turnout_bench_{uuid.uuid4().hex[:10]}"
    admin = Database.from_url(base.render_as_string(hide_password=False), poolclass=NullPool)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    async def drop() -> None:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| backend | texts queued (of which held) | rows written | preview | queue | "
        "submitted again | bare executemany of the same rows | queue / bare | "
        "preview and queue < 1 s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        med = {k: statistics.median(r[k]) for k in ("preview", "queue", "again", "bare")}
        seen: Preview = r["seen"]
        met = med["preview"] < TARGET_S and med["queue"] < TARGET_S
        lines.append(
            f"| {backend} | {r['report'].queued:,} ({seen.held:,}) | {r['rows']:,} | "
            f"{med['preview'] * 1000:.0f} ms | {med['queue'] * 1000:.0f} ms | "
            f"{med['again'] * 1000:.0f} ms | {med['bare'] * 1000:.0f} ms | "
            f"{med['queue'] / med['bare']:.1f}x | {'yes' if met else 'no'} |"
        )
    return "\n".join(lines)


def write_doc(path: Path, body: str) -> None:
    """Replace this script's own section of the page (or append it), leaving the rest."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = current.find(SECTION)
    if start >= 0:
        end = current.find("\n## ", start + len(SECTION))
        current = current[:start] + current[end + 1 :] if end >= 0 else current[:start]
    path.write_text(current.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n", encoding="utf-8")


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        print(f"{backend}: {args.people:,} people, {args.repeat} repeats")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                results[backend] = await bench_backend(url, args.people, args.repeat)
        else:
            url, drop = await pg_database(os.environ.get("TURNOUT_BENCH_DATABASE_URL", DEFAULT_PG))
            try:
                results[backend] = await bench_backend(url, args.people, args.repeat)
            finally:
                await drop()
    figures = table(results)
    print(figures)
    concurrent = results.get("postgresql", {}).get("concurrent")
    if concurrent:
        print(f"postgresql, two queues at once: {concurrent[0]:,} + {concurrent[1]:,} queued")
    if not args.doc:
        return
    body = (
        f"{SECTION}\n\n"
        f"`bench/invite_segment.py` ({datetime.now(UTC):%Y-%m-%d}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{load_before} at the start): {args.people:,} people invited to an action as the "
        'segment "everyone" (every 97th opted out, every 101st young with no adult\'s '
        "consent, every 113th unreachable; half never texted, so their `introduced_at` is "
        "written too; a seventh in New York, held by their quiet hours). Medians of "
        f"{args.repeat} runs, each on a fresh action: the preview (the invite use case "
        "rehearsed and rolled back, its rows described), queueing (committed: invitations, "
        "outbox rows, the live counters), the same queue submitted again (nothing queued), "
        "and the floor: the same rows (invitations and outbox rows) inserted by a bare "
        "executemany (Core `insert(table)` with a list of rows, no RETURNING, no ON "
        "CONFLICT) in the same run. The target is preview and queue each under 1 s.\n\n"
        f"{figures}\n\n"
    )
    if concurrent:
        body += (
            f"Two queues of one action at once on PostgreSQL (two sessions): "
            f"{concurrent[0]:,} + {concurrent[1]:,} texts queued, each key once.\n\n"
        )
    body += (
        'A "no" above is the target missed in this run, plainly. Before (the same 10,000 '
        "people, `bench/console_pages.py`): the preview took 3.5 s on SQLite and 18.9 s on "
        "PostgreSQL, because invite wrote one invitation and one outbox row per person through "
        "the ORM. Now the rules are still decided person by person in Python "
        "(`scheduler.outbound.channel_for`: STOP, a young person, no address; the quiet "
        "hours; the too-late drop), but each wording and each time zone's quiet hours are "
        "worked out once, the people are read as plain rows of the columns the rules need "
        "(`storage.invitations.invitees`), and the rows are written by one "
        "`INSERT ... ON CONFLICT DO NOTHING ... RETURNING` per table (`storage/bulk.py`: "
        "`unnest` of one array per column on PostgreSQL, `json_each` of one JSON array on "
        "SQLite): a key already taken writes nothing, and RETURNING says what was new, so the "
        "report, the counters and a concurrent invite agree. The preview describes what the "
        "rehearsal wrote from a `GROUP BY` (a few groups), not row by row.\n\n"
        "Where a queue's time goes on PostgreSQL (timed step by step at a load average near "
        "3): reading the 10,000 people about 0.13 s, the invitations' insert 0.12 s, the "
        "outbox insert 0.25 s (the server: seven indexes and two foreign keys a row; the bare "
        "insert pays them too), the counters 0.06 to 0.16 s, the rules and the rows in Python "
        "about 0.1 s; what is left is reading who is already invited and which keys are taken. "
        "Absolute times move with the load of the shared 2 cores (runs of this script the same "
        "day gave PostgreSQL queues between 0.9 and 1.1 s); the ratio to the bare insert, "
        "measured side by side, is the steadier figure.\n"
    )
    write_doc(Path(args.doc), body)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--doc", default="docs/benchmarks.md")
    parser.add_argument("--no-doc", dest="doc", action="store_const", const="")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
