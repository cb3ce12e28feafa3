"""``turnout serve`` and ``turnout db upgrade``."""

from __future__ import annotations

import asyncio
import signal

import click
from aiohttp import web

from bot.app import server_options, settle_heap
from bot.cli.common import run
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from bot.compose import run_worker, server_app
from config.logs import setup_logging
from config.messages import format_when
from config.settings import Settings
from storage.db import Database
from storage.migrate import upgrade


@cli.command()
@click.option("--host", help="Interface to listen on (default TURNOUT_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default TURNOUT_PORT, 8080).")
@pass_runtime
@run
async def serve(rt: Runtime, host: str | None, port: int | None) -> None:
    """Run the web server: Twilio and Telegram webhooks, /healthz (and the worker in-process
    unless TURNOUT_RUN_WORKER_IN_SERVER=false)."""
    setup_logging(rt.settings)
    db = await rt.open_db()
    await serve_until_stopped(rt, db, host=host, port=port)


async def serve_until_stopped(
    rt: Runtime, db: Database, *, host: str | None = None, port: int | None = None
) -> None:
    """Serve until SIGINT/SIGTERM, then stop everything in order and close ``db``."""
    settings = rt.settings
    app = server_app(settings, db=db, clock=rt.clock)
    runner = web.AppRunner(app, access_log=None, **server_options(settings))
    bind_host, bind_port = host or settings.host, port or settings.port
    try:
        await runner.setup()
        await web.TCPSite(runner, bind_host, bind_port).start()
    except OSError as exc:
        await runner.cleanup()
        await db.dispose()
        raise click.ClickException(
            f"cannot listen on {bind_host}:{bind_port}: {exc.strerror}"
        ) from None
    settle_heap()
    click.echo(f"turnout listening on http://{bind_host}:{bind_port}")
    _say_clock(settings)
    if settings.sms_provider == "sandbox":
        click.echo(
            "SMS: sandbox (no Twilio credentials): nothing leaves this machine. "
            "Try, in another terminal: .venv/bin/turnout text 07700900001 YES"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        click.echo("shutting down")
        await runner.cleanup()
        await db.dispose()


def _say_clock(settings: Settings) -> None:
    if settings.now is not None:
        start = format_when(settings.now, "en", settings.default_timezone)
        click.echo(f"clock: TURNOUT_NOW, running from {start} (not the system clock)")


@cli.command()
@pass_runtime
@run
async def worker(rt: Runtime) -> None:
    """Run the scheduler and the sender (reminders, digests, the outbox) until stopped.

    On PostgreSQL run as many as you like: they share the outbox (FOR UPDATE SKIP LOCKED) and
    elect one leader for planning. On SQLite run one (or let `turnout serve` run it)."""
    settings = rt.settings
    setup_logging(settings)
    # Migrates the embedded SQLite default, as serve does; PostgreSQL must be upgraded on purpose.
    db = await rt.open_db()
    click.echo(f"turnout worker: SMS via {settings.sms_provider}; Ctrl-C to stop")
    _say_clock(settings)
    try:
        await run_worker(db, settings, clock=rt.clock)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        await db.dispose()


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_runtime
@run
async def db_upgrade(rt: Runtime) -> None:
    """Apply every pending migration (SQLite or PostgreSQL)."""
    database = rt.database()
    try:
        await upgrade(database.engine)
    except Exception as exc:
        raise click.ClickException(f"migration failed: {exc}") from None
    finally:
        await database.dispose()
    click.echo("database is up to date")
