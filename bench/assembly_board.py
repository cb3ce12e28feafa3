"""Assembly day (issue 11): the rollup from the live counters, and live boards under HERE texts.

    .venv/bin/python bench/assembly_board.py                 # both parts, figures into docs
    .venv/bin/python bench/assembly_board.py --part rollup --people 200000 --no-doc
    .venv/bin/python bench/assembly_board.py --part boards --boards 500 --rate 50 --seconds 20

(a) ``--part rollup`` (PostgreSQL, TURNOUT_BENCH_DATABASE_URL): the 1,000,000-RSVP data set of
bench/digest_query.py (the same load statements), then the counters filled from the raw rows
(``storage.counters.repair``: what ``turnout counters verify --repair`` does, timed), then, in
the same run and interleaved: ``counters.counted_rollup`` (what a board reads), the raw
``GROUP BY`` of bench/digest_query.py (the baseline), ``storage.rollup.action_rollup`` (the
reference) and ``counters.drift`` (the nightly verify). The counted rollup is checked equal to
the reference, row for row.

(b) ``--part boards`` (SQLite): the app (``bot.app.create_app``) in its own process with an
assembly under way (20 institutions, one person per HERE); this process opens ``--boards``
server-sent-event streams on one board link and texts HERE through the signed Twilio webhook
at ``--rate`` a second for ``--seconds``, each from a different person. For every text and every
board: the time from the webhook's answer to the first event at that board showing a total that
includes it (p50 / p99 / max); and the server's CPU time per text. Baseline in the same run: the
same texts with no board open (CPU per text, the webhook's own latency).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bench.digest_query import LOAD, RAW_GROUP_BY  # noqa: E402
from bench.digest_query import T0 as LOAD_T0  # noqa: E402
from config.settings import Settings  # noqa: E402
from storage import counters, links  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Action, Institution, Membership, Person  # noqa: E402
from storage.rollup import Rollup, action_rollup  # noqa: E402
from tests.twilio_signing import encode, inbound_form, sign  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PUBLIC_URL = "http://bench.example.org"
PATH = "/webhooks/twilio/sms"
ROLLUP_TARGET_MS = 20.0
BOARD_TARGET_MS = 1000.0
# The boards' assembly: under way at T0 (it began ten minutes before).
T0 = datetime(2026, 3, 19, 18, 10, tzinfo=UTC)
ARRIVED = re.compile(rb"data-arrived>(\d+)<")
DOC = ROOT / "docs" / "benchmarks.md"
ROLLUP_NOTE = (
    " Its cost does not grow with the RSVPs, only with the institutions (1,000 rows). Earlier "
    "runs on 2026-11-30, before it read plain tuples in two queries and the totals were summed "
    "a column at a time, gave 40 ms and then 23 ms."
)
BOARDS_NOTE = (
    "\n\nThe latencies move with the machine's load; the CPU per text is the steadier figure. "
    "Runs on 2026-11-30 before a board's state was sent as one line (an SSE event is written "
    "line by line, to every open board) and with aiohttp's client holding the streams gave a "
    "p99 of 2.5 s and then 1.3 s at 500 boards, with the webhook itself queueing: at load "
    "averages of 6 to 7 from other work the server got about a third of a core."
)
HEADING = "## Assembly board"


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs "
        f"({platform.machine()}), load average {load[0]:.1f} at the start (a shared machine)"
    )


# --------------------------------------------------------------------------- (a) the rollup


def rows_of(rollup: Rollup) -> list[tuple[Any, ...]]:
    every = [*rollup.rows, rollup.no_institution, rollup.unique]
    return [
        (r.institution_id, r.committed, r.yes, r.guests, r.maybe, r.no, r.not_replied, r.attended)
        for r in every
    ]


async def part_rollup(args: argparse.Namespace) -> tuple[str, list[str]]:
    base = make_url(os.environ.get("TURNOUT_BENCH_DATABASE_URL", DEFAULT_URL))
    name = f"turnout_bench_{uuid.uuid4().hex[:10]}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = Database.from_url(base.render_as_string(hide_password=False), poolclass=NullPool)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
        version = (await conn.execute(text("SHOW server_version"))).scalar()
    db = Database.from_url(url)
    setup = machine()
    try:
        await upgrade(db.engine)
        start = time.perf_counter()
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in LOAD:
                params = {"t": LOAD_T0, "people": args.people, "institutions": args.institutions}
                names = {k: v for k, v in params.items() if f":{k}" in statement}
                await conn.execute(text(statement), names)
        load_s = time.perf_counter() - start
        async with db.session() as s:
            action = await s.get_one(Action, 1)
            start = time.perf_counter()
            repaired = await counters.repair(s, action, LOAD_T0)
            repair_s = time.perf_counter() - start
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE action_counters"))

        async def counted() -> Any:
            async with db.session() as s:
                return await counters.counted_rollup(s, action)

        async def raw() -> Any:
            async with db.session() as s:
                return (await s.execute(text(RAW_GROUP_BY), {"action": action.id})).all()

        async def reference() -> Any:
            async with db.session() as s:
                return await action_rollup(s, action)

        async def verify() -> Any:
            async with db.session() as s:
                return await counters.drift(s, action)

        funcs = {
            "counted_rollup (the counters: what a board reads)": counted,
            "raw GROUP BY (institution, response), as bench/digest_query.py": raw,
            "action_rollup (the raw-row reference)": reference,
            "counters.drift (the nightly verify)": verify,
        }
        times: dict[str, list[float]] = {label: [] for label in funcs}
        values = {label: await func() for label, func in funcs.items()}  # warm-up
        for _ in range(args.runs):
            for label, func in funcs.items():
                start = time.perf_counter()
                values[label] = await func()
                times[label].append((time.perf_counter() - start) * 1000)
        assert rows_of(values[next(iter(funcs))]) == rows_of(
            values["action_rollup (the raw-row reference)"]
        ), "the counted rollup differs from the reference"
        assert values["counters.drift (the nightly verify)"] == []
    finally:
        await db.dispose()
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    raw_ms = statistics.median(
        times["raw GROUP BY (institution, response), as bench/digest_query.py"]
    )
    lines = [
        "| query | median ms | min ms | max ms | x raw GROUP BY |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, ms in times.items():
        med = statistics.median(ms)
        lines.append(
            f"| {label} | {med:.1f} | {min(ms):.1f} | {max(ms):.1f} | {med / raw_ms:.3f} |"
        )
    counted_ms = statistics.median(times["counted_rollup (the counters: what a board reads)"])
    verdict = "meets" if counted_ms < ROLLUP_TARGET_MS else "MISSES"
    text_ = (
        f"PostgreSQL {version}; {args.people:,} RSVPs for the action across "
        f"{args.institutions:,} institutions (bench/digest_query.py's data set), loaded in "
        f"{load_s:.0f} s; counters filled from the raw rows by `counters.repair` in "
        f"{repair_s:.1f} s ({len(repaired):,} values); {args.runs} interleaved runs after a "
        f"warm-up; {setup}.\n\n" + "\n".join(lines) + "\n\n"
        f"The rollup from the counters: median {counted_ms:.1f} ms, {verdict} the "
        f"{ROLLUP_TARGET_MS:.0f} ms target; {raw_ms / counted_ms:.0f}x faster than the raw "
        f"GROUP BY ({raw_ms:.0f} ms) in the same run, and equal to the reference row for row."
        + ROLLUP_NOTE
    )
    summary = [
        f"| rollup of one action from the counters, {args.people:,} RSVPs, "
        f"{args.institutions:,} institutions, PostgreSQL | {counted_ms:.1f} ms median | raw "
        f"`GROUP BY`: {raw_ms:.0f} ms | {counted_ms / raw_ms:.3f}x | < 20 ms | "
        f"{'yes' if verdict == 'meets' else 'no'} |"
    ]
    return text_, summary


# --------------------------------------------------------------------------- (b) the boards


def phone(n: int) -> str:
    return f"+4477009{n:05d}"


async def seed_boards(url: str, people: int, institutions: int) -> str:
    """An assembly under way, ``institutions`` institutions with a pledge each, ``people``
    people each in one of them; a board link. Returns its token."""
    db = Database.from_url(url)
    await upgrade(db.engine)
    now = T0 - timedelta(days=1)
    async with db.session() as s:
        await s.execute(
            insert(Institution),
            [
                {
                    "name": f"Institution {i:02d}",
                    "kind": "faith",
                    "status": "member",
                    "created_at": now,
                }
                for i in range(1, institutions + 1)
            ],
        )
        await s.execute(
            insert(Person),
            [
                {
                    "name": f"Person {n}",
                    "phone": phone(n),
                    "phone_status": "ok",
                    "language": "en",
                    "timezone": "Europe/London",
                    "consent": "opted_in",
                    "consent_source": "import",
                    "consent_at": now,
                    "telegram_status": "ok",
                    "introduced_at": now,
                    "created_at": now,
                }
                for n in range(1, people + 1)
            ],
        )
        await s.execute(
            insert(Membership),
            [
                {
                    "person_id": n,
                    "institution_id": 1 + n % institutions,
                    "role": "member",
                    "created_at": now,
                }
                for n in range(1, people + 1)
            ],
        )
        action = Action(
            slug="assembly",
            title="Accountability Assembly",
            kind="assembly",
            starts_at=T0 - timedelta(minutes=10),
            ends_at=T0 + timedelta(hours=2),
            place="De Montfort Hall",
            bring="",
            target=people,
            status="scheduled",
            revision=0,
            created_at=now,
            updated_at=now,
        )
        s.add(action)
        await s.flush()
        for i in range(1, institutions + 1):
            await counters.touched(s, action.id, i, now)
        _link, token = await links.create_link(s, kind="board", action_id=action.id, now=now)
    await db.dispose()
    return token


def serve(url: str) -> None:
    asyncio.run(_serve(url))


async def _serve(url: str) -> None:
    from bot.app import create_app
    from config.clock import RunningClock
    from config.logs import setup_logging

    settings = Settings.from_env(
        {"TURNOUT_DATABASE_URL": url, "TURNOUT_PUBLIC_URL": PUBLIC_URL}, env_file=None
    )
    setup_logging(settings)
    db = Database.from_url(settings.database_url)
    app = create_app(settings, db=db, clock=RunningClock(T0))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    await runner.cleanup()
    await db.dispose()


class ServerProcess:
    def __init__(self, url: str, log: Path) -> None:
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", url],
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError("the app did not start:\n" + log.read_text(errors="replace")[-3000:])
        self.port = int(line.split()[1])

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Board:
    values: list[int] = field(default_factory=list)  # each new total seen, increasing
    times: list[float] = field(default_factory=list)
    events: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)


async def watch(port: int, path: str, board: Board) -> None:
    """One EventSource, read over a raw socket (a few microseconds a chunk, so 500 of them
    leave the CPU to the server): each new total seen, and when."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    tail = b""
    try:
        while chunk := await reader.read(65536):
            now = time.monotonic()
            data = tail + chunk
            found = ARRIVED.findall(data)
            tail = data[-40:]
            if found:
                board.events += len(found)
                value = max(int(v) for v in found)
                if not board.values or value > board.values[-1]:
                    board.values.append(value)
                    board.times.append(now)
                board.ready.set()
    finally:
        writer.close()


