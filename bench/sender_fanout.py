"""Fan out invitations to a fake Twilio API capped at a rate, with one and with two workers.

    .venv/bin/python bench/sender_fanout.py [--messages 100000] [--rate 500] [--workers 1,2]

PostgreSQL at TURNOUT_BENCH_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/
test): a private database is created for the run and dropped after. The fake Twilio API
(tests/fakes/twilio_api.py) runs in its own process and answers 429 above the cap (a token
bucket, a tenth of a second deep). Each worker is its own process running the real worker
(bot.compose.running_worker: APScheduler metronome, Sender, TwilioSms channel), with
TURNOUT_SMS_RATE_PER_SECOND set to the cap; quiet hours are switched off for the run.

Reported per run: achieved rate while sending (accepted messages over the span from the first to
the last accepted, as the fake saw them) as a share of the cap, the same including process start,
duplicates (messages the fake created twice for one recipient, and outbox rows not sent exactly
once), 429s received, CPU time per message (all workers, user + system), peak RSS per worker.
Baseline, measured in the same run: a trivial aiohttp loop posting the same form at the same pace
to the same fake. Results go to stdout and docs/benchmarks-sender.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from config.clock import SystemClock  # noqa: E402
from config.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import OutboxMessage, Person  # noqa: E402
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
FROM = "+447700900000"
BODY = (
    "Leicester Citizens: you're invited to the Accountability Assembly, Thu 12 Mar 18:30 at "
    "De Montfort Hall. Will you come? Reply YES, NO or MAYBE. STOP to opt out."
)


def worker_env(db_url: str, api_url: str, rate: float) -> dict[str, str]:
    return {
        "TURNOUT_DATABASE_URL": db_url,
        "TURNOUT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TURNOUT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TURNOUT_TWILIO_FROM": FROM,
        "TURNOUT_TWILIO_API_URL": api_url,
        "TURNOUT_SMS_RATE_PER_SECOND": str(rate),
        "TURNOUT_QUIET_START": "00:00",
        "TURNOUT_QUIET_END": "00:00",
        "TURNOUT_LOG_LEVEL": "WARNING",
    }


# -- the worker process ---------------------------------------------------------------------------


async def run_as_worker(worker_id: str) -> None:
    """One worker process: the real worker until the outbox has nothing left to send."""
    from bot.compose import running_worker

    settings = Settings.from_env(env_file=None)
    db = Database.from_url(settings.database_url)
    async with running_worker(
        db, settings, SystemClock(), worker_id=worker_id, jobs=False
    ) as worker:
        while True:
            await asyncio.sleep(0.5)
            async with db.session() as s:
                left = await s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(("queued", "sending")))
                )
            if not left:
                break
        stats = dict(worker.sender.stats)
    await db.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "cpu": usage.ru_utime + usage.ru_stime,
                "maxrss_kb": usage.ru_maxrss,
                "stats": stats,
            }
        ),
        flush=True,
    )


# -- the driver -----------------------------------------------------------------------------------


async def populate(db: Database, n: int) -> None:
    now = SystemClock().now()
    async with db.session() as s:
        await s.execute(text("TRUNCATE outbox, delivery_events, send_rate_buckets, people CASCADE"))
    chunk = 10_000
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        async with db.session() as s:
            people = [
                {
                    "name": f"Resident {i}",
                    "phone": f"+4477009{i:05d}" if i < 100_000 else f"+4477008{i % 100_000:05d}",
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
                for i in range(start, stop)
            ]
            ids = list(
                await s.scalars(
                    insert(Person).returning(Person.id, sort_by_parameter_order=True), people
                )
            )
            await s.execute(
                insert(OutboxMessage),
                [
                    {
                        "dedupe_key": f"invite:1:{pid}",
                        "channel": "sms",
                        "person_id": pid,
                        "to_address": p["phone"],
                        "body": BODY,
                        "template": "invite",
                        "kind": "bulk",
                        "priority": 5,
                        "segments": 1,
                        "status": "queued",
                        "not_before": now,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for pid, p in zip(ids, people, strict=True)
                ],
            )


async def fake_stats(api_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{api_url}/_fake/stats") as r:
        return dict(await r.json())


async def fake_reset(api_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{api_url}/_fake/reset") as r:
        assert r.status == 200


async def run_workers(
    db: Database, db_url: str, api_url: str, n: int, k: int, rate: float
) -> dict[str, Any]:
    await populate(db, n)
    await fake_reset(api_url)
    env = {**os.environ, **worker_env(db_url, api_url, rate)}
    started = time.monotonic()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE),
            "--as-worker",
            f"bench-w{i}",
            env=env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE,
        )
        for i in range(k)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    wall = time.monotonic() - started
    reports = []
    for proc, (out, _) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed (exit {proc.returncode})")
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    fake = await fake_stats(api_url)
    async with db.session() as s:
        statuses = dict(
            (
                await s.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
            ).all()
        )
        distinct_ids = await s.scalar(select(func.count(func.distinct(OutboxMessage.provider_id))))
    cpu = sum(r["cpu"] for r in reports)
    return {
        "label": f"sender, {k} worker{'s' if k > 1 else ''}",
        "messages": n,
        "accepted": fake["accepted"],
        "steady_rate": (fake["accepted"] - 1) / fake["span"] if fake["span"] else 0.0,
        "overall_rate": fake["accepted"] / wall,
        "wall": wall,
        "throttled": fake["throttled"],
        "duplicates": fake["duplicates"] + (n - min(n, int(distinct_ids or 0))),
        "sent": statuses.get("sent", 0),
        "statuses": statuses,
        "cpu_per_msg_ms": 1000 * cpu / max(fake["accepted"], 1),
        "peak_rss_mb": max(r["maxrss_kb"] for r in reports) / 1024,
        "stats": [r["stats"] for r in reports],
    }


async def run_baseline(api_url: str, n: int, rate: float) -> dict[str, Any]:
    """A trivial paced aiohttp loop: message i is posted at start + i / rate."""
    await fake_reset(api_url)
    headers = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
    url = f"{api_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    cpu0 = time.process_time()
    start = time.monotonic()
    accepted = 0

    async with aiohttp.ClientSession(headers=headers) as http:

        async def post(i: int) -> None:
            nonlocal accepted
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            form = {"To": f"+4477009{i % 100_000:05d}", "From": FROM, "Body": BODY}
            async with http.post(url, data=form) as r:
                await r.read()
                accepted += r.status == 201

        await asyncio.gather(*(post(i) for i in range(n)))
    wall = time.monotonic() - start
    cpu = time.process_time() - cpu0
    fake = await fake_stats(api_url)
    return {
        "label": "baseline: paced aiohttp loop",
        "messages": n,
        "accepted": accepted,
        "steady_rate": (fake["accepted"] - 1) / fake["span"] if fake["span"] else 0.0,
        "overall_rate": accepted / wall,
        "wall": wall,
        "throttled": fake["throttled"],
        "duplicates": fake["duplicates"],
        "cpu_per_msg_ms": 1000 * cpu / max(accepted, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(results: list[dict[str, Any]], rate: float, baseline: dict[str, Any]) -> str:
    lines = [
        "| run | messages | achieved rate (share of cap) | incl. start-up | vs baseline | "
        "429s | duplicates | CPU per message | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [baseline, *results]:
        lines.append(
            f"| {r['label']} | {r['messages']:,} | {r['steady_rate']:.1f}/s "
            f"({100 * r['steady_rate'] / rate:.1f}%) | {r['overall_rate']:.1f}/s "
            f"({100 * r['overall_rate'] / rate:.1f}%) | "
            f"{r['steady_rate'] / baseline['steady_rate']:.3f} | {r['throttled']} | "
            f"{r['duplicates']} | {r['cpu_per_msg_ms']:.2f} ms | {r['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    base = make_url(os.environ.get("TURNOUT_BENCH_DATABASE_URL", DEFAULT_URL))
    name = f"turnout_fanout_{uuid.uuid4().hex[:10]}"
    db_url = base.set(database=name).render_as_string(hide_password=False)
    admin = Database.from_url(base.render_as_string(hide_password=False), poolclass=NullPool)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
        pg_version = await conn.scalar(text("SHOW server_version"))
    burst = args.rate * args.burst_seconds
    fake = subprocess.Popen(  # noqa: ASYNC220 (started once, before any timing)
        [
            sys.executable,
            "-m",
            "tests.fakes.twilio_api",
            "--rate",
            str(args.rate),
            "--burst",
            str(burst),
        ],
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        text=True,
    )
    db = Database.from_url(db_url)
    load_before = os.getloadavg()[0]
    try:
        assert fake.stdout is not None
        api_url = fake.stdout.readline().strip()
        await upgrade(db.engine)
        counts = [int(k) for k in args.workers.split(",")]
        baseline_n = min(args.messages, args.baseline_messages)
        print(f"baseline: {baseline_n:,} messages at {args.rate:g}/s ...", flush=True)
        baseline = await run_baseline(api_url, baseline_n, args.rate)
        results = []
        for k in counts:
            print(f"{k} worker(s): {args.messages:,} messages at {args.rate:g}/s ...", flush=True)
            results.append(await run_workers(db, db_url, api_url, args.messages, k, args.rate))
            print(json.dumps(results[-1], default=str), flush=True)
    finally:
        await db.dispose()
        fake.terminate()
        fake.wait()
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    report = table(results, args.rate, baseline)
    print(report)
    from datetime import datetime

    machine = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {pg_version}, "
        f"{datetime.now(UTC):%Y-%m-%d}; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    doc = f"""# Benchmark: sender fan-out

