"""What every CLI command shares: settings (errors name the variable), the event loop, the
database, and table printing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import click
from aiohttp import web

from bot.app import Extension, create_app
from config.settings import Settings, SettingsError
from storage.db import Database
from storage.migrate import pending, upgrade

P = ParamSpec("P")
T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def run(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body in a fresh event loop."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(func(*args, **kwargs))

    return wrapper


async def open_db(settings: Settings, *, migrate_sqlite: bool = True) -> Database:
    """The database, migrated if it is the embedded SQLite default; PostgreSQL must be
    upgraded on purpose (``turnout db upgrade``), so a deploy never migrates by surprise."""
    db = Database.from_url(settings.database_url)
    try:
        if await pending(db.engine):
            if db.is_sqlite and migrate_sqlite:
                await upgrade(db.engine)
            else:
                await db.dispose()
                raise click.ClickException(
                    "the database schema is out of date: run `turnout db upgrade` first"
                )
    except click.ClickException:
        raise
    except Exception as exc:
        await db.dispose()
        raise click.ClickException(f"cannot open the database: {exc}") from None
    return db


async def with_db(settings: Settings, body: Callable[[Database], Awaitable[T]]) -> T:
    db = await open_db(settings)
    try:
        return await body(db)
    finally:
        await db.dispose()


@asynccontextmanager
async def app_on_loopback(
    settings: Settings, extensions: list[Extension] | None = None
) -> AsyncIterator[str]:
    """No server running: the same app on a free loopback port for the life of the block
    (its base URL), so sandbox commands always go through the real webhooks."""
    db = await open_db(settings)
    runner = web.AppRunner(create_app(settings, db=db, extensions=extensions))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await db.dispose()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: text columns left-aligned, numbers right-aligned."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [
        all(isinstance(r[i], int | float) or r[i] in (None, "-") for r in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)
