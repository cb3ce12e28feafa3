"""Many rows in one ``INSERT ... ON CONFLICT DO NOTHING ... RETURNING``: what a bulk write (an
invitation to a segment of thousands: storage/invitations.py, storage.outbox.enqueue_many)
needs, where a row whose unique key is taken is simply not written (and not returned), even
when another transaction took it a moment ago.

On PostgreSQL the rows go as one array per column through ``unnest``: one statement, prepared
once, however many rows (a multi-row ``VALUES`` of thousands of rows is a new statement with
tens of thousands of parameters for the server to parse and plan, page after page). On SQLite
they go as SQLAlchemy's "insertmanyvalues": multi-row ``VALUES``, a page at a time, in process.
Either way each column's type is applied to its values (aware datetimes, text cleaned with
``storable``), as for any other write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

_SQLITE: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}


async def insert_new(
    connection: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    unique: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts with the same keys), skipping any whose ``unique`` columns are
    taken; returns the ``returning`` columns of the rows written (in no particular order)."""
    if not rows:
        return []
    if connection.dialect.name == "postgresql":
        return await _unnest(connection, table, rows, unique, returning)
    key = (table.name, tuple(unique), tuple(returning))
    statement = _SQLITE.get(key)
    if statement is None:
        statement = (
            sqlite_insert(table)
            .on_conflict_do_nothing(index_elements=list(unique))
            .returning(*[table.c[name] for name in returning])
        )
        _SQLITE[key] = statement
    return [tuple(row) for row in await connection.execute(statement, list(rows))]


async def _unnest(
    connection: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    unique: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    dialect = connection.dialect
    names = list(rows[0])
    params: dict[str, list[Any]] = {}
    casts = []
    for i, name in enumerate(names):
        column = table.c[name]
        values = [row[name] for row in rows]
        process = column.type._cached_bind_processor(dialect)
        if process is not None:
            first = values[0]
            if all(value is first for value in values):  # a constant: processed once
                values = [process(first)] * len(values)
            else:
                values = [process(value) for value in values]
        params[f"c{i}"] = values
        casts.append(f"CAST(:c{i} AS {column.type.compile(dialect=dialect)}[])")
    # Only names from the table's own metadata, quoted by the dialect; values go as parameters.
    preparer = dialect.identifier_preparer
    sql = (
        f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(preparer.quote(n) for n in names)}) "
        f"SELECT * FROM unnest({', '.join(casts)}) "
        f"ON CONFLICT ({', '.join(preparer.quote(n) for n in unique)}) DO NOTHING "
        f"RETURNING {', '.join(preparer.quote(n) for n in returning)}"
    )
    return [tuple(row) for row in await connection.execute(text(sql), params)]