`bench/sender_fanout.py --messages {args.messages} --rate {args.rate:g}` ({machine}).

{args.messages:,} invitation rows (one person each, one GSM-7 segment) sent through the real worker
(APScheduler metronome, `Sender`, `TwilioSms`) to a fake Twilio API capped at {args.rate:g}
messages per second (a token bucket one second deep; it answers 429 when empty); each worker is
its own process and they share
the rate limit through a row in `send_rate_buckets`. The fake API, PostgreSQL and the workers share
the machine. "Achieved rate" is accepted messages over the span from the first to the last
accepted, as the fake API saw them; "incl. start-up" divides by the wall time from launching the
worker processes to the last one exiting. The baseline is a trivial aiohttp loop posting the same
form at the same pace to the same fake ({baseline_n:,} messages). Duplicates count messages the fake
created twice for one recipient plus outbox rows without their own provider id; CPU per message is
the workers' user + system time divided by accepted messages; the baseline's peak RSS is the
driver process holding all its requests at once, not comparable. Other work on the machine is
shown by the load average.

{report}

Target: at least 95% of the cap, 0 duplicates.
"""
    await asyncio.to_thread(Path(args.out).write_text, doc, encoding="utf-8")
    print(f"written to {args.out}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--baseline-messages", type=int, default=20_000)
    parser.add_argument(
        "--burst-seconds",
        type=float,
        default=1.0,
        help="the fake API's token bucket depth, in seconds of the cap",
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-sender.md"))
    parser.add_argument("--as-worker", metavar="ID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_worker:
        asyncio.run(run_as_worker(args.as_worker))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
