"""SQLite runs on the event loop's thread (storage.db.InlineSQLite): a writer that finds the
database locked waits without blocking the loop, and gives up after the busy timeout."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import storage.db
from storage.db import Database


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    async with db.session() as s:
        await s.execute(text("CREATE TABLE notes (body TEXT)"))
    yield db
    await db.dispose()


def other_writer(db: Database) -> sqlite3.Connection:
    """Another process's connection, holding the write lock."""
    path = db.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes VALUES ('theirs')")
    return other


async def test_it_waits_for_another_writer_while_the_loop_keeps_running(
    sqlite_db: Database,
) -> None:
    other = other_writer(sqlite_db)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while ticks < 20:
            ticks += 1
            await asyncio.sleep(0)
        other.execute("COMMIT")  # the other writer finishes while ours is waiting

    async def write() -> None:
        async with sqlite_db.session() as s:
            await s.execute(text("INSERT INTO notes VALUES ('ours')"))

    await asyncio.gather(ticker(), write())
    other.close()
    async with sqlite_db.session() as s:
        bodies = list(await s.scalars(text("SELECT body FROM notes ORDER BY rowid")))
    assert ticks == 20
    assert bodies == ["theirs", "ours"]


async def test_it_gives_up_after_the_busy_timeout(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.db, "BUSY_TIMEOUT", 0.01)
    other = other_writer(sqlite_db)
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with sqlite_db.session() as s:
                await s.execute(text("INSERT INTO notes VALUES ('ours')"))
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_two_sessions_in_one_process_take_turns(sqlite_db: Database) -> None:
    """A session that awaits something else mid-transaction holds the write lock; another
    session's writer waits for it instead of failing."""
    release = asyncio.Event()

    async def slow() -> None:
        async with sqlite_db.session() as s:
            await s.execute(text("INSERT INTO notes VALUES ('first')"))
            await release.wait()

    async def fast() -> None:
        await asyncio.sleep(0)  # slow() has the lock now
        # Let slow() finish once this writer has found the database busy and is waiting.
        asyncio.get_running_loop().call_soon(release.set)
        async with sqlite_db.session() as s:
            await s.execute(text("INSERT INTO notes VALUES ('second')"))

    await asyncio.gather(slow(), fast())
    async with sqlite_db.session() as s:
        bodies = list(await s.scalars(text("SELECT body FROM notes ORDER BY rowid")))
    assert bodies == ["first", "second"]
