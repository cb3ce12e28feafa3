"""Inbound SMS webhooks end to end: signature, parse, store, handle, reply (issue 2).

    .venv/bin/python bench/inbound_webhook.py [--seconds 10] [--concurrency 32]
        [--backend sqlite|postgresql|both] [--doc docs/benchmarks-inbound.md | --no-doc]

For each backend it migrates a fresh database (a temp SQLite file; a private PostgreSQL database
created on TURNOUT_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test,
and dropped afterwards), seeds a few institutions and 10,000 people invited to one upcoming
action, starts the real app (bot.app.create_app, logging at INFO as ``turnout serve`` does) in a
separate process, and drives POST /webhooks/twilio/sms with correctly signed Twilio forms over
keep-alive connections: YES / NO / MAYBE / "YES 2" / free text / HELP / STOP from many numbers
(some unknown), each with a unique MessageSid, plus a share of exact replays. The same load
generator also drives a bare aiohttp handler (parse the form, return fixed TwiML), so the ratio
shows what the app costs over aiohttp itself. Reported: messages/s, p50/p99 latency, and the
server's CPU time per message (user + system, all threads: the cost that does not depend on
what else the machine is doing).

The load generator is this process (the servers run in their own processes, so neither shares
an event loop with it); it speaks HTTP/1.1 over raw asyncio sockets with every request built and
signed before the clock starts, so it costs a few microseconds a request. After each run the
database is checked: every MessageSid answered 200 is stored exactly once and handled without
error, every message has its replies (unless the sender had opted out), the TwiML counts match
the outbox, and every replay got byte-for-byte the first answer. Then ``--breakdown`` more
messages go through InboundPipeline.receive one at a time in this process, each step's CPU
time counted: where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import platform
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.twilio_signing (tests/ is not installed)

from aiohttp import web  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from config.settings import Settings  # noqa: E402
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
from tests.twilio_signing import encode, inbound_form, sign  # noqa: E402

PATH = "/webhooks/twilio/sms"
PUBLIC_URL = "https://turnout.example.org"  # what Twilio would call; TLS ends at a proxy
SANDBOX_TOKEN = Settings().webhook_auth_token.get()
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_DOC = ROOT / "docs" / "benchmarks-inbound.md"
DOC_START, DOC_END = "<!-- bench:inbound:start -->", "<!-- bench:inbound:end -->"
BARE_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks</Message></Response>'

PEOPLE = 10_000
UNKNOWN_NUMBERS = 1_000  # numbers nobody imported: they become people when they text
INSTITUTIONS = [
    ("St Mary's Church", "faith"),
    ("Highfields Mosque", "faith"),
    ("Moat Community College", "school"),
    ("Unite Leicester Hospitals", "union"),
    ("Shree Sanatan Mandir", "faith"),
]
FIRST = ["Ann", "Bilal", "Chloe", "Dev", "Ewa", "Femi", "Gwen", "Hassan", "Iwona", "Jas", "Kemi"]
LAST = ["Patel", "Khan", "Jones", "Nowak", "Okafor", "Evans", "Mistry", "Begum", "Hughes", "Ali"]
# (share of unique messages, bodies people actually send)
MIX: list[tuple[float, list[str]]] = [
    (0.30, ["YES", "Yes", "yes!", "Y", "Yes please", "👍"]),
    (0.12, ["NO", "No", "no sorry", "N"]),
    (0.12, ["MAYBE", "Maybe", "maybe", "mabye"]),
    (0.10, ["YES 2", "Yes 3", "yes +1", "YES 2 guests"]),
    (
        0.30,
        [
            "What time does it start?",
            "Is there parking near the hall?",
            "Can I bring my children?",
            "Who is this?",
            "The damp in our flat is getting worse, can someone from the council help?",
            "I'll be late, coming straight from work",
            "Is there a bus from Highfields?",
        ],
    ),
    (0.03, ["HELP"]),
    (0.03, ["STOP", "Stop"]),
]
UNKNOWN_SHARE = 0.05  # of unique messages, from numbers not on record


def phone(n: int) -> str:
    # Beyond Ofcom's 1,000-number drama range: possible UK mobiles, never texted (sandbox).
    return f"+4477009{n:05d}"


# --------------------------------------------------------------------------- seeding


async def seed(db: Database, now: datetime, rng: random.Random) -> None:
    """A few institutions, 10,000 people (most in one institution, some leaders), one upcoming
    action everyone is invited to. Core bulk inserts: seeding is not what is measured."""
    async with db.session() as s:
        for name, kind in INSTITUTIONS:
            s.add(Institution(name=name, kind=kind, status="member", created_at=now))
        starts = (now + timedelta(days=7)).replace(hour=18, minute=30, second=0, microsecond=0)
        s.add(
            Action(
                slug="assembly-bench",
                title="Accountability Assembly",
                kind="assembly",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                place="De Montfort Hall",
                bring="",
                target=1500,
                status="scheduled",
                revision=0,
                created_at=now,
                updated_at=now,
            )
        )
    async with db.session() as s:
        inst_ids = list(await s.scalars(select(Institution.id).order_by(Institution.id)))
        action_id = await s.scalar(select(Action.id))
        people = [
            {
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "phone": phone(n),
                "phone_status": "ok",
                "language": rng.choices(["en", "cy", "pl"], [85, 10, 5])[0],
                "timezone": "Europe/London",
                "consent": "opted_in",
                "consent_source": "import",
                "consent_at": now,
                "telegram_status": "ok",
                "introduced_at": now,
                "created_at": now,
            }
            for n in range(PEOPLE)
        ]
        for chunk in _chunks(people, 1000):
            await s.execute(insert(Person), chunk)
        ids = list(await s.scalars(select(Person.id).order_by(Person.id)))
        memberships = [
            {
                "person_id": pid,
                "institution_id": rng.choice(inst_ids),
                "role": "leader" if i % 250 == 0 else "member",
                "created_at": now,
            }
            for i, pid in enumerate(ids)
            if i % 10  # one in ten belongs to no institution
        ]
        invitations = [
            {"action_id": action_id, "person_id": pid, "invited_at": now, "guests": 0}
            for pid in ids
        ]
        for chunk in _chunks(memberships, 1000):
            await s.execute(insert(Membership), chunk)
        for chunk in _chunks(invitations, 1000):
            await s.execute(insert(Invitation), chunk)


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------- workload


@dataclass
class Workload:
    sids: list[str]
    requests: list[bytes]


def messages(count: int, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(MessageSid, From, Body) in the mix: unique sids, many senders, some unknown."""
    weights = [w for w, _ in MIX]
    for _ in range(count):
        bodies = rng.choices(MIX, weights)[0][1]
        if rng.random() < UNKNOWN_SHARE:
            sender = phone(PEOPLE + rng.randrange(UNKNOWN_NUMBERS))
        else:
            sender = phone(rng.randrange(PEOPLE))
        yield "SM" + uuid.UUID(int=rng.getrandbits(128)).hex, sender, rng.choice(bodies)


