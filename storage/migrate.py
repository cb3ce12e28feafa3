"""Run the Alembic migrations from code (``turnout db upgrade``, ``turnout serve``, tests)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"  # Alembic's default; storage/migrations/env.py keeps it
_VERSION = table(VERSION_TABLE, column("version_num"))


def alembic_config() -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    """Bring the schema up to date (every branch head)."""

    def _upgrade(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


@cache
def script_heads() -> frozenset[str]:
    """The revisions the migration scripts lead to, read once per process (parsing the
    scripts takes a while; they do not change under a running process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def database_heads(connection: AsyncConnection) -> frozenset[str]:
    """The revisions the database is at (empty if it was never migrated). Read from Alembic's
    version table directly: a MigrationContext would log two INFO lines on every readiness
    probe."""

    def _heads(sync: Connection) -> frozenset[str]:
        if not inspect(sync).has_table(VERSION_TABLE):
            return frozenset()
        return frozenset(sync.execute(select(_VERSION.c.version_num)).scalars())

    return await connection.run_sync(_heads)


async def pending(engine: AsyncEngine) -> bool:
    """True when the database is behind the migration scripts."""
    async with engine.connect() as connection:
        return await database_heads(connection) != script_heads()
