"""The database seam: one engine, one session factory, passed to whoever needs them.

SQLite gets WAL, ``synchronous=NORMAL``, foreign keys and a busy timeout on every connection, and
writers take the lock up front (``BEGIN IMMEDIATE``) so two writers queue instead of failing with
"database is locked" half-way through a transaction. PostgreSQL uses asyncpg.

SQLite runs on the event loop's own thread (:class:`InlineSQLite`), not on aiosqlite's worker
thread. A statement on a local WAL database takes microseconds, while every hand-off to a thread
and back costs about 100 us on a small VM, and SQLAlchemy makes three or four of them a
statement: that alone capped the inbound webhook near 100 messages/s
(docs/benchmarks-inbound.md). The loop is blocked only while a statement runs (a long report
query blocks it for as long as it runs, as it would hold the write lock anyway); waiting for
another writer's lock never blocks it: a busy database is retried with ``asyncio.sleep`` until
BUSY_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import event, exc, inspect
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.util import await_

from config.phones import redact_phones

BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for another one before giving up
T = TypeVar("T")
M = TypeVar("M")


# SQLSTATE classes that mean "the server is not there, not now": connection exception,
# insufficient resources (too many connections, disk full), operator intervention (shutting
# down, starting up), system error.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "58")
# SQLite's primary result codes that mean the same: busy or locked past BUSY_TIMEOUT, out of
# memory, I/O error, disk full, cannot open the file.
_UNAVAILABLE_SQLITE = (
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
)


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` says the database cannot be reached or did not answer in time (down,
    restarting, the pool exhausted, a lock held too long), rather than that a statement was
    wrong: a fault worth retrying later, which webhooks answer with 503 so the provider does."""
    if isinstance(error, exc.TimeoutError | exc.DisconnectionError | OSError):
        return True  # the pool timed out; asyncpg's connection refused or reset (raw OSErrors)
    if not isinstance(error, exc.DBAPIError):
        return False
    orig = error.orig
    if error.connection_invalidated or isinstance(orig, OSError):
        return True
    if isinstance(orig, sqlite3.Error):
        return orig.sqlite_errorcode & 0xFF in _UNAVAILABLE_SQLITE
    sqlstate = getattr(orig, "sqlstate", None) or ""
    return sqlstate[:2] in _UNAVAILABLE_SQLSTATES


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # A database error quotes the statement's values (phone numbers, what people said) in its
    # message, and messages reach logs and the inbox's error column: keep the values out.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        connect_args: tuple[list[Any], dict[str, Any]] = ([], {})

        async def connect() -> InlineSQLite:
            args, opts = connect_args
            # timeout=0: no busy handler sleeping on the loop's thread; see InlineSQLite.
            opts = {**opts, "timeout": 0, "isolation_level": None, "check_same_thread": False}
            return InlineSQLite(sqlite3.connect(*args, **opts))

        engine = create_async_engine(url, async_creator=connect, **kwargs)
        cargs, copts = engine.dialect.create_connect_args(engine.url)
        connect_args = (list(cargs), dict(copts))
        _configure_sqlite(engine)
    else:
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _hide_values_in_error)
    return engine


# PostgreSQL's "Failing row contains (...)": the whole row (names, numbers, message bodies).
_FAILING_ROW = re.compile(r"(Failing row contains )\(.*\)", re.DOTALL)


def _hide_values_in_error(context: ExceptionContext) -> None:
    """``hide_parameters`` keeps bound values out of SQLAlchemy's own message, but the driver's
    error, chained under it and printed in every traceback, can quote them too: PostgreSQL's
    DETAIL ("Key (phone)=(+447700900123) already exists.", a not-null violation's whole row)
    and some messages (invalid input for a type). Hide numbers and rows there, in place, before
    the error goes anywhere."""
    seen: set[int] = set()
    exc: BaseException | None = context.original_exception
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.args and any(isinstance(a, str) for a in exc.args):
            exc.args = tuple(_hide(a) if isinstance(a, str) else a for a in exc.args)
        for name in ("detail", "hint"):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                with suppress(AttributeError, TypeError):  # an immutable message class
                    setattr(exc, name, _hide(value))
        exc = exc.__cause__ or exc.__context__


def _hide(text: str) -> str:
    return redact_phones(_FAILING_ROW.sub(r"\1(hidden)", text))


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No busy_timeout: InlineSQLite waits for a busy database without blocking the loop.
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight to the driver (InlineSQLite): through exec_driver_sql, SQLAlchemy's whole
        # statement machinery ran for these two words, twice a message on the inbound path.
        try:
            await_(connection.connection.driver_connection.begin_immediate())
        except sqlite3.Error as error:
            # Wrapped as SQLAlchemy wraps a statement's error (a busy database past the
            # timeout is an OperationalError that storage.db.is_unavailable recognises).
            raise exc.DBAPIError.instance("BEGIN IMMEDIATE", (), error, sqlite3.Error) from error


async def _unless_busy(retriable: bool, call: Callable[[], T]) -> T:
    """``call()``; while SQLite says the database is busy (another process, or another task
    between two awaits, holds the write lock), sleep on the loop and try again, up to
    BUSY_TIMEOUT. Only what SQLite allows to be retried is: a statement outside a transaction
    (BEGIN IMMEDIATE included) and COMMIT; inside a transaction the error stands (rollback)."""
    delay, deadline = 0.0005, 0.0
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not retriable or exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            now = time.monotonic()
            deadline = deadline or now + BUSY_TIMEOUT
            if now >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)