def build_workload(count: int, rng: random.Random) -> Workload:
    """``count`` unique signed requests (built before the clock starts)."""
    sids, requests = [], []
    for sid, sender, text_ in messages(count, rng):
        form = inbound_form(sid, sender, text_)
        body = encode(form)
        signature = sign(SANDBOX_TOKEN, PUBLIC_URL + PATH, form)
        head = (
            f"POST {PATH} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            "Accept: */*\r\n"
            "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
            f"X-Twilio-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sids.append(sid)
        requests.append(head.encode() + body)
    return Workload(sids, requests)


# --------------------------------------------------------------------------- load generator

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight (like a proxy's upstream)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        m = _CONTENT_LENGTH.search(self.buffer, 0, end + 2)
        if m is None:
            self._fail(ConnectionError("response without Content-Length"))
            return
        total = end + 4 + int(m.group(1))
        if len(self.buffer) < total:
            return
        status = int(self.buffer[9:12])
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        waiter, self.waiter = self.waiter, None
        waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("server closed the connection"))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.waiter = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


@dataclass
class LoadResult:
    seconds: float  # measured window
    done: int  # requests completed in the window
    latencies_ns: list[int]
    unique_answers: dict[int, bytes] = field(default_factory=dict)  # request index -> body
    replays: list[tuple[int, bytes]] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    exhausted: bool = False
    server_cpu_us: float = float("nan")  # server CPU (user + system) per request, whole run

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ns)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1e6


async def drive(
    port: int,
    work: Workload,
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    replay_share: float,
    rng: random.Random,
    cycle: bool = False,
    server_cpu: Callable[[], float] | None = None,
) -> LoadResult:
    """Closed loop: each connection sends its next request as soon as the last is answered.
    With ``cycle`` the requests are reused when they run out (the bare handler stores nothing)."""
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(concurrency):
        _, proto = await loop.create_connection(_Connection, "127.0.0.1", port)
        conns.append(proto)
    result = LoadResult(seconds=seconds, done=0, latencies_ns=[])
    cpu_before = server_cpu() if server_cpu else 0.0
    sent = 0
    answered: list[int] = []  # unique requests already answered: candidates for replay
    next_index = 0
    start = time.perf_counter_ns()
    window_start = start + int(warmup * 1e9)
    window_end = window_start + int(seconds * 1e9)

    async def worker(conn: _Connection) -> None:
        nonlocal next_index, sent
        while True:
            now = time.perf_counter_ns()
            if now >= window_end:
                return
            replay = bool(answered) and rng.random() < replay_share
            if replay:
                index = rng.choice(answered)
            elif next_index < len(work.requests) or cycle:
                index, next_index = next_index % len(work.requests), next_index + 1
            else:
                result.exhausted = True
                return
            status, body = await conn.request(work.requests[index])
            done = time.perf_counter_ns()
            sent += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if replay:
                result.replays.append((index, body))
            else:
                result.unique_answers[index] = body
                answered.append(index)
            if window_start <= done < window_end:
                result.done += 1
                result.latencies_ns.append(done - now)

    await asyncio.gather(*(worker(c) for c in conns))
    if server_cpu:
        result.server_cpu_us = (server_cpu() - cpu_before) / max(sent, 1) * 1e6
    ended = min(time.perf_counter_ns(), window_end)
    result.seconds = max(ended - window_start, 1) / 1e9
    for conn in conns:
        assert conn.transport is not None
        conn.transport.close()
    return result


# --------------------------------------------------------------------------- servers


def serve(role: str, url: str, profile: str) -> None:
    """Server process: the real app (role "app") or the bare handler (role "bare")."""
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
    asyncio.run(_serve(role, url))
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)


async def _serve(role: str, url: str) -> None:
    if role == "app":
        from bot.app import create_app
        from config.clock import SystemClock
        from config.logs import setup_logging

        settings = Settings.from_env(
            {"TURNOUT_DATABASE_URL": url, "TURNOUT_PUBLIC_URL": PUBLIC_URL}, env_file=None
        )
        setup_logging(settings)  # as `turnout serve` does: one INFO line a message
        db = Database.from_url(settings.database_url)
        app = create_app(settings, db=db, clock=SystemClock())
    else:

        async def bare(request: web.Request) -> web.Response:
            await request.post()
            return web.Response(body=BARE_TWIML, content_type="application/xml")

        app = web.Application(client_max_size=256 * 1024)
        app.router.add_post(PATH, bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()
    await runner.cleanup()
    if role == "app":
        await db.dispose()


class ServerProcess:
    def __init__(self, role: str, url: str, log: Path, profile: str = "") -> None:
        self.log = log
        args = [sys.executable, __file__, "--serve", role, "--url", url]
        if profile:
            args += ["--profile", profile]
        with log.open("wb") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"{role} server did not start:\n{self.tail()}")
        self.port = int(line.split()[1])

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def errors(self, lines: int = 60) -> str:
        """The log from its first ERROR (tracebacks included), or its tail."""
        text_ = self.log.read_text(errors="replace")
        start = text_.find(" ERROR ")
        if start < 0:
            return self.tail()
        return "\n".join(text_[text_.rfind("\n", 0, start) + 1 :].splitlines()[:lines])

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- verification


async def _opted_out_since(db: Database, sid: str, first: bytes | None, replayed: bytes) -> bool:
    """A replay may differ from the first answer in one way: its sender has texted STOP since,
    so the reply is withheld (only a STOP confirmation may reach them): fewer messages, none
    new. With thousands of texts from 10,000 numbers, a replay of a YES from someone who later
    sent STOP happens in a long enough run."""
    if first is None:
        return False
    async with db.session() as s:
        consent = await s.scalar(
            select(Person.consent)
            .join(InboundMessage, InboundMessage.person_id == Person.id)
            .where(InboundMessage.provider_id == sid)
        )
    if consent != "opted_out":
        return False
    kept = re.findall(rb"<Message[^>]*>.*?</Message>", replayed, re.DOTALL)
    sent = re.findall(rb"<Message[^>]*>.*?</Message>", first, re.DOTALL)
    return len(kept) < len(sent) and all(m in sent for m in kept)


async def verify(db: Database, work: Workload, load: LoadResult) -> list[str]:
    """What must hold after the run; returns the problems found (empty when all is well)."""
    problems = []
    bad = {s: n for s, n in load.statuses.items() if s != 200}
    if bad:
        problems.append(f"non-200 answers: {bad}")
    for index, body in load.replays:
        first = load.unique_answers.get(index)
        if first != body and not await _opted_out_since(db, work.sids[index], first, body):
            problems.append(f"replay of {work.sids[index]} got a different answer")
            break
    sids = {work.sids[i] for i in load.unique_answers}
    async with db.session() as s:
        stored = list(await s.scalars(select(InboundMessage.provider_id)))
        unhandled = await s.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where((InboundMessage.handled_at.is_(None)) | (InboundMessage.error.is_not(None)))
        )
        errors = list(
            await s.scalars(
                select(InboundMessage.error).where(InboundMessage.error.is_not(None)).limit(3)
            )
        )
        replies = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.in_reply_to_id.is_not(None))
        )
        has_reply = select(OutboxMessage.id).where(
            OutboxMessage.in_reply_to_id == InboundMessage.id
        )
        silent_but_opted_in = await s.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .join(Person, Person.id == InboundMessage.person_id)
            .where(~has_reply.exists())
            .where(Person.consent != "opted_out")
        )
    if len(stored) != len(set(stored)):
        problems.append(f"{len(stored) - len(set(stored))} MessageSids stored more than once")
    if set(stored) != sids:
        problems.append(
            f"stored {len(set(stored))} MessageSids, answered {len(sids)} "
            f"({len(sids - set(stored))} answered but missing)"
        )
    if unhandled:
        problems.append(f"{unhandled} inbound messages unhandled or failed: {errors}")
    if silent_but_opted_in:
        problems.append(f"{silent_but_opted_in} messages from opted-in people have no reply")
    twiml = sum(body.count(b"<Message") for body in load.unique_answers.values())
    if twiml != replies:
        problems.append(f"TwiML carried {twiml} messages, the outbox has {replies} replies")
    return problems


# --------------------------------------------------------------------------- where the time goes

# Timed in process, one message at a time, after the load run (same database): inclusive CPU
# time of this process's thread in each step per message (CPU, not wall time: on a shared
# machine the wall time mostly measures the other work; on PostgreSQL the server's own
# processes are not counted here, the load run's throughput counts them).
# (module, attribute, label); missing ones are skipped.
STEPS = [
    ("bot.inbound", "InboundPipeline.receive", "pipeline, all steps"),
    ("bot.inbound", "InboundPipeline._store", "1. store the message (own transaction)"),
    ("bot.inbound", "InboundPipeline._handle", "2. handle, before commit"),
    (
        "bot.inbound",
        "open_state_by_phone",
        "2. › the sender and what is open for them (one read)",
    ),
    ("bot.inbound", "InboundPipeline.resolve_person", "2. › a new sender (not on record)"),
    ("bot.inbound", "parse", "2. › parse the text"),
    ("bot.inbound", "route", "2. › route and run the handler"),
    ("bot.handlers.router", "open_state", "2. › › what is open for the person (one read)"),
    ("bot.handlers.rsvp", "record_rsvp", "2. › › › the RSVP write"),
    ("bot.inbound", "InboundPipeline.write_replies", "2. › write the replies (outbox)"),
    ("bot.inbound", "InboundPipeline.replies_for", "replies of a replay"),
]


@contextmanager
def timed_steps(totals: dict[str, float]) -> Iterator[None]:
    """Wrap STEPS (and each route of bot.handlers.ROUTES) to add their time to ``totals``."""
    import importlib

    from bot import handlers

    undo: list[tuple[Any, str, Any]] = []

    def timer(fn: Any, label: str) -> Any:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.thread_time() - start

        def timed_sync(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.thread_time() - start

        return timed if asyncio.iscoroutinefunction(fn) else timed_sync

    for module_name, attr, label in STEPS:
        try:
            owner: Any = importlib.import_module(module_name)
            *path, name = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        except (ImportError, AttributeError, KeyError):
            continue
        undo.append((owner, name, original))
        setattr(owner, name, timer(original, label))
    routes = dict(handlers.ROUTES)
    for intent, route in routes.items():
        name = f"{route.__module__.removeprefix('bot.handlers.')}.{route.__name__}"
        handlers.ROUTES[intent] = timer(route, f"2. › › route {name}")
    try:
        yield
    finally:
        handlers.ROUTES.update(routes)
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


async def breakdown(url: str, count: int, seed_value: int) -> tuple[dict[str, float], float]:
    """CPU microseconds per message by step, and of the whole process, for ``count``
    messages of the mix through InboundPipeline.receive, one at a time."""
    from bot.inbound import InboundPipeline, IncomingText
    from config.clock import SystemClock

    settings = Settings.from_env({"TURNOUT_DATABASE_URL": url}, env_file=None)
    db = Database.from_url(url)
    pipeline = InboundPipeline(db, settings, SystemClock())
    rng = random.Random(seed_value)
    batch = [
        IncomingText("sms", settings.sms_provider, sid, sender, body, "+447700900000")
        for sid, sender, body in messages(count + 200, rng)
    ]
    totals: dict[str, float] = {}
    try:
        for message in batch[:200]:  # warm the statement caches
            await pipeline.receive(message, inline_provider="twiml")
        with timed_steps(totals):
            cpu = time.process_time()
            for message in batch[200:]:
                await pipeline.receive(message, inline_provider="twiml")
            cpu = time.process_time() - cpu
    finally:
        await db.dispose()
    return {k: v / count * 1e6 for k, v in totals.items()}, cpu / count * 1e6


def http_side(count: int = 2000) -> dict[str, float]:
    """Microseconds per message of the webhook's own work around the pipeline."""
    from multidict import MultiDict
    from twilio.request_validator import RequestValidator
    from twilio.twiml.messaging_response import MessagingResponse

    from config.phones import normalise_phone

    form = inbound_form("SM" + "0" * 32, phone(1), "YES 2")
    raw = encode(form).decode()
    url = PUBLIC_URL + PATH
    signature = sign(SANDBOX_TOKEN, url, form)
    reply = "Thanks Ann, you're coming to Accountability Assembly on Sat 14 Mar 18:30 with 2 more."

    def parse_form() -> Any:
        return MultiDict(parse_qsl(raw, keep_blank_values=True, errors="strict"))

    def validate() -> Any:
        return RequestValidator(SANDBOX_TOKEN).validate(url, parse_form(), signature)

    def twiml() -> str:
        response = MessagingResponse()
        response.message(reply, action=PUBLIC_URL + "/webhooks/twilio/status?outbox=1")
        return str(response)

    out = {}
    for label, fn in (
        ("form parse + signature check", validate),
        ("phone number to E.164", lambda: normalise_phone(form["From"], "GB")),
        ("TwiML answer", twiml),
    ):
        start = time.perf_counter()
        for _ in range(count):
            fn()
        out[label] = (time.perf_counter() - start) / count * 1e6
    return out


def breakdown_table(
    steps: dict[str, tuple[dict[str, float], float]], http: dict[str, float], bare_rate: float
) -> str:
    backends = list(steps)
    out = [
        "| step (CPU µs per message, one at a time) | " + " | ".join(backends) + " |",
        "|---|" + "---:|" * len(backends),
    ]
    labels = [label for _, _, label in STEPS]
    routes = sorted({k for by_step, _ in steps.values() for k in by_step} - set(labels))
    at = labels.index("2. › route and run the handler") + 1
    labels[at:at] = routes
    for label in labels:
        if not any(by_step.get(label, 0) >= 1 for by_step, _ in steps.values()):
            continue
        cells = [f"{steps[b][0].get(label, 0):,.0f}" for b in backends]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    commit = [
        steps[b][0].get("pipeline, all steps", 0)
        - steps[b][0].get("1. store the message (own transaction)", 0)
        - steps[b][0].get("2. handle, before commit", 0)
        - steps[b][0].get("replies of a replay", 0)
        for b in backends
    ]
    out.append(
        "| 2. commit (flush, COMMIT), session set-up: all steps - 1. - 2. | "
        + " | ".join(f"{c:,.0f}" for c in commit)
        + " |"
    )
    out.append(
        "| CPU of this process, per message | "
        + " | ".join(f"{steps[b][1]:,.0f}" for b in backends)
        + " |"
    )
    for label, us in http.items():
        out.append(f"| webhook: {label} | " + " | ".join(f"{us:,.0f}" for _ in backends) + " |")
    bare = 1e6 / bare_rate if bare_rate else float("nan")
    out.append(
        "| bare aiohttp request, from the load run (1 / rate) | "
        + " | ".join(f"{bare:,.0f}" for _ in backends)
        + " |"
    )
    return "\n".join(out)


# --------------------------------------------------------------------------- orchestration


@dataclass
class Row:
    backend: str
    handler: str
    load: LoadResult
    problems: list[str]
    steps: tuple[dict[str, float], float] | None = None


async def create_pg(base: str) -> str:
    url = make_url(base)
    name = f"turnout_bench_{uuid.uuid4().hex[:12]}"
    admin = Database.from_url(url.render_as_string(hide_password=False), poolclass=NullPool)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_pg(base: str, url: str) -> None:
    name = make_url(url).database
    admin = Database.from_url(base, poolclass=NullPool)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def prepare(url: str, seed_value: int) -> None:
    db = Database.from_url(url)
    try:
        await upgrade(db.engine)
        await seed(db, datetime.now(UTC), random.Random(seed_value))
    finally:
        await db.dispose()


async def run_app(
    backend: str, url: str, work: Workload, args: argparse.Namespace, tmp: Path
) -> Row:
    await prepare(url, args.seed)
    profile = f"{args.profile}.{backend}" if args.profile else ""
    server = ServerProcess("app", url, tmp / f"app-{backend}.log", profile)
    try:
        load = await drive(
            server.port,
            work,
            concurrency=args.concurrency,
            warmup=args.warmup,
            seconds=args.seconds,
            replay_share=args.replays,
            rng=random.Random(args.seed + 1),
            server_cpu=server.cpu_seconds,
        )
    finally:
        server.stop()
    db = Database.from_url(url)
    try:
        problems = await verify(db, work, load)
    finally:
        await db.dispose()
    if load.exhausted:
        problems.append("ran out of pre-built requests: raise --max-rate")
    if problems:
        problems.append("server log, errors:\n" + server.errors())
    steps = None
    if args.breakdown:
        print(f"  where the time goes: {args.breakdown:,} messages one at a time ...", flush=True)
        steps = await breakdown(url, args.breakdown, args.seed + 2)
    return Row(backend, "turnout app", load, problems, steps)


async def run_bare(work: Workload, args: argparse.Namespace, tmp: Path) -> Row:
    server = ServerProcess("bare", "", tmp / "bare.log")
    try:
        load = await drive(
            server.port,
            work,
            concurrency=args.concurrency,
            warmup=args.warmup,
            seconds=args.seconds,
            replay_share=0.0,
            rng=random.Random(args.seed + 1),
            cycle=True,
            server_cpu=server.cpu_seconds,
        )
    finally:
        server.stop()
    bad = {s: n for s, n in load.statuses.items() if s != 200}
    return Row("-", "bare aiohttp", load, [f"non-200 answers: {bad}"] if bad else [])


def table(rows: list[Row]) -> str:
    bare = next((r for r in rows if r.handler == "bare aiohttp"), None)
    out = [
        "| backend | handler | messages/s | p50 ms | p99 ms | requests | replays | "
        "vs bare aiohttp | server CPU µs/msg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.load.rate / bare.load.rate:.1%}" if bare and r is not bare else "-"
        out.append(
            f"| {r.backend} | {r.handler} | {r.load.rate:,.0f} | {r.load.percentile(50):.1f} | "
            f"{r.load.percentile(99):.1f} | {r.load.done:,} | {len(r.load.replays):,} | "
            f"{ratio} | {r.load.server_cpu_us:,.0f} |"
        )
    return "\n".join(out)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "Load average before the run (other work on the machine)": " ".join(
            f"{x:.2f}" for x in os.getloadavg()
        ),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
    }


def write_doc(path: Path, section: str) -> None:
    block = f"{DOC_START}\n{section}\n{DOC_END}"
    if path.exists():
        current = path.read_text(encoding="utf-8")
        if DOC_START in current and DOC_END in current:
            head, rest = current.split(DOC_START, 1)
            tail = rest.split(DOC_END, 1)[1]
            path.write_text(head + block + tail, encoding="utf-8")
            return
        path.write_text(current.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Inbound SMS webhook benchmark\n\n{block}\n", encoding="utf-8")


async def orchestrate(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rng = random.Random(args.seed)
    count = int((args.seconds + args.warmup) * args.max_rate)
    print(f"building {count:,} signed requests ...", flush=True)
    work = build_workload(count, rng)
    pg_base = os.environ.get("TURNOUT_BENCH_DATABASE_URL", DEFAULT_PG)
    rows: list[Row] = []
    info = machine()
    with tempfile.TemporaryDirectory(prefix="turnout-bench-") as tmpdir:
        tmp = Path(tmpdir)
        print("bare aiohttp handler ...", flush=True)
        rows.append(await run_bare(work, args, tmp))
        for backend in backends:
            print(f"turnout app on {backend} ...", flush=True)
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
                rows.append(await run_app(backend, url, work, args, tmp))
            else:
                url = await create_pg(pg_base)
                try:
                    info["PostgreSQL"] = await pg_version(url)
                    rows.append(await run_app(backend, url, work, args, tmp))
                finally:
                    await drop_pg(pg_base, url)
    result = table(rows)
    print()
    print(result)
    steps = {r.backend: r.steps for r in rows if r.steps is not None}
    details = ""
    if steps:
        details = breakdown_table(steps, http_side(), rows[0].load.rate)
        print()
        print(details)
    failed = False
    for row in rows:
        for problem in row.problems:
            failed = True
            print(f"\nFAILED ({row.backend}, {row.handler}): {problem}")
    if not failed:
        print("\nverified: every MessageSid stored once, handled, answered; replays identical")
    command = ".venv/bin/python bench/inbound_webhook.py " + " ".join(sys.argv[1:])
    section = "\n".join(
        [
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command.strip()}`"
            f" ({args.concurrency} connections, {args.seconds:g} s after {args.warmup:g} s"
            f" warm-up, {args.replays:.0%} replays).",
            "",
            *(f"- {k}: {v}" for k, v in info.items()),
            "",
            result,
            "",
            "Correctness after the run: "
            + ("all checks passed." if not failed else "**FAILED**, see the console output."),
            *(["", "Where the time goes:", "", details] if details else []),
        ]
    )
    if args.doc:
        write_doc(Path(args.doc), section)
        print(f"wrote {args.doc}")
    return 1 if failed else 0


async def pg_version(url: str) -> str:
    db = Database.from_url(url, poolclass=NullPool)
    try:
        async with db.session() as s:
            version = str(await s.scalar(text("SHOW server_version")))
    finally:
        await db.dispose()
    return version


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured start (seconds)")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--replays", type=float, default=0.05, help="share of replayed requests")
    parser.add_argument("--max-rate", type=float, default=4000, help="requests built per second")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--doc", default=str(DEFAULT_DOC), help="markdown file to update")
    parser.add_argument("--no-doc", dest="doc", action="store_const", const="")
    parser.add_argument(
        "--breakdown", type=int, default=1000, help="messages timed step by step (0: skip)"
    )
    parser.add_argument("--profile", default="", help="cProfile the app server into PATH.<db>")
    parser.add_argument("--serve", choices=["app", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.url, args.profile)
        return 0
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
