"""Migration 0011 starts the consent history with one event per person, from the state
their row held, on SQLite and PostgreSQL (and its downgrade leaves the schema as it was)."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import alembic_config, upgrade

BEFORE = "0011-1"
PEOPLE = [
    ("+447700900001", "opted_in", "import"),
    ("+447700900002", "opted_out", "sms"),  # STOP by SMS, recorded under the channel's name
    ("+447700900003", "opted_in", "telegram"),
    ("+447700900004", "opted_out", "carrier"),
    ("+447700900005", "unknown", "something_old"),
]


async def test_the_backfill_gives_everyone_their_first_event(db: Database) -> None:
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)

    def down(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, BEFORE)

    async with db.engine.begin() as connection:
        await connection.run_sync(down)
        for phone, consent, source in PEOPLE:
            await connection.execute(
                text(
                    "INSERT INTO people (name, phone, phone_status, language, timezone, consent,"
                    " consent_source, consent_at, telegram_status, created_at) VALUES ('', :p,"
                    " 'ok', 'en', 'Europe/London', :c, :s, :at, 'ok', :at)"
                ),
                {"p": phone, "c": consent, "s": source, "at": at},
            )
    await upgrade(db.engine)
    async with db.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT p.phone, e.state, e.source, e.channel, p.consent_source"
                    " FROM consent_events e"
                    " JOIN people p ON p.id = e.person_id ORDER BY p.phone"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("+447700900001", "opted_in", "import", None, "import"),
        ("+447700900002", "opted_out", "stop_word", "sms", "stop_word"),
        ("+447700900003", "opted_in", "telegram", None, "telegram"),
        ("+447700900004", "opted_out", "carrier", None, "carrier"),
        ("+447700900005", "unknown", "backfill", None, "backfill"),
    ]