@dataclass
class Phase:
    boards: int
    texts: int
    answered: list[float]
    webhook_ms: list[float]
    cpu_s: float
    latencies_ms: list[float]
    missed: int
    events: int


async def text_here(
    http: aiohttp.ClientSession, base: str, token: str, n: int, out: list[float], ms: list[float]
) -> None:
    form = inbound_form(f"SM{n:032d}", phone(n), "HERE")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(token, PUBLIC_URL + PATH, form),
    }
    start = time.monotonic()
    async with http.post(base + PATH, data=encode(form), headers=headers) as resp:
        await resp.read()
        assert resp.status == 200, resp.status
    done = time.monotonic()
    out.append(done)
    ms.append((done - start) * 1000)


async def run_phase(
    server: ServerProcess,
    settings: Settings,
    board_token: str,
    *,
    boards: int,
    rate: float,
    seconds: float,
    first: int,
    arrived_before: int,
) -> Phase:
    base = f"http://127.0.0.1:{server.port}"
    watchers: list[Board] = [Board() for _ in range(boards)]
    async with aiohttp.ClientSession() as texts:
        tasks = [
            asyncio.create_task(watch(server.port, f"/board/{board_token}/live", b))
            for b in watchers
        ]
        await asyncio.wait_for(asyncio.gather(*(b.ready.wait() for b in watchers)), 120)
        count = int(rate * seconds)
        answered: list[float] = []
        webhook_ms: list[float] = []
        cpu = server.cpu_seconds()
        start = time.monotonic()
        sends = []
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sends.append(
                asyncio.create_task(
                    text_here(
                        texts,
                        base,
                        settings.webhook_auth_token.get(),
                        first + i,
                        answered,
                        webhook_ms,
                    )
                )
            )
        await asyncio.gather(*sends)
        final = arrived_before + count
        deadline = time.monotonic() + 10
        while watchers and time.monotonic() < deadline:
            if all(b.values and b.values[-1] >= final for b in watchers):
                break
            await asyncio.sleep(0.05)
        cpu_s = server.cpu_seconds() - cpu
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies: list[float] = []
    missed = 0
    answered.sort()
    for b in watchers:
        for k, at in enumerate(answered, start=1):
            i = bisect.bisect_left(b.values, arrived_before + k)
            if i == len(b.values):
                missed += 1
                continue
            latencies.append(max(0.0, (b.times[i] - at) * 1000))
    return Phase(
        boards,
        count,
        answered,
        webhook_ms,
        cpu_s,
        latencies,
        missed,
        sum(b.events for b in watchers),
    )


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def part_boards(args: argparse.Namespace) -> tuple[str, list[str]]:
    setup = machine()
    counts = [int(n) for n in str(args.boards).split(",")]
    count = int(args.rate * args.seconds)
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'boards.db'}"
        token = await seed_boards(url, (1 + len(counts)) * count + 10, args.institutions_on_board)
        settings = Settings.from_env(
            {"TURNOUT_DATABASE_URL": url, "TURNOUT_PUBLIC_URL": PUBLIC_URL}, env_file=None
        )
        server = ServerProcess(url, Path(tmp) / "app.log")
        try:
            for i, boards in enumerate([0, *counts]):
                phases.append(
                    await run_phase(
                        server,
                        settings,
                        token,
                        boards=boards,
                        rate=args.rate,
                        seconds=args.seconds,
                        first=1 + i * count,
                        arrived_before=i * count,
                    )
                )
        finally:
            server.stop()
    baseline = phases[0]
    per_text_base = baseline.cpu_s / baseline.texts * 1000
    lines = [
        "| run | texts | boards | p50 ms to the board | p99 ms | max ms | missed "
        "| webhook p50 / p99 ms | server CPU per text | events delivered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ph in phases:
        label = f"{ph.boards} boards open" if ph.boards else "no board open (baseline)"
        lines.append(
            f"| {label} | {ph.texts} | {ph.boards} | "
            + (
                f"{pct(ph.latencies_ms, 50):.0f} | {pct(ph.latencies_ms, 99):.0f} | "
                f"{max(ph.latencies_ms):.0f} | {ph.missed}"
                if ph.boards
                else "- | - | - | -"
            )
            + f" | {pct(ph.webhook_ms, 50):.0f} / {pct(ph.webhook_ms, 99):.0f} | "
            f"{ph.cpu_s / ph.texts * 1000:.1f} ms | {ph.events:,} |"
        )
    verdicts = []
    summary = []
    for ph in phases[1:]:
        p99 = pct(ph.latencies_ms, 99)
        per_text = ph.cpu_s / ph.texts * 1000
        met = p99 < BOARD_TARGET_MS and ph.missed == 0
        verdicts.append(
            f"{ph.boards} boards: p99 {p99:.0f} ms ({'meets' if met else 'MISSES'} the 1 s "
            f"target), {per_text:.1f} ms of server CPU per text ({per_text / per_text_base:.1f}x "
            f"the {per_text_base:.1f} ms with no board open)"
        )
        summary.append(
            f"| {ph.boards} open boards, {args.rate:g} HERE texts/s through the signed webhook, "
            f"SQLite | p99 {p99:.0f} ms webhook answer -> board, {per_text:.1f} ms server CPU "
            f"per text | no board open: {per_text_base:.1f} ms CPU per text | "
            f"{per_text / per_text_base:.1f}x CPU | p99 < 1 s | {'yes' if met else 'no'} |"
        )
    text_ = (
        f"SQLite (the default); the app in its own process, this process the EventSource "
        f"clients (raw sockets) and the texter, on the same 2 cores; {args.rate:g} HERE texts "
        f"a second for {args.seconds:g} s per run through the signed webhook, each from a "
        f"different person, {args.institutions_on_board} institutions on the board; {setup}.\n\n"
        + "\n".join(lines)
        + "\n\nFrom the webhook's answer to the event at each board (every text x every "
        "board): "
        + "; ".join(verdicts)
        + ". The boards' share of the CPU is the rendering of each new state once and its "
        "fan-out to every open stream; states in between are skipped, never queued (the "
        "events delivered per board are far fewer than the texts)." + BOARDS_NOTE
    )
    return text_, summary


# --------------------------------------------------------------------------- the page


def write_doc(sections: list[tuple[str, str]], summary: list[str], command: str) -> None:
    today = datetime.now(UTC).date().isoformat()
    body = [
        f"{HEADING}",
        "",
        f"`bench/assembly_board.py` (issue 11, part A), run {today}: `{command}`.",
        "",
        "| what | result | baseline in the same run | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
        *summary,
        "",
    ]
    for title, section in sections:
        body += [f"### {title}", "", section, ""]
    page = DOC.read_text(encoding="utf-8")
    start = page.find(f"\n{HEADING}\n")
    if start >= 0:  # replace our own section only
        end = page.find("\n## ", start + 1)
        page = page[: start + 1] + page[end + 1 :] if end >= 0 else page[: start + 1]
    DOC.write_text(
        page.rstrip("\n") + "\n\n" + "\n".join(body).rstrip("\n") + "\n", encoding="utf-8"
    )
    print(f"wrote {DOC}")


async def main(args: argparse.Namespace) -> int:
    sections: list[tuple[str, str]] = []
    summary: list[str] = []
    if args.part in ("rollup", "both"):
        section, rows = await part_rollup(args)
        print(section, "\n")
        sections.append(("The rollup from the counters", section))
        summary += rows
    if args.part in ("boards", "both"):
        section, rows = await part_boards(args)
        print(section, "\n")
        sections.append(("Live boards under HERE texts", section))
        summary += rows
    if args.doc:
        write_doc(sections, summary, "python bench/assembly_board.py " + " ".join(sys.argv[1:]))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("rollup", "boards", "both"), default="both")
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--institutions", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--boards", default="500,100", help="open boards per run, comma-separated (500,100)"
    )
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--institutions-on-board", type=int, default=20)
    parser.add_argument("--no-doc", dest="doc", action="store_false")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve:
        serve(arguments.serve)
        sys.exit(0)
    sys.exit(asyncio.run(main(arguments)))
