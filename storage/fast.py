"""Hot-path writes on the driver connection: a fixed Core statement compiled once per dialect
and run straight on sqlite3 or asyncpg, in the transaction SQLAlchemy has open.

SQLAlchemy costs some 50 us per statement before the driver sees it (building the execution
context, the compiled cache lookup, result set-up), several times what a small write costs on
SQLite (docs/benchmarks.md, "Inbound webhook"). A statement here is compiled by SQLAlchemy
itself (the same SQL, the same bind processors), so the SQL is not written twice; only running
it skips the machinery. The driver's own statement caches keep it prepared.

Writes (:func:`execute`), reads and writes with RETURNING (:func:`rows`, values processed as
SQLAlchemy's result processing would), only statements without Python-side defaults (what
SQLAlchemy would compute at execution): the first run refuses the rest. The connection must
be inside a transaction SQLAlchemy began (a session's ``connection()``); the
ORM session does not see these writes, so callers set what its objects need themselves (as
scheduler.actions.record_rsvp does). A driver error is wrapped as SQLAlchemy wraps it
(``DBAPIError``), so callers and storage.db.is_unavailable see the same errors as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ClauseElement

_NO_VALUE = object()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Each positional parameter: its name, the value when the caller gives none (a literal in
    # the statement), and the type's bind processor.
    params: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]
    # For a read: each result column's processor (None where the driver's value is final).
    results: tuple[Callable[[Any], Any] | None, ...] = ()

    def row(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for value, process in zip(values, self.results, strict=True)
        )

    def args(self, values: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, default, process in self.params:
            value = values.get(name, default)
            if value is _NO_VALUE:
                raise KeyError(f"no value for {name!r}")
            out.append(value if process is None or value is None else process(value))
        return tuple(out)


class Statement:
    """A Core write compiled once per dialect (and per set of columns, for an INSERT)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def compiled(self, dialect: Dialect, keys: Sequence[str]) -> _Compiled:
        cache_key = (dialect.name, tuple(keys))
        found = self._compiled.get(cache_key)
        if found is None:
            found = self._compiled[cache_key] = _compile(self.statement, dialect, list(keys))
        return found


def prepare(statement: ClauseElement) -> Statement:
    return Statement(statement)


def _compile(statement: ClauseElement, dialect: Dialect, keys: list[str]) -> _Compiled:
    # As for an executemany: no implicit RETURNING of a new row's key (nothing reads it).
    compiled: Any = statement.compile(dialect=dialect, column_keys=keys, for_executemany=True)
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("storage.fast runs statements without Python-side defaults only")
    if compiled.positiontup is None:
        raise ValueError(f"{dialect.name}: a positional paramstyle is expected")
    processors = compiled._bind_processors
    params = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        default = _NO_VALUE if bind.required else bind.effective_value
        if name in keys:
            default = _NO_VALUE
        params.append((name, default, processors.get(name)))
    results = tuple(
        column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
    )
    return _Compiled(compiled.string, tuple(params), results)


def _announce(connection: AsyncConnection, sql: str, args: Any, many: bool) -> None:
    """Tell ``before_cursor_execute`` listeners (tests counting statements, tracing) about the
    statement, as SQLAlchemy would: what runs here is not hidden from them."""
    sync = connection.sync_connection
    if sync is not None and sync.dispatch.before_cursor_execute:
        for listener in sync.dispatch.before_cursor_execute:
            listener(sync, None, sql, args, None, many)


async def _raw(connection: AsyncConnection) -> Any:
    """The pooled connection under ``connection`` (without a hop into SQLAlchemy's greenlet
    when it is there, as it is inside a transaction)."""
    sync = connection.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        return sync.connection
    return await connection.get_raw_connection()


