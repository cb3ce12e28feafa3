"""Server time of console pages (issue 10): p50 and p95 per page, next to a bare aiohttp
handler rendering a template, measured in the same run; and a YES reaching an open Today.

    .venv/bin/python bench/console_pages.py [--backend sqlite|postgresql|both]
        [--requests 100] [--rounds 2] [--paths / /actions/action-01 /inbox ...]
        [--doc docs/benchmarks.md | --no-doc]

Seeds a fresh database: 10,000 people, 50 institutions (every 10th person in none, every 50th
in two), 20 upcoming actions, 100,000 RSVPs (5,000 invited to each action; yes, no, maybe or
no reply, some with guests), a commitment per institution and action, some check-ins, 2,000
open inbox texts from 1,000 people and 20,000 outbox rows; then brings the live counters up
to those rows (they went in raw). Then serves ``bot.app.create_app`` (the whole app, console
included) and a bare aiohttp app whose one handler renders a Jinja2 template (a 50-row table)
through aiohttp-jinja2, each on a real port, and asks each page ``--requests`` times, one at a
time, signed in as an organiser, in ``--rounds`` rounds (the figures are the median of the
rounds: the machine is shared). Server time is measured by a middleware put first in each
app: from the request reaching the app to the response being ready. The default pages are the
four of the target (Today, also as after a change: ``/?fresh=1``; an action; a people search;
the inbox) and a few more. Last, ten YESes written through the use case as another process
would, each timed until the new numbers arrive on an open ``/live/today``. The import
wizard is timed by bench/console_people.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
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

import aiohttp  # noqa: E402
import aiohttp_jinja2  # noqa: E402
import jinja2  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bot.app import create_app, settle_heap  # noqa: E402
from bot.web.security import SESSION, cookie_name  # noqa: E402
from bot.web.today import CACHE  # noqa: E402
from config.clock import FakeClock  # noqa: E402
from config.settings import Settings  # noqa: E402
from scheduler.actions import record_rsvp  # noqa: E402
from scheduler.invitations import preview  # noqa: E402
from storage import console as console_store  # noqa: E402
from storage import counters  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Action,
    Attendance,
    Commitment,
    InboundMessage,
    Institution,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
)
from storage.segments import Segment  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
PEOPLE, INSTITUTIONS, ACTIONS, PER_ACTION = 10_000, 50, 20, 5_000
TARGET_MS = 100.0
PREVIEW = "invite preview"
LIVE = "live"
LIVE_RSVPS = 10
INBOX_TEXTS, OUTBOX_ROWS = 2_000, 20_000
# The four pages of the target first (Today, an action, a people search, the inbox).
FRESH = "/?fresh=1"  # Today as after a change: its numbers rendered afresh (see afresh)
DEFAULT_PATHS = [
    "/",
    FRESH,
    "/actions/action-01",
    "/people?q=person+0012",
    "/inbox",
    "/actions",
    "/actions/action-01?reply=yes",
    "/people?q=07700000123",
    "/sending",
]
BARE_TEMPLATE = """<!doctype html><html lang="en"><head><title>{{ title }}</title></head><body>
<h1>{{ title }}</h1><table>{% for row in rows %}<tr><th>{{ row.name }}</th>
<td>{{ row.committed }}</td><td>{{ row.confirmed }}</td><td>{{ row.attended }}</td></tr>
{% endfor %}</table></body></html>"""


async def seed(db: Database) -> int:
    """The data; returns the organiser's person id."""
    rng = random.Random(10)
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
        await s.execute(
            insert(Person),
            [
                {
                    "name": f"Person {n:05d}",
                    "phone": f"+447700{n:06d}",
                    "phone_status": "ok",
                    "language": "en",
                    "timezone": "Europe/London",
                    "consent": "opted_out" if n % 97 == 0 else "opted_in",
                    "consent_source": "import",
                    "consent_at": t,
                    "telegram_status": "ok",
                    "introduced_at": t,
                    "alliance_role": "organiser" if n == 1 else None,
                    "created_at": t,
                }
                for n in range(1, PEOPLE + 1)
            ],
        )
        memberships = []
        for n in range(1, PEOPLE + 1):
            if n % 10 == 0:
                continue
            first = 1 + n % INSTITUTIONS
            role = "leader" if n % 200 == 3 else "member"
            memberships.append(
                {"person_id": n, "institution_id": first, "role": role, "created_at": t}
            )
            if n % 50 == 1:
                memberships.append(
                    {
                        "person_id": n,
                        "institution_id": 1 + (first % INSTITUTIONS),
                        "role": "member",
                        "created_at": t,
                    }
                )
        await s.execute(insert(Membership), memberships)
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
                for a in range(1, ACTIONS + 1)
            ],
        )
        invitations, attendance = [], []
        for a in range(1, ACTIONS + 1):
            for person in rng.sample(range(1, PEOPLE + 1), PER_ACTION):
                response = rng.choice(["yes", "yes", "no", "maybe", None, None])
                invitations.append(
                    {
                        "action_id": a,
                        "person_id": person,
                        "invited_at": t,
                        "response": response,
                        "guests": rng.choice([0, 0, 0, 1, 2]) if response == "yes" else 0,
                        "responded_at": t + timedelta(days=1) if response else None,
                        "channel": "sms" if response else None,
                    }
                )
                if a == 1 and response == "yes" and rng.random() < 0.3:
                    attendance.append(
                        {"action_id": a, "person_id": person, "source": "checkin", "at": t}
                    )
        for start in range(0, len(invitations), 10_000):
            await s.execute(insert(Invitation), invitations[start : start + 10_000])
        if attendance:
            await s.execute(insert(Attendance), attendance)
        # The inbox: 2,000 open texts from 1,000 people; the outbox: 20,000 sent, delivered
        # or failed texts (as bench/console_people.py).
        await s.execute(
            insert(InboundMessage),
            [
                {
                    "channel": "sms",
                    "provider": "sandbox",
                    "provider_id": f"SM{n:030d}",
                    "sender": f"+447700{2 + n % 1000:06d}",
                    "recipient": "",
                    "body": "The damp in our flat is making the kids ill",
                    "person_id": 2 + n % 1000,
                    "received_at": NOW - timedelta(minutes=n),
                    "inbox_status": "open",
                }
                for n in range(INBOX_TEXTS)
            ],
        )
        outbox = [
            {
                "dedupe_key": f"bench:{n}",
                "channel": "sms",
                "person_id": 1 + n % PEOPLE,
                "to_address": f"+447700{1 + n % PEOPLE:06d}",
                "body": "Accountability Assembly on Sat 14 Mar 18:30. Will you come?",
                "template": "invite",
                "kind": "bulk",
                "priority": 5,
                "segments": 1,
                "status": rng.choice(("sent", "delivered", "failed")),
                "not_before": t,
                "attempts": 1,
                "created_at": t + timedelta(seconds=n),
                "updated_at": t,
            }
            for n in range(OUTBOX_ROWS)
        ]
        for start in range(0, len(outbox), 5000):
            await s.execute(insert(OutboxMessage), outbox[start : start + 5000])
        await s.execute(
            insert(Commitment),
            [
                {
                    "action_id": a,
                    "institution_id": i,
                    "number": rng.randint(20, 120),
                    "set_at": t,
                }
                for a in range(1, ACTIONS + 1)
                for i in range(1, INSTITUTIONS + 1)
            ],
        )
    # The rows above went in raw, past the use cases: bring the live counters up to them, as
    # ``turnout counters verify --repair`` (and the nightly job) would.
    async with db.session() as s:
        await counters.verify_all(s, NOW, repair_them=True)
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    return 1


