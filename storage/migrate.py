"""Run the Alembic migrations from code (``turnout db upgrade``, ``turnout serve``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent


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


async def pending(engine: AsyncEngine) -> bool:
    """True when the database is behind the migration scripts."""

    def _check(connection: Connection) -> bool:
        current = set(MigrationContext.configure(connection).get_current_heads())
        return current != set(ScriptDirectory.from_config(alembic_config()).get_heads())

    async with engine.connect() as connection:
        return await connection.run_sync(_check)