async def integers(
    connection: AsyncConnection, statement: Statement, values: dict[str, Any]
) -> list[int]:
    """The first column of the rows ``statement`` reads: whole numbers (no result processing
    needed on either driver), e.g. ids."""
    dialect = connection.dialect
    compiled = statement.compiled(dialect, [])
    args = compiled.args(values)
    _announce(connection, compiled.sql, args, False)
    raw = await _raw(connection)
    if dialect.name == "sqlite":
        try:
            cursor = raw.driver_connection._conn.execute(compiled.sql, args)
            try:
                return [row[0] for row in cursor.fetchall()]
            finally:
                cursor.close()
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(compiled.sql, (), error, sqlite3.Error) from error
    adapted: Any = raw.dbapi_connection
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        try:
            return [row[0] for row in await adapted._connection.fetch(compiled.sql, *args)]
        except Exception as error:
            try:
                adapted._handle_exception(error)
            except Exception as translated:
                base = dialect.loaded_dbapi.Error
                raise exc.DBAPIError.instance(compiled.sql, (), translated, base) from error
    raise AssertionError("unreachable")


async def rows(
    connection: AsyncConnection,
    statement: Statement,
    values: dict[str, Any],
    *,
    keyed: bool = False,
) -> list[tuple[Any, ...]]:
    """The rows ``statement`` (a SELECT, or a write with RETURNING) gives, each value as
    SQLAlchemy's result processing would give it (the column types' result processors: dates
    and times on SQLite, aware UTC datetimes on both). ``keyed``: an INSERT's columns are the
    keys of ``values`` (as SQLAlchemy decides from the parameters)."""
    dialect = connection.dialect
    compiled = statement.compiled(dialect, list(values) if keyed else [])
    args = compiled.args(values)
    _announce(connection, compiled.sql, args, False)
    raw = await _raw(connection)
    if dialect.name == "sqlite":
        try:
            cursor = raw.driver_connection._conn.execute(compiled.sql, args)
            try:
                return [compiled.row(row) for row in cursor.fetchall()]
            finally:
                cursor.close()
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(compiled.sql, (), error, sqlite3.Error) from error
    adapted: Any = raw.dbapi_connection
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        try:
            found = await adapted._connection.fetch(compiled.sql, *args)
        except Exception as error:
            try:
                adapted._handle_exception(error)
            except Exception as translated:
                base = dialect.loaded_dbapi.Error
                raise exc.DBAPIError.instance(compiled.sql, (), translated, base) from error
            raise AssertionError("unreachable") from error
    return [compiled.row(row) for row in found]


async def execute(
    connection: AsyncConnection, statement: Statement, values: dict[str, Any]
) -> None:
    """Run ``statement`` once with ``values`` on ``connection``'s driver connection."""
    await execute_many(connection, statement, [values])


async def execute_many(
    connection: AsyncConnection, statement: Statement, rows: Sequence[dict[str, Any]]
) -> None:
    """Run ``statement`` for each of ``rows`` (all with the same keys), in order."""
    if not rows:
        return
    dialect = connection.dialect
    compiled = statement.compiled(dialect, list(rows[0]))
    if compiled.results:
        raise ValueError("a statement that returns rows is run with rows()")
    args = [compiled.args(row) for row in rows]
    _announce(connection, compiled.sql, args if len(args) > 1 else args[0], len(args) > 1)
    raw = await _raw(connection)
    if dialect.name == "sqlite":
        driver: Any = raw.driver_connection
        try:
            if len(args) == 1:
                driver._conn.execute(compiled.sql, args[0]).close()
            else:
                driver._conn.executemany(compiled.sql, args).close()
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(compiled.sql, (), error, sqlite3.Error) from error
        return
    adapted: Any = raw.dbapi_connection
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        try:
            if len(args) == 1:
                await adapted._connection.execute(compiled.sql, *args[0])
            else:
                await adapted._connection.executemany(compiled.sql, args)
        except Exception as error:
            try:
                adapted._handle_exception(error)  # raises the dialect's DB-API error
            except Exception as translated:
                base = dialect.loaded_dbapi.Error
                raise exc.DBAPIError.instance(compiled.sql, (), translated, base) from error
