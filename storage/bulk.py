"""Many rows in one ``INSERT ... ON CONFLICT DO NOTHING ... RETURNING``: what a bulk write (an
invitation to a segment of thousands: storage/invitations.py, storage.outbox.enqueue_many)
needs, where a row whose unique key is taken is simply not written (and not returned), even
when another transaction took it a moment ago.

One statement however many rows, its parameters a handful of values: on PostgreSQL one array
per column through ``unnest`` (prepared once; a multi-row ``VALUES`` of thousands of rows is a
new statement with tens of thousands of parameters for the server to parse and plan, page after
page); on SQLite one JSON array of rows through ``json_each`` (read in C, where SQLAlchemy's
multi-row ``VALUES`` pages cost a Python bind per value). Either way each column's type is
applied to its values first (aware datetimes, text cleaned with ``storable``), as for any other
write, and a value shared by every row is processed once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection


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
    dialect = connection.dialect
    columns = _columns(dialect, table, rows)
    preparer = dialect.identifier_preparer
    params: dict[str, Any] = {}
    if dialect.name == "postgresql":
        casts = []
        for i, (name, values, _constant) in enumerate(columns):
            params[f"c{i}"] = values
            casts.append(f"CAST(:c{i} AS {table.c[name].type.compile(dialect=dialect)}[])")
        source = f"unnest({', '.join(casts)})"
        picked = "*"
    else:
        # SQLite: the varying columns as one JSON array of rows, read back by json_each in C;
        # a column with one value for every row goes once, as a plain parameter.
        varying = [values for _name, values, constant in columns if not constant]
        # (Every column constant: one row, or rows alike; json_each still yields one per row.)
        table_rows = zip(*varying, strict=True) if varying else [()] * len(rows)
        params["rows"] = json.dumps([list(row) for row in table_rows])
        picks, j = [], 0
        for i, (_name, values, constant) in enumerate(columns):
            if constant:
                params[f"c{i}"] = values[0]
                picks.append(f":c{i}")
            else:
                picks.append(f"json_extract(value, '$[{j}]')")
                j += 1
        source = "json_each(:rows) WHERE true"  # WHERE: SQLite's rule before ON CONFLICT
        picked = ", ".join(picks)
    # Only names from the table's own metadata, quoted by the dialect; values go as parameters.
    sql = (
        f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(preparer.quote(name) for name, _, _ in columns)}) "
        f"SELECT {picked} FROM {source} "
        f"ON CONFLICT ({', '.join(preparer.quote(n) for n in unique)}) DO NOTHING "
        f"RETURNING {', '.join(preparer.quote(n) for n in returning)}"
    )
    return [tuple(row) for row in await connection.execute(text(sql), params)]


def _columns(
    dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]
) -> list[tuple[str, list[Any], bool]]:
    """Each column's values with its type applied, and whether it is one value for every row
    (then processed once)."""
    out = []
    for name in rows[0]:
        values = [row[name] for row in rows]
        first = values[0]
        constant = all(value is first for value in values)
        process = table.c[name].type._cached_bind_processor(dialect)
        if process is not None:
            values = [process(first)] * len(values) if constant else [process(v) for v in values]
        out.append((name, values, constant))
    return out
