"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import pending, upgrade
from storage.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == []


async def test_upgrade_is_idempotent_and_nothing_is_pending(db: Database) -> None:
    await upgrade(db.engine)
    assert not await pending(db.engine)
