"""Listening at scale: theme tagging throughput and the theme / pipeline rollups (issue 5).

    .venv/bin/python bench/listening_themes.py [--answers 100000] [--runs 5]
        [--backend sqlite|postgresql|both] [--doc docs/benchmarks-listening.md | --no-doc]

1. Tagging in memory: the default themes (config/themes.toml, 10 themes, about 370 rules in
   English, Welsh and Polish) compiled into a Matcher, run over N generated answers (realistic
   fragments in English, Polish and Welsh, one to four sentences, some matching nothing). The
   baselines, measured in the same run over the same answers: a plain Python loop lowercasing
   each answer, and a loop running only the bot's normaliser (case, accents, punctuation).
2. For each backend, a fresh migrated database (a temp SQLite file; a private PostgreSQL
   database created on TURNOUT_BENCH_DATABASE_URL, default
   postgresql+asyncpg://postgres@127.0.0.1:5432/test, and dropped afterwards) holding one
   campaign with N answers from N/2.5 people across 40 institutions (a quarter of the people in
   none, some in two), consent, follow-ups and attendance. Timed there: tagging every answer
   in the database the first time (storage.listening_themes.retag_campaign: read, match, write
   every theme link), an organiser's rule edit followed by a re-tag (writes only what
   changed), the theme table (per theme and institution, answers and distinct people), the
   same with quotes, the pipeline per institution, the follow-up waiting list and the digest's
   summary. Baselines in the same run: a plain ``SELECT count(*)`` over the answers table, and
   the raw SQL join + ``GROUP BY theme`` that the theme table's core does (the rollups' ratio
   is to that one).

Each timing is the median of ``--runs`` runs after one warm-up.
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
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from config.text import normalise  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.listening import create_campaign  # noqa: E402
from storage.listening_reports.follow_ups import waiting_for_follow_up  # noqa: E402
from storage.listening_reports.pipeline import pipeline  # noqa: E402
from storage.listening_reports.summary import listening_summary  # noqa: E402
from storage.listening_reports.themes import QUOTES_PER_THEME, theme_table  # noqa: E402
from storage.listening_themes import (  # noqa: E402
    Matcher,
    add_rule,
    load_theme_specs,
    remove_rule,
    retag_campaign,
    theme_by_key,
)
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Action,
    Attendance,
    Institution,
    ListeningAnswer,
    ListeningCampaign,
    ListeningContact,
    ListeningFollowUp,
    ListeningQuestion,
    Membership,
    Person,
)

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_DOC = ROOT / "docs" / "benchmarks-listening.md"
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
INSTITUTIONS = 40

FRAGMENTS = {
    "en": [
        "The damp in our flat is making the kids ill",
        "the landlord won't fix the mould",
        "we've been on the council housing list for six years",
        "rent went up again and I can't keep up",
        "you can never get a GP appointment",
        "my son's mental health is suffering and CAMHS has a two year waiting list",
        "I feel so lonely since my husband died",
        "no buses after 7pm so I can't get to my night shift",
        "the bus fares are too much for a family",
        "we use the food bank every week now",
        "after the bills there's nothing left for food",
        "universal credit doesn't cover the heating",
        "I'm on a zero hours contract and never know what I'll earn",
        "they should pay the living wage at the warehouse",
        "knife crime near the school, the kids are scared",
        "drug dealing in the park at night",
        "racist abuse at the bus stop",
        "my daughter was spat at for wearing a hijab",
        "asylum seekers wait years for the Home Office",
        "no internet at home so the kids can't do homework",
        "potholes everywhere and fly tipping in the alley",
        "the park needs a proper playground",
        "I love my neighbours, everyone looks out for each other",
        "the people at church are like family",
        "it's a friendly place",
        "more things for young people to do",
    ],
    "pl": [
        "Mieszkanie jest za drogie, czynsz rośnie co roku",
        "właściciel nic nie naprawia",
        "nie ma lekarza, czekam trzy tygodnie na wizytę",
        "brak autobusów wieczorem",
        "pensja nie wystarcza na rachunki",
        "chodzę do banku żywności",
        "boję się wracać w nocy",
        "uchodźcy czekają latami na decyzję",
        "sąsiedzi są bardzo mili",
        "brak miejsc w przedszkolu",
    ],
    "cy": [
        "mae'r rhent yn rhy uchel",
        "does dim tai cymdeithasol",
        "dim digon o fysiau",
        "mae costau byw yn codi",
        "mae'n anodd cael apwyntiad gyda'r meddyg",
        "mae'r cymdogion yn garedig iawn",
        "tyllau yn y ffordd ym mhobman",
    ],
}


def generate_answers(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(language, text): 75% English, 17% Polish, 8% Welsh; one to four fragments each."""
    out = []
    for _ in range(count):
        roll = rng.random()
        lang = "en" if roll < 0.75 else "pl" if roll < 0.92 else "cy"
        parts = rng.sample(FRAGMENTS[lang], k=rng.choice((1, 1, 2, 2, 3, 4)))
        out.append((lang, ". ".join(parts) + rng.choice((".", "", "!", " x"))))
    return out