def timer(times: dict[str, list[float]]) -> Any:
    @web.middleware
    async def timed(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        response = await handler(request)
        times.setdefault(request.path_qs, []).append(time.perf_counter() - start)
        return response

    return timed


@web.middleware
async def afresh(request: web.Request, handler: Any) -> web.StreamResponse:
    """``/?fresh=1``: Today with its cached numbers dropped first, as when any number changed
    since the last load (an RSVP, a check-in, a text in the inbox)."""
    if request.path == "/" and request.query.get("fresh"):
        request.app[CACHE].clear()
    response: web.StreamResponse = await handler(request)
    return response


def bare_app(times: dict[str, list[float]]) -> web.Application:
    app = web.Application(middlewares=[timer(times)])
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.DictLoader({"bare.html": BARE_TEMPLATE}),
        autoescape=jinja2.select_autoescape(["html"], default=True),
    )
    rows = [
        {"name": f"Institution {i:02d}", "committed": 50, "confirmed": 40, "attended": 0}
        for i in range(INSTITUTIONS)
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        return aiohttp_jinja2.render_template("bare.html", request, {"title": "Bare", "rows": rows})

    app.router.add_get("/bare", handler)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def ask(base: str, paths: list[str], requests: int, cookies: dict[str, str]) -> None:
    async with aiohttp.ClientSession(cookies=cookies) as http:
        for path in paths:
            for _ in range(requests + 5):  # the first five warm up (dropped later)
                async with http.get(base + path, allow_redirects=False) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{path}: {resp.status} {body[:200]!r}")


Samples = list[list[float]]  # one list of server times per round


async def next_numbers(resp: aiohttp.ClientResponse) -> str:
    """The next ``snapshot`` event of an EventSource stream."""
    event, data = "", []
    while True:
        line = (await resp.content.readline()).decode()
        if not line:
            raise SystemExit("the live stream ended")
        line = line.rstrip("\r\n")
        if not line:
            if event == "snapshot" and data:
                return "\n".join(data)
            event, data = "", []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


async def live_latency(db: Database, base: str, cookies: dict[str, str]) -> list[float]:
    """Seconds from a YES committed to the new numbers arriving at an open Today
    (``/live/today``). The YES is written here, as another process would write it (the
    use case, record_rsvp, in its own transaction), without poking the server's hub: it has
    to notice through its poll (every 0.5 s), the slower of the two ways."""
    waits = []
    async with db.session() as s:
        waiting = list(
            await s.scalars(
                select(Invitation.id)
                .where(Invitation.action_id == 1)
                .where(Invitation.response.is_(None))
                .order_by(Invitation.id)
                .limit(LIVE_RSVPS)
            )
        )
    async with (
        aiohttp.ClientSession(cookies=cookies) as http,
        http.get(base + "/live/today") as resp,
    ):
        await next_numbers(resp)
        for invitation_id in waiting:
            await asyncio.sleep(0.3)  # not in step with the poll
            async with db.session() as s:
                invitation = await s.get(Invitation, invitation_id)
                assert invitation is not None
                await record_rsvp(s, invitation, "yes", 0, channel="sms", inbound_id=None, now=NOW)
            start = time.perf_counter()
            await asyncio.wait_for(next_numbers(resp), 10)
            waits.append(time.perf_counter() - start)
    return waits


async def bench_backend(
    url: str, paths: list[str], requests: int, rounds: int
) -> dict[str, Samples]:
    db = Database.from_url(url)
    await upgrade(db.engine)
    organiser = await seed(db)
    settings = Settings.from_env(
        {
            "TURNOUT_DATABASE_URL": url,
            "TURNOUT_ALLIANCE_NAME": "Bench Citizens",
            "TURNOUT_PUBLIC_URL": "http://127.0.0.1:8080",
        },
        env_file=None,
    )
    clock = FakeClock(NOW)
    async with db.session() as s:
        token, _row = await console_store.open_session(
            s,
            person_id=organiser,
            method="code",
            user_agent="bench",
            now=NOW,
            policy=console_store.Policy.from_settings(settings),
        )
    times: dict[str, list[float]] = {}
    app = create_app(settings, db=db, clock=clock)
    app.middlewares.insert(0, timer(times))
    app.middlewares.insert(1, afresh)
    bare_times: dict[str, list[float]] = {}
    runner, base = await serve(app)
    bare_runner, bare_base = await serve(bare_app(bare_times))
    settle_heap()  # as ``turnout serve`` does once it listens
    out: dict[str, Samples] = {path: [] for path in [*paths, "bare"]}
    try:
        cookies = {cookie_name(settings, SESSION): token}
        for _round in range(rounds):
            times.clear()
            bare_times.clear()
            # Interleave the bare handler with the pages, so both see the same machine load.
            for path in paths:
                await ask(bare_base, ["/bare"], requests // len(paths) + 1, {})
                await ask(base, [path], requests, cookies)
            for path in paths:
                out[path].append(times[path][5:])
            out["bare"].append(bare_times["/bare"][5:])
        live = await live_latency(db, base, cookies)
        # The invitation preview: the use case rehearsed for everyone (half of them new).
        start = time.perf_counter()
        seen = await preview(db, 1, Segment("everyone"), scope=None, settings=settings, now=NOW)
        rehearsal = time.perf_counter() - start
    finally:
        await runner.cleanup()
        await bare_runner.cleanup()
        await db.dispose()
    out[PREVIEW] = [[rehearsal, float(seen.invitations)]]
    out[LIVE] = [live]
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


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def median_of_rounds(rounds: Samples, q: float) -> float:
    """The percentile ``q`` of each round, then the median of the rounds."""
    return statistics.median(pct(samples, q) for samples in rounds)


def table(results: dict[str, dict[str, Samples]], paths: list[str]) -> str:
    backends = list(results)
    lines = [
        "| page | "
        + " | ".join(f"{b} p50 / p95" for b in backends)
        + " | "
        + " | ".join(f"{b} p95 / bare p95" for b in backends)
        + " | p95 < 100 ms |",
        "|" + "---|" * (2 + 2 * len(backends)),
    ]
    for path in [*paths, "bare"]:
        cells = [f"`{path}`" if path != "bare" else "bare aiohttp handler + template"]
        met = []
        for b in backends:
            s = results[b][path]
            cells.append(f"{median_of_rounds(s, 0.5):.1f} / {median_of_rounds(s, 0.95):.1f} ms")
        for b in backends:
            s = results[b][path]
            p95, bare = median_of_rounds(s, 0.95), median_of_rounds(results[b]["bare"], 0.95)
            cells.append(f"{p95 / bare:.0f}x")
            met.append(p95 < TARGET_MS)
        cells.append("-" if path == "bare" else ("yes" if all(met) else "no"))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for b in backends:
        seconds, invitations = results[b][PREVIEW][0]
        lines.append(
            f"Invitation preview on {b}, everyone to `action-01` ({invitations:,.0f} "
            "invitation texts in the rehearsal: everyone not opted out, as nobody has been "
            f"texted yet): {seconds:.1f} s, {seconds / invitations * 1000:.2f} ms a text.  "
        )
    for b in backends:
        waits = results[b][LIVE][0]
        lines.append(
            f"A YES written by another process reaching an open Today on {b} "
            f"({len(waits)} YESes, the hub polling every 0.5 s): median "
            f"{statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms "
            f"(target: within 1 s: {'met' if max(waits) < 1 else 'missed'}).  "
        )
    return "\n".join(lines)


SECTION = "## Console pages"
BEFORE = (
    "**Before** (the same script on the same day, 2026-11-30, 100 requests a page in 2 "
    "rounds, load average about 7 against 1.5 to 3 for the runs above; `/?fresh=1` did not "
    "exist, every load of Today was afresh), p50 / p95, SQLite then PostgreSQL: Today "
    "677 / 1,374 and 704 / 1,840 ms (852x and 289x the bare handler's p95); the action page "
    "45 / 97 and 94 / 195 ms; the people search 23 / 57 and 88 / 190 ms; the inbox 16 / 47 and "
    "51 / 92 ms; the bare handler 0.2 / 1.6 and 0.2 / 6.4 ms.\n\n"
    "**What changed.** Today rebuilt the digest's raw rollup (grouping every one of an "
    "action's 5,000 RSVPs by institution) and its gone-quiet query for all 20 actions on "
    "every load: about 100 queries. It now reads the live counters (storage/counters.py, "
    "kept in the transaction of every write and verified nightly against the raw rows) for "
    "all the actions at once (`counters.counted_rollups`), with the snapshots and the "
    "activity since the idle cutoff in one query each, on two new invitation indexes "
    "(migration 0016): about 10 queries, the same numbers (a test holds the "
    "counted digest equal to the raw one). Its numbers are rendered once per version of the "
    "numbers (`storage.live.numbers_version`, the live hub's) and minute, shared with the "
    "live hub, so a load with nothing changed is one small query and the page (`/`); after "
    "a change the numbers are rendered afresh (`/?fresh=1`): 20 actions x 52 institution "
    "cards, three bars each, where about half the time is the template and the cards. "
    "`turnout serve` freezes the heap once it listens (`gc.freeze`): before that, a full "
    "garbage collection during one request in twenty made Today-afresh's p95 three to four "
    "times its p50. The action page reads `counted_rollup` too; the people search counts "
    "and pages in one pass (a window count) and people are indexed by (name, id), which the "
    "attendee list and the first page of People read in order. The inbox was under the "
    "target before; it moved with the machine's load.\n\n"
    "**Live numbers.** A YES reaches an open Today within the 1 s target: the server's own "
    "webhook pokes the hub at once (tests/test_console_today.py); a YES written by another "
    "process is seen at the hub's next poll (every 0.5 s), timed above. The assembly board's "
    'own figures, 500 boards open under 50 texts a second, are under "Assembly board".'
)


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
    results: dict[str, dict[str, Samples]] = {}
    for backend in backends:
        print(f"{backend}: seeding and asking {len(args.paths)} pages x {args.requests}")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                results[backend] = await bench_backend(url, args.paths, args.requests, args.rounds)
        else:
            url, drop = await pg_database(os.environ.get("TURNOUT_BENCH_DATABASE_URL", DEFAULT_PG))
            try:
                results[backend] = await bench_backend(url, args.paths, args.requests, args.rounds)
            finally:
                await drop()
    figures = table(results, args.paths)
    print(figures)
    if not args.doc:
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = (
        f"{SECTION}\n\n"
        f"`bench/console_pages.py` ({datetime.now(UTC):%Y-%m-%d}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load} at "
        f"the end): {PEOPLE:,} people, {INSTITUTIONS} institutions, {ACTIONS} actions, "
        f"{ACTIONS * PER_ACTION:,} RSVPs, {INBOX_TEXTS:,} open inbox texts, "
        f"{OUTBOX_ROWS:,} outbox rows; the live counters brought up to the rows as "
        "`turnout counters verify --repair` does. Server time (a middleware first in the app, "
        f"request in to response ready) of {args.requests} requests per page, one at a time, "
        "signed in as an organiser, after 5 warm-up requests; next to a bare aiohttp handler "
        "rendering a 50-row template through aiohttp-jinja2, asked between the pages in the "
        f"same run. Every page was asked in {args.rounds} rounds: each figure is the median of "
        "the rounds' p50 (or p95). `/?fresh=1` is Today with its cached numbers dropped "
        "before each request, as after any change. The target is p95 under 100 ms.\n\n"
        f"{figures}\n\n"
        f"{BEFORE}\n"
    )
    write_doc(Path(args.doc), body)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--paths", nargs="+", default=DEFAULT_PATHS)
    parser.add_argument("--rounds", type=int, default=2, help="Ask every page this many times.")
    parser.add_argument("--doc", default="docs/benchmarks.md")
    parser.add_argument("--no-doc", dest="doc", action="store_const", const="")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
