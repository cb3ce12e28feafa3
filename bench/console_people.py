"""Console pages of part 2 (issue 10): People search, a person's timeline, the inbox, and the
import wizard, timed on the server, next to a bare aiohttp handler rendering a template in the
same run.

    .venv/bin/python bench/console_people.py [--backend sqlite|postgresql] [--requests 200]
        [--doc docs/benchmarks-console-people.md | --no-doc]

Seeds a fresh database (SQLite in a temp file, or a private PostgreSQL database on
TURNOUT_BENCH_DATABASE_URL, dropped afterwards) with the issue's size: 10,000 people, 50
institutions, 20 actions, 100,000 invitations with replies, 2,000 open inbox texts from 1,000
people and 20,000 outbox rows; signs an organiser in (a session row and its cookie), then
requests each page ``--requests`` times, one at a time, over keep-alive. A middleware at the
front of each app times the server's part of a request (from the first middleware to the
response), which is what is reported: p50 and p95 in ms. Then it uploads a 10,000-row CSV to
the import wizard and confirms it, timing both. It checks every page answered 200 and that the
import created the 10,000 people; a failed check exits 1.
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
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bot.app import create_app  # noqa: E402
from config.clock import FakeClock  # noqa: E402
from config.settings import Settings  # noqa: E402
from storage.console import Policy, open_session  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Action,
    InboundMessage,
    Institution,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
)

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_DOC = ROOT / "docs" / "benchmarks-console-people.md"
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
PEOPLE, INSTITUTIONS, ACTIONS, PER_PERSON = 10_000, 50, 20, 10
TARGET_MS = 100.0

Timer = list[float]


def timing(times: dict[str, Timer]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def timed(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        response: web.StreamResponse = await handler(request)
        times.setdefault(request.headers.get("X-Bench", "other"), []).append(
            (time.perf_counter() - start) * 1000
        )
        return response

    return timed


async def seed(db: Database, rng: random.Random) -> tuple[int, int]:
    """The data; returns (the organiser's id, an open inbox text's id)."""
    t = NOW - timedelta(days=30)
    async with db.session() as s:
        await s.execute(
            insert(Institution),
            [
                {"name": f"Institution {i}", "kind": "faith", "status": "member", "created_at": t}
                for i in range(1, INSTITUTIONS + 1)
            ],
        )
        people = [
            {
                "name": f"Person {i}",
                "phone": f"+4477009{i:05d}",
                "phone_status": "ok",
                "language": rng.choice(("en", "en", "en", "cy", "pl")),
                "timezone": "Europe/London",
                "consent": "opted_in" if i % 20 else "opted_out",
                "consent_source": "import",
                "consent_at": t,
                "telegram_status": "ok",
                "introduced_at": t,
                "created_at": t,
            }
            for i in range(1, PEOPLE + 1)
        ]
        for start in range(0, len(people), 2000):
            await s.execute(insert(Person), people[start : start + 2000])
        organiser = Person(
            name="Ruth Adeyemi",
            phone="+447799999911",
            phone_status="ok",
            language="en",
            timezone="Europe/London",
            consent="opted_in",
            consent_source="import",
            consent_at=t,
            telegram_status="ok",
            introduced_at=t,
            alliance_role="organiser",
            created_at=t,
        )
        s.add(organiser)
        await s.flush()
        await s.execute(
            insert(Membership),
            [
                {
                    "person_id": i,
                    "institution_id": 1 + i % INSTITUTIONS,
                    "role": "leader" if i % 97 == 0 else "member",
                    "created_at": t,
                }
                for i in range(1, PEOPLE + 1)
                if i % 10
            ],
        )
        await s.execute(
            insert(Action),
            [
                {
                    "slug": f"action-{a}",
                    "title": f"Action {a}",
                    "kind": "assembly",
                    "starts_at": NOW + timedelta(days=a - 10),
                    "ends_at": NOW + timedelta(days=a - 10, hours=2),
                    "place": "Hall",
                    "bring": "",
                    "status": "scheduled",
                    "revision": 0,
                    "created_at": t,
                    "updated_at": t,
                }
                for a in range(1, ACTIONS + 1)
            ],
        )
        invitations = [
            {
                "action_id": a,
                "person_id": p,
                "invited_at": t,
                "response": rng.choice((None, None, "yes", "no", "maybe")),
                "guests": 0,
            }
            for p in range(1, PEOPLE + 1)
            for a in rng.sample(range(1, ACTIONS + 1), PER_PERSON)
        ]
        for start in range(0, len(invitations), 5000):
            await s.execute(insert(Invitation), invitations[start : start + 5000])
        texts = [
            {
                "channel": "sms",
                "provider": "sandbox",
                "provider_id": f"SM{n:030d}",
                "sender": f"+4477009{1 + n % 1000:05d}",
                "recipient": "",
                "body": "The damp in our flat is making the kids ill",
                "person_id": 1 + n % 1000,
                "received_at": NOW - timedelta(minutes=n),
                "inbox_status": "open",
            }
            for n in range(2000)
        ]
        await s.execute(insert(InboundMessage), texts)
        outbox = [
            {
                "dedupe_key": f"bench:{n}",
                "channel": "sms",
                "person_id": 1 + n % PEOPLE,
                "to_address": f"+4477009{1 + n % PEOPLE:05d}",
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
            for n in range(20_000)
        ]
        for start in range(0, len(outbox), 5000):
            await s.execute(insert(OutboxMessage), outbox[start : start + 5000])
        first_text = await s.scalar(select(func.min(InboundMessage.id)))
    return organiser.id, int(first_text or 0)


def bare_app(times: dict[str, Timer]) -> web.Application:
    app = web.Application(middlewares=[timing(times)])
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.DictLoader(
            {
                "page.html": "<!doctype html><title>{{ title }}</title><ul>"
                "{% for n in items %}<li>{{ n }}</li>{% endfor %}</ul>"
            }
        ),
        autoescape=True,
    )

    async def page(request: web.Request) -> web.Response:
        return aiohttp_jinja2.render_template(
            "page.html", request, {"title": "People", "items": range(50)}
        )

    app.router.add_get("/", page)
    return app


def csv_rows(n: int) -> str:
    return "name,phone,institution\n" + "".join(
        f"New Person {i},+4477019{i:05d},Institution {1 + i % INSTITUTIONS}\n" for i in range(n)
    )


async def run(args: argparse.Namespace) -> tuple[list[tuple[str, float, float]], dict[str, float]]:
    rng = random.Random(10)
    pg_admin: Database | None = None
    pg_name = ""
    if args.backend == "postgresql":
        base = make_url(os.environ.get("TURNOUT_BENCH_DATABASE_URL", DEFAULT_PG))
        pg_name = f"turnout_bench_{uuid.uuid4().hex[:8]}"
        pg_admin = Database.from_url(base.render_as_string(hide_password=False), poolclass=NullPool)
        async with pg_admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        url = base.set(database=pg_name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database.from_url(url)
    try:
        await upgrade(db.engine)
        started = time.perf_counter()
        organiser_id, text_id = await seed(db, rng)
        print(f"seeded in {time.perf_counter() - started:.1f} s")
        return await measure(db, url, organiser_id, text_id, args)
    finally:
        await db.dispose()
        if pg_admin is not None:
            async with pg_admin.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            await pg_admin.dispose()


async def measure(
    db: Database, url: str, organiser_id: int, text_id: int, args: argparse.Namespace
) -> tuple[list[tuple[str, float, float]], dict[str, float]]:
    times: dict[str, Timer] = {}
    port = 18_000 + os.getpid() % 1000
    settings = Settings.from_env(
        {
            "TURNOUT_DATABASE_URL": url,
            "TURNOUT_ALLIANCE_NAME": "Leicester Citizens",
            "TURNOUT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "TURNOUT_LOG_LEVEL": "WARNING",
        },
        env_file=None,
    )
    app = create_app(settings, db=db, clock=FakeClock(NOW))
    app.middlewares.insert(0, timing(times))
    policy = Policy.from_settings(settings)
    async with db.session() as s:
        token, _ = await open_session(
            s, person_id=organiser_id, method="code", user_agent="bench", now=NOW, policy=policy
        )
    runners = []
    for application, at in ((app, port), (bare_app(times), port + 1)):
        runner = web.AppRunner(application)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", at).start()
        runners.append(runner)
    pages = [
        ("bare aiohttp handler rendering a template", f"http://127.0.0.1:{port + 1}/"),
        ("People, first page", "/people"),
        ("People, search by name", "/people?q=person+123"),
        ("People, search by phone", "/people?q=07700912345"),
        ("People, institution + reply filter", "/people?institution=7&action=12&reply=waiting"),
        ("A person's timeline (audited)", "/people/1"),
        ("Inbox", "/inbox"),
        ("An inbox conversation", f"/inbox/{text_id}"),
    ]
    results: list[tuple[str, float, float]] = []
    import_times: dict[str, float] = {}
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            jar.update_cookies(
                {"turnout_session": token}, aiohttp.helpers.URL(f"http://127.0.0.1:{port}/")
            )
            for label, path in pages:
                target = path if path.startswith("http") else f"http://127.0.0.1:{port}{path}"
                for _ in range(args.requests + 5):
                    async with http.get(target, headers={"X-Bench": label}) as resp:
                        await resp.read()
                        if resp.status != 200:
                            raise SystemExit(f"{label}: {resp.status}")
                samples = times[label][5:]  # after a warm-up
                p95 = statistics.quantiles(samples, n=20)[18]
                results.append((label, statistics.median(samples), p95))
                print(f"{label:45s} p50 {results[-1][1]:7.1f} ms  p95 {p95:7.1f} ms")
            form = aiohttp.FormData()
            async with http.get(f"http://127.0.0.1:{port}/people/import") as resp:
                page = await resp.text()
            csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
            form.add_field("csrf_token", csrf)
            form.add_field("file", csv_rows(10_000).encode(), filename="people.csv")
            headers = {"X-Bench": "upload", "Origin": f"http://127.0.0.1:{port}"}
            async with http.post(
                f"http://127.0.0.1:{port}/people/import", data=form, headers=headers
            ) as resp:
                preview = await resp.text()
                assert resp.status == 200, preview[:500]
            upload = preview.split('name="upload" value="')[1].split('"')[0]
            headers["X-Bench"] = "confirm"
            async with http.post(
                f"http://127.0.0.1:{port}/people/import/confirm",
                data={"csrf_token": csrf, "upload": upload},
                headers=headers,
            ) as resp:
                done = await resp.text()
                assert resp.status == 200 and "People created: 10,000" in done, done[:500]
            import_times = {"upload": times["upload"][0], "confirm": times["confirm"][0]}
            print(
                f"import 10,000 rows: check {import_times['upload']:.0f} ms, "
                f"import {import_times['confirm']:.0f} ms"
            )
    finally:
        for runner in runners:
            await runner.cleanup()
    return results, import_times


def write_doc(
    path: Path,
    args: argparse.Namespace,
    results: list[tuple[str, float, float]],
    import_times: dict[str, float],
    load: tuple[float, ...],
) -> None:
    bare = results[0][2]
    lines = [
        f"## {args.backend} ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"`.venv/bin/python bench/console_people.py --backend {args.backend} "
        f"--requests {args.requests}` on {platform.machine()}, Python "
        f"{platform.python_version()}, load average {load[0]:.1f} at the start. "
        f"{PEOPLE:,} people, {INSTITUTIONS} institutions, {ACTIONS} actions, "
        f"{PEOPLE * PER_PERSON:,} invitations, 2,000 open inbox texts, 20,000 outbox rows. "
        "Server time per request (first middleware to response), one request at a time.",
        "",
        "| page | p50 ms | p95 ms | p95 / bare handler | under 100 ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, p50, p95 in results:
        ratio = "1.0" if label.startswith("bare") else f"{p95 / bare:.1f}x"
        met = "-" if label.startswith("bare") else ("yes" if p95 < TARGET_MS else "no")
        lines.append(f"| {label} | {p50:.1f} | {p95:.1f} | {ratio} | {met} |")
    lines += [
        "",
        f"Import wizard, 10,000 rows: checking the upload {import_times['upload']:.0f} ms, "
        f"importing it {import_times['confirm']:.0f} ms.",
        "",
    ]
    head = "# Benchmarks: console pages, part 2 (People, import, inbox)\n\n"
    old = path.read_text() if path.exists() else head
    if not old.startswith(head):
        old = head + old
    path.write_text(old.rstrip("\n") + "\n\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    results, import_times = asyncio.run(run(args))
    if not args.no_doc:
        write_doc(args.doc, args, results, import_times, load)


if __name__ == "__main__":
    main()