def best_rate(func_: Callable[[], object], items: int, runs: int) -> tuple[float, float]:
    """(median seconds, items per second) over ``runs`` runs after a warm-up."""
    func_()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func_()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return median, items / median


def bench_memory(answers: list[tuple[str, str]], runs: int) -> list[tuple[str, float, float]]:
    specs = load_theme_specs()
    rules = [(i, p) for i, s in enumerate(specs) for ps in s.rules.values() for p in ps]
    start = time.perf_counter()
    matcher = Matcher(rules)
    compile_ms = (time.perf_counter() - start) * 1000
    texts = [t for _, t in answers]
    rows = []
    for name, work in (
        ("baseline: Python loop, str.lower()", lambda: [t.lower() for t in texts]),
        ("baseline: the bot's normaliser only", lambda: [normalise(t) for t in texts]),
        ("tagging: Matcher.themes (10 themes)", lambda: [matcher.themes(t) for t in texts]),
    ):
        seconds, rate = best_rate(work, len(texts), runs)
        rows.append((name, seconds, rate))
    tagged = sum(1 for t in texts if matcher.themes(t))
    print(
        f"matcher: {len(rules)} rules compiled in {compile_ms:.1f} ms; "
        f"{tagged / len(texts):.0%} of answers get a theme"
    )
    return rows


