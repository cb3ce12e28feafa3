"""The one seam through which every ``turnout`` command gets its settings, database and clock.

The ``turnout`` group builds a :class:`Runtime` once per invocation and puts it on click's
context; a command takes it with ``@pass_runtime``. No command reads ``Settings.from_env()``,
builds a ``Database`` or makes a clock itself (tests/test_clock.py checks). Tests hand the CLI
their own, e.g. a clock that stands still::

    CliRunner().invoke(cli, [...], env={...}, obj=Runtime(clock=FakeClock(T0)))

Settings are read on first use, so ``--help`` works even with a broken .env, and a bad value
stops the command with a message naming the variable. The clock is the system clock, or with
``TURNOUT_NOW`` one that starts then and runs at real speed (config/clock.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

import click
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compose import loopback_app
from config.clock import Clock, clock_at
from config.settings import Settings, SettingsError
from storage.db import Database
from storage.migrate import pending, upgrade

T = TypeVar("T")


class Runtime:
    """Settings, database and clock for one ``turnout`` invocation (see the module docstring)."""

    def __init__(self, *, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self._settings = settings
        self._clock = clock

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.from_env()
            except SettingsError as exc:
                raise click.ClickException(f"configuration error: {exc}") from None
        return self._settings

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            self._clock = clock_at(self.settings.now)
        return self._clock

    def database(self) -> Database:
        """A new handle on the configured database, schema unchecked (``turnout db upgrade``);
        the caller disposes of it. Other commands use :meth:`open_db` or :meth:`with_db`."""
        return Database.from_url(self.settings.database_url)

    async def open_db(self, *, migrate_sqlite: bool = True) -> Database:
        """The database, migrated if it is the embedded SQLite default; PostgreSQL must be
        upgraded on purpose (``turnout db upgrade``), so a deploy never migrates by surprise."""
        db = self.database()
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

    async def with_db(self, body: Callable[[Database], Awaitable[T]]) -> T:
        db = await self.open_db()
        try:
            return await body(db)
        finally:
            await db.dispose()

    async def transaction(
        self, body: Callable[[AsyncSession, Settings, datetime], Awaitable[T]]
    ) -> T:
        """Run ``body(session, settings, now)`` in one transaction on the database (opened for
        it, closed after). A domain error (a ``ValueError``: a listening or theme error, a
        bad action...) becomes a clean message, and nothing is written."""
        settings = self.settings
        now = self.clock.now()

        async def go(db: Database) -> T:
            try:
                async with db.session() as session:
                    return await body(session, settings, now)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None

        return await self.with_db(go)

    @asynccontextmanager
    async def app_on_loopback(self, *, telegram: bool = False) -> AsyncIterator[str]:
        """No server running: the same app (bot.compose.loopback_app; with ``telegram``, the
        Telegram service too) on a free loopback port for the life of the block (its base URL),
        so sandbox commands always go through the real webhooks."""
        db = await self.open_db()
        app = loopback_app(self.settings, db=db, clock=self.clock, telegram=telegram)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()
            await db.dispose()


pass_runtime = click.make_pass_decorator(Runtime)
