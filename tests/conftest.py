"""Shared fixtures.

Every storage test runs on SQLite, and also on PostgreSQL when ``TURNOUT_TEST_DATABASE_URL`` is
set (``.ci/run`` sets it). PostgreSQL gets a private database per test session (so parallel runs
on one server never collide), migrated once and truncated between tests; SQLite gets a fresh
file per test, copied from a migrated template.

No test reads the wall clock: the suite must pass at any hour (quiet hours, digests and
reminders all depend on it). The autouse ``no_wall_clock`` guard fails any test in which
``SystemClock.now`` is called, unless the test is marked ``@pytest.mark.real_clock``. Give the
code under test a clock instead: the ``clock`` fixture (a FakeClock at T0), ``RunningClock(T0)``
when time must really pass, ``Runtime(clock=...)`` for the CLI, ``TURNOUT_NOW`` for a process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.app import create_app
from config.clock import FakeClock, SystemClock
from config.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Base
from tests.console import console_settings_for

PG_URL = os.environ.get("TURNOUT_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# A Tuesday in March 2026, 10:00 in London (GMT, before the clocks change on 29 March).
T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


WALL_CLOCK_READ = (
    "this test read the wall clock (SystemClock.now), so its result depends on the hour it runs "
    "at. Give the code under test a clock instead: the `clock` fixture (FakeClock at T0), "
    "RunningClock(T0) when time must pass, Runtime(clock=...) for the CLI, TURNOUT_NOW for a "
    "subprocess; or mark the test @pytest.mark.real_clock if it is about the real clock."
)
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture(autouse=True)
def no_wall_clock(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail the test at the first wall-clock read (see the module docstring); and should that
    failure be swallowed (a background task, a server handler), fail it at teardown."""
    if request.node.get_closest_marker("real_clock") is not None:
        yield
        return
    reads: list[str] = []

    def guarded_now(self: SystemClock) -> NoReturn:
        reads.append(type(self).__name__)
        pytest.fail(WALL_CLOCK_READ, pytrace=True)

    monkeypatch.setattr(SystemClock, "now", guarded_now)
    yield
    if reads and not request.node.stash.get(CALL_FAILED, False):
        pytest.fail(f"{WALL_CLOCK_READ} ({len(reads)} reads)", pytrace=False)


@pytest.fixture
def system_clock(request: pytest.FixtureRequest) -> SystemClock:
    """The real clock, for tests marked ``real_clock`` only."""
    assert request.node.get_closest_marker("real_clock") is not None, WALL_CLOCK_READ
    return SystemClock()


# Examples per property-based (Hypothesis) test: few and fixed by default, so the suite stays
# fast and repeatable; ``--fuzz-examples=N`` (or TURNOUT_FUZZ_EXAMPLES=N) runs N randomised ones.
DEFAULT_FUZZ_EXAMPLES = 25


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=None,
        metavar="N",
        help="run N randomised examples per fuzz test (default: "
        f"{DEFAULT_FUZZ_EXAMPLES}, fixed; or set TURNOUT_FUZZ_EXAMPLES)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_clock: the test is about the real clock and may read SystemClock"
    )
    wanted = config.getoption("--fuzz-examples") or int(
        os.environ.get("TURNOUT_FUZZ_EXAMPLES", "0") or 0
    )
    hypothesis_settings.register_profile(
        "turnout",
        max_examples=wanted or DEFAULT_FUZZ_EXAMPLES,
        derandomize=not wanted,
        deadline=None,
        # The fuzz tests share one app and database across examples on purpose (each example
        # uses its own ids), and talk to a real server: not slow by Hypothesis's standards.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    hypothesis_settings.load_profile("turnout")


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        db = Database.from_url(f"sqlite+aiosqlite:///{path}")
        await upgrade(db.engine)
        await db.dispose()

    _run(build())
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this test session, migrated once."""
    if not PG_URL:
        pytest.skip("TURNOUT_TEST_DATABASE_URL is not set")
    base = make_url(PG_URL)
    name = f"turnout_t_{uuid.uuid4().hex[:12]}"
    admin = Database.from_url(base.render_as_string(hide_password=False), poolclass=NullPool)

    async def create() -> None:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        db = Database.from_url(url)
        await upgrade(db.engine)
        await db.dispose()

    async def drop() -> None:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    url = base.set(database=name).render_as_string(hide_password=False)
    _run(create())
    yield url
    _run(drop())


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "turnout.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(db_url)
    if not database.is_sqlite:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with database.session() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings.from_env(
        {
            "TURNOUT_DATABASE_URL": db_url,
            "TURNOUT_ALLIANCE_NAME": "Leicester Citizens",
            "TURNOUT_PUBLIC_URL": "https://turnout.example.org",
        },
        env_file=None,
    )


@pytest.fixture
def console_settings(db_url: str) -> Settings:
    """Settings for the organiser console's tests (tests/console.py)."""
    return console_settings_for(db_url)


@pytest.fixture
async def web(
    db: Database, console_settings: Settings, clock: FakeClock
) -> AsyncIterator[TestClient[Any, Any]]:
    """The app, console included, on a test server (no worker: the outbox stays queued)."""
    app = create_app(console_settings, db=db, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client