class _InlineCursor:
    """An sqlite3 cursor in aiosqlite's async shape, run on the calling thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._cursor = connection.cursor()
        self.arraysize = self._cursor.arraysize

    async def __aenter__(self) -> _InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def execute(self, sql: str, parameters: Any = ()) -> _InlineCursor:
        retriable = not self._connection.in_transaction
        await _unless_busy(retriable, lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _InlineCursor:
        retriable = not self._connection.in_transaction
        rows = list(parameters)
        await _unless_busy(retriable, lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    async def close(self) -> None:
        self._cursor.close()


class _RunNow:
    """Stands in for aiosqlite's queue to its thread (SQLAlchemy sets isolation_level
    through it): runs the call at once and resolves its future."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, call = item
        try:
            result = call()
        except Exception as exc:
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineSQLite:
    """A driver-level connection with aiosqlite's interface (what SQLAlchemy's aiosqlite
    dialect calls) that runs sqlite3 directly on the event loop's thread."""

    _tx = _RunNow()

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def cursor(self) -> _InlineCursor:
        return _InlineCursor(self._conn)

    async def execute(self, sql: str, parameters: Any = ()) -> _InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def begin_immediate(self) -> None:
        """Start a write transaction (the lock taken now, not at the first write); a busy
        database is waited for, as for any statement outside a transaction."""
        await _unless_busy(True, lambda: self._conn.execute("BEGIN IMMEDIATE").close())

    async def commit(self) -> None:
        await _unless_busy(True, self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


_COLUMN_KEYS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def _column_keys(model: type[Any]) -> tuple[tuple[str, Any], ...]:
    keys = _COLUMN_KEYS.get(model)
    if keys is None:
        keys = tuple((attr.key, attr.columns[0]) for attr in inspect(model).column_attrs)
        _COLUMN_KEYS[model] = keys
    return keys


def every_column(model: type[Any]) -> list[Any]:
    """What to put in ``.returning(...)`` to get rows :func:`as_loaded` can turn into objects."""
    return [column for _, column in _column_keys(model)]


def as_loaded(model: type[M], row: Sequence[Any]) -> M:
    """The ORM object for a row just written with ``RETURNING`` :func:`every_column`, as if it
    had been read back: detached with every attribute loaded, so ``session.add()`` makes it
    persistent without a SELECT (a hot path's read-back costs as much as its write).

    Built as the ORM's own loader builds one (a new instance, its values put straight into its
    state's dict, committed): the model's constructor would fire an attribute event for every
    column, which costs several times as much."""
    obj: M = inspect(model).class_manager.new_instance()
    values = obj.__dict__
    for i, (key, _) in enumerate(_column_keys(model)):
        values[key] = row[i]
    make_transient_to_detached(obj)
    return obj


def columns_of(model: type[Any], table: Any) -> list[Any]:
    """:func:`every_column` of ``model`` taken from ``table`` (an alias of the model's table),
    in the order :func:`as_loaded` reads them."""
    return [table.c[column.name] for _, column in _column_keys(model)]


def attach(session: AsyncSession, obj: M) -> M:
    """Put an object built by :func:`as_loaded` into ``session`` as if the session had read it:
    the one already there for the same row if the session holds it, else this one."""
    state = inspect(obj)
    held = session.sync_session.identity_map.get(state.key)
    if held is not None:
        return cast(M, held)
    session.add(obj)
    return obj


@dataclass
class Database:
    """Engine plus session factory. ``async with db.session() as s:`` commits on success."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        engine = create_engine(url, **kwargs)
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits if the block succeeds, rolls back if it raises."""
        if not self.is_sqlite:
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        # SQLAlchemy's context manager closes the session in a task of its own, so that a
        # cancellation cannot cut a close short. On SQLite a close never suspends (InlineSQLite),
        # so it cannot be cut short, and the extra task would let other requests in between
        # commit and close: under load they then find the pool empty and open (and close)
        # connections by the hundred, each reading the schema again. Closed directly, a
        # session runs start to finish between two awaits of its caller.
        session = self.sessionmaker()
        try:
            async with session.begin():
                yield session
        finally:
            await session.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core unit of work (no ORM session, for a hot path's plain statements): commits if
        the block succeeds, rolls back if it raises."""
        if not self.is_sqlite:
            async with self.engine.begin() as connection:
                yield connection
            return
        connection = await self.engine.connect()  # closed directly, as in session()
        try:
            async with connection.begin():
                yield connection
        finally:
            await connection.close()

    @asynccontextmanager
    async def checkout(self) -> AsyncIterator[AsyncConnection]:
        """One connection for several transactions in a row (begin each on it, or open
        :meth:`session_on` it): one checkout from the pool instead of one per transaction (on
        PostgreSQL each checkout is also a round trip: the pool's pre-ping)."""
        if not self.is_sqlite:
            async with self.engine.connect() as connection:
                yield connection
            return
        connection = await self.engine.connect()  # closed directly, as in session()
        try:
            yield connection
        finally:
            await connection.close()

    @asynccontextmanager
    async def each_committed(self, connection: AsyncConnection) -> AsyncIterator[None]:
        """Statements on a connection from :meth:`checkout`, each one committed as it runs
        (for a block of one write: the inbound store). On PostgreSQL in autocommit mode: no
        BEGIN and COMMIT round trips around the one statement; on SQLite in one short write
        transaction (BEGIN IMMEDIATE ... COMMIT, all local)."""
        if self.is_sqlite:
            async with connection.begin():
                yield
            return
        default = connection.default_isolation_level
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with connection.begin():
                yield
        finally:
            await connection.execution_options(isolation_level=default)

    @asynccontextmanager
    async def session_on(self, connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
        """A unit of work on a connection from :meth:`checkout` (not in a transaction): commits
        if the block succeeds, rolls back if it raises; the connection stays open."""
        session = self.sessionmaker(bind=connection)
        try:
            async with session.begin():
                yield session
        finally:
            await session.close()

    async def dispose(self) -> None:
        await self.engine.dispose()