# -- database -----------------------------------------------------------------------------------


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def seed(db: Database, answers: list[tuple[str, str]], rng: random.Random) -> int:
    people_count = max(1, int(len(answers) / 2.5))
    async with db.session() as s:
        await s.execute(
            insert(Institution),
            [
                {
                    "name": f"Institution {i:03d}",
                    "kind": "faith",
                    "status": "member",
                    "created_at": NOW,
                }
                for i in range(INSTITUTIONS)
            ],
        )
        await s.execute(
            insert(Person),
            [
                {
                    "name": f"Person {n}",
                    "phone": f"+4477009{n:05d}",
                    "phone_status": "ok",
                    "language": "en",
                    "timezone": "Europe/London",
                    "consent": "opted_in",
                    "consent_source": "import",
                    "consent_at": NOW,
                    "telegram_status": "ok",
                    "created_at": NOW,
                }
                for n in range(people_count)
            ],
        )
        person_ids = list(await s.scalars(select(Person.id).order_by(Person.id)))
        institution_ids = list(await s.scalars(select(Institution.id)))
        memberships = []
        for pid in person_ids:
            roll = rng.random()
            if roll < 0.25:
                continue
            chosen = rng.sample(institution_ids, k=2 if roll > 0.95 else 1)
            memberships += [
                {"person_id": pid, "institution_id": iid, "role": "member", "created_at": NOW}
                for iid in chosen
            ]
        for chunk in _chunks(memberships, 5000):
            await s.execute(insert(Membership), chunk)
        campaign = await create_campaign(
            s,
            slug="bench-listens",
            title="Bench Listens",
            questions=[{"en": "What is the biggest issue?"}, {"en": "What do you love?"}],
            now=NOW - timedelta(days=30),
            themes=load_theme_specs(),
            target=len(person_ids),
        )
        questions = list(
            await s.scalars(
                select(ListeningQuestion.id).where(ListeningQuestion.campaign_id == campaign.id)
            )
        )
        rows = []
        owner = []
        for i, (lang, body) in enumerate(answers):
            pid = person_ids[i % len(person_ids)]
            owner.append(pid)
            rows.append(
                {
                    "campaign_id": campaign.id,
                    "person_id": pid,
                    "question_id": questions[i // len(person_ids) % 2],
                    "body": body,
                    "language": lang,
                    "source": "sms",
                    "received_at": NOW - timedelta(minutes=rng.randrange(0, 30 * 24 * 60)),
                    "tag_source": "none",
                }
            )
        for chunk in _chunks(rows, 5000):
            await s.execute(insert(ListeningAnswer), chunk)
        contacts = []
        consented = []
        for pid in dict.fromkeys(owner):
            consent = rng.choice(("yes", "yes", "no", None))
            contacts.append(
                {
                    "campaign_id": campaign.id,
                    "person_id": pid,
                    "status": "done",
                    "step": 2,
                    "channel": "sms",
                    "asked_at": NOW - timedelta(days=20),
                    "first_answer_at": NOW - timedelta(days=rng.randrange(2, 29)),
                    "last_answer_at": NOW - timedelta(days=1),
                    "consent": consent,
                    "consent_at": NOW - timedelta(days=1) if consent else None,
                    "source": "sent",
                    "created_at": NOW - timedelta(days=30),
                }
            )
            if consent == "yes":
                consented.append(pid)
        for chunk in _chunks(contacts, 5000):
            await s.execute(insert(ListeningContact), chunk)
        followed = rng.sample(consented, k=len(consented) // 3)
        for chunk in _chunks(
            [
                {
                    "campaign_id": campaign.id,
                    "person_id": pid,
                    "by_name": "Grace",
                    "note": "",
                    "channel": "cli",
                    "at": NOW,
                }
                for pid in followed
            ],
            5000,
        ):
            await s.execute(insert(ListeningFollowUp), chunk)
        action = Action(
            slug="housing-action",
            title="Housing action",
            kind="action",
            starts_at=NOW - timedelta(days=1),
            ends_at=NOW - timedelta(hours=22),
            place="Town Hall",
            bring="",
            status="scheduled",
            revision=0,
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(action)
        await s.flush()
        came = rng.sample(person_ids, k=len(person_ids) // 10)
        for chunk in _chunks(
            [
                {
                    "action_id": action.id,
                    "person_id": pid,
                    "source": "checkin",
                    "at": action.starts_at,
                }
                for pid in came
            ],
            5000,
        ):
            await s.execute(insert(Attendance), chunk)
        return campaign.id


async def timed(work: Callable[[], Awaitable[object]], runs: int) -> float:
    await work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def bench_database(
    url: str, answers: list[tuple[str, str]], runs: int
) -> list[tuple[str, float, str]]:
    db = Database.from_url(url)  # pooled, as the app runs: timings exclude connecting
    await upgrade(db.engine)
    rng = random.Random(5)
    start = time.perf_counter()
    campaign_id = await seed(db, answers, rng)
    print(f"  seeded in {time.perf_counter() - start:.1f} s")
    async with db.session() as s:
        await s.execute(text("ANALYZE"))
    rows: list[tuple[str, float, str]] = []

    async def count() -> object:
        async with db.session() as s:
            return await s.scalar(select(func.count()).select_from(ListeningAnswer))

    baseline = await timed(count, runs)
    rows.append(("baseline: SELECT count(*) FROM listening_answers", baseline, ""))

    async def tag_all() -> object:
        async with db.session() as s:
            return await retag_campaign(s, campaign_id)

    # The first pass writes every answer's themes (the same work as tagging on arrival, in
    # bulk); later passes, as after an organiser's rule edit, write only what changed.
    start = time.perf_counter()
    await tag_all()
    seconds = time.perf_counter() - start
    rows.append(
        (
            "tag every answer, first time (all writes)",
            seconds,
            f"{len(answers) / seconds:,.0f} answers/s",
        )
    )
    async with db.session() as s:
        await s.execute(text("ANALYZE"))
        campaign = await s.get_one(ListeningCampaign, campaign_id)
        housing = await theme_by_key(s, campaign_id, "housing")
    flip = [True]

    async def rule_edit() -> object:
        # Alternately add and remove one rule, then re-tag: a realistic organiser edit.
        async with db.session() as s:
            if flip[0]:
                await add_rule(s, housing, "en", "flat")
            else:
                await remove_rule(s, housing, "en", "flat")
            flip[0] = not flip[0]
            return await retag_campaign(s, campaign_id)

    seconds = await timed(rule_edit, runs)
    rows.append(
        (
            "rule edit + re-tag (writes the changes)",
            seconds,
            f"{len(answers) / seconds:,.0f} answers/s",
        )
    )

    raw_group = text(
        "SELECT t.theme_id, count(*), count(DISTINCT a.person_id) "
        "FROM listening_answer_themes t JOIN listening_answers a ON a.id = t.answer_id "
        "WHERE a.campaign_id = :c GROUP BY t.theme_id"
    )

    async def raw() -> object:
        async with db.session() as s:
            return (await s.execute(raw_group, {"c": campaign_id})).all()

    raw_seconds = await timed(raw, runs)
    rows.append(("baseline: raw join + GROUP BY theme (SQL)", raw_seconds, ""))
    for name, work in (
        ("theme table (per theme x institution)", lambda s: theme_table(s, campaign)),
        (
            "theme table with quotes",
            lambda s: theme_table(s, campaign, quotes=QUOTES_PER_THEME),
        ),
        ("pipeline per institution", lambda s: pipeline(s, NOW, campaign=campaign)),
        ("follow-ups waiting (list)", lambda s: waiting_for_follow_up(s, NOW, campaign=campaign)),
        ("digest summary", lambda s: listening_summary(s, NOW)),
    ):

        async def run(work: Any = work) -> object:
            async with db.session() as s:
                return await work(s)

        seconds = await timed(run, runs)
        rows.append((name, seconds, f"{seconds / raw_seconds:.1f}x the raw GROUP BY"))
    async with db.session() as s:
        table = await theme_table(s, campaign)
        result = await pipeline(s, NOW, campaign=campaign)
    top = ", ".join(f"{r.key} {r.people:,}" for r in table.rows[:3])
    print(f"  top themes (people): {top}; untagged answers {table.untagged:,}")
    t = result.total
    print(f"  pipeline: {t.listened:,} -> {t.consented:,} -> {t.followed_up:,} -> {t.came:,}")
    await db.dispose()
    return rows


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


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(42)
    answers = generate_answers(args.answers, rng)
    avg = statistics.mean(len(t) for _, t in answers)
    print(f"{len(answers):,} answers, {avg:.0f} characters on average")
    memory = bench_memory(answers, args.runs)
    for name, seconds, rate in memory:
        print(f"  {name}: {seconds * 1000:.0f} ms, {rate:,.0f} answers/s")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, list[tuple[str, float, str]]] = {}
    for backend in backends:
        print(f"{backend}:")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                results[backend] = await bench_database(url, answers, args.runs)
        else:
            url, drop = await pg_database(os.environ.get("TURNOUT_BENCH_DATABASE_URL", DEFAULT_PG))
            try:
                results[backend] = await bench_database(url, answers, args.runs)
            finally:
                await drop()
        for name, seconds, note in results[backend]:
            print(f"  {name}: {seconds * 1000:.1f} ms {note}")
    if args.doc:
        write_doc(Path(args.doc), args, answers, memory, results)


def write_doc(
    path: Path,
    args: argparse.Namespace,
    answers: list[tuple[str, str]],
    memory: list[tuple[str, float, float]],
    results: dict[str, list[tuple[str, float, str]]],
) -> None:
    lower = memory[0][2]
    tagging = memory[-1][2]
    mem_rows = [
        [name, f"{seconds * 1000:,.0f} ms", f"{rate:,.0f}", f"{rate / lower:.2f}"]
        for name, seconds, rate in memory
    ]
    db_rows = []
    for name in [n for n, _, _ in next(iter(results.values()))]:
        cells = [name]
        for backend in results:
            seconds, note = next((s, n) for n_, s, n in results[backend] if n_ == name)
            cells.append(f"{seconds * 1000:,.1f} ms" + (f" ({note})" if note else ""))
        db_rows.append(cells)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load} at the end of the run"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Benchmark: listening themes and rollups\n\n"
        "`bench/listening_themes.py` (issue 5): theme tagging throughput and the theme / "
        f"pipeline rollups over {len(answers):,} generated answers (English, Polish and Welsh "
        f"fragments, {statistics.mean(len(t) for _, t in answers):.0f} characters on average), "
        "with baselines measured in the same run. Medians of "
        f"{args.runs} runs after a warm-up; {machine}. On a shared machine absolute times "
        "move from run to run: read the ratios, measured side by side in one run.\n\n"
        "## Tagging in memory\n\n"
        "The default themes (config/themes.toml) compiled into one `Matcher`; "
        "ratio = throughput / the `str.lower()` loop's.\n\n"
        + markdown(["work", f"{len(answers):,} answers", "answers/s", "ratio"], mem_rows)
        + f"\n\nTagging runs at {tagging:,.0f} answers a second, "
        f"{lower / tagging:.0f} times slower than merely lowercasing the text; "
        f"{memory[1][1] / memory[-1][1]:.0%} of its time is the normaliser the whole bot "
        "shares (case, accents, punctuation), the rule lookups are the rest. The 10,500 "
        "answers of the largest listening in the seeds "
        f"tag in {10_500 / tagging * 1000:.0f} ms.\n\n"
        "## In the database\n\n"
        f"One campaign, {len(answers):,} answers from {int(len(answers) / 2.5):,} people in "
        f"{INSTITUTIONS} institutions (a quarter in none, 5% in two), consent, follow-ups, "
        "attendance; `ANALYZE` after loading. The first tagging pass reads every answer, runs "
        "the rules and writes every theme link (answers arriving one by one are tagged as they "
        "arrive instead); a rule edit re-runs the rules on every answer and writes only the "
        "changes. Rollup ratios are to the raw join + `GROUP BY` in SQL.\n\n"
        + markdown(["work", *results], db_rows)
        + "\n\nReproduce: `.venv/bin/python bench/listening_themes.py` (PostgreSQL on "
        "`TURNOUT_BENCH_DATABASE_URL`; the script creates and drops its own database).\n",
        encoding="utf-8",
    )
    print(f"wrote {path}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--doc", default=str(DEFAULT_DOC))
    parser.add_argument("--no-doc", dest="doc", action="store_const", const="")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
