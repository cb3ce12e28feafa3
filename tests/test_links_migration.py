"""Migration 0015 moves every leader link into capability_links (kind "leader") with its
token's hash, so a URL handed out before still opens the leader's page; the downgrade moves
them back. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.leader_links import open_link
from storage.links import token_hash
from storage.migrate import alembic_config, upgrade

BEFORE = "0014"
AT = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
LIVE = "L" * 43
REVOKED = "R" * 43


def _to(revision: str) -> Callable[[Connection], None]:
    def go(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    return go


async def _seed(db: Database) -> None:
    async with db.engine.begin() as c:
        await c.run_sync(_to(BEFORE))
        await c.execute(
            text(
                "INSERT INTO people (id, name, phone, phone_status, language, timezone, consent,"
                " consent_source, consent_at, telegram_status, created_at) VALUES (1, 'Ann Patel',"
                " '+447700900001', 'ok', 'en', 'Europe/London', 'opted_in', 'import', :at,"
                " 'ok', :at)"
            ),
            {"at": AT},
        )
        await c.execute(
            text(
                "INSERT INTO institutions (id, name, kind, status, created_at)"
                " VALUES (1, 'St Mary''s Church', 'church', 'active', :at)"
            ),
            {"at": AT},
        )
        await c.execute(
            text(
                "INSERT INTO actions (id, slug, title, kind, starts_at, ends_at, place, bring,"
                " status, revision, created_at, updated_at) VALUES (1, 'assembly', 'Assembly',"
                " 'assembly', :start, :end, 'Hall', '', 'scheduled', 0, :at, :at)"
            ),
            {"at": AT, "start": AT + timedelta(days=7), "end": AT + timedelta(days=7, hours=2)},
        )
        for n, (token, revoked) in enumerate([(LIVE, None), (REVOKED, AT)], start=7):
            await c.execute(
                text(
                    "INSERT INTO leader_links (id, token_hash, person_id, action_id,"
                    " institution_id, created_at, expires_at, revoked_at, last_used_at)"
                    " VALUES (:id, :h, 1, 1, 1, :at, :exp, :rev, :at)"
                ),
                {
                    "id": n,
                    "h": token_hash(token),
                    "at": AT,
                    "exp": AT + timedelta(days=9),
                    "rev": revoked,
                },
            )


async def test_leader_links_move_into_capability_links_and_their_urls_still_open(
    db: Database,
) -> None:
    await _seed(db)
    await upgrade(db.engine)
    async with db.engine.connect() as c:
        rows = (
            await c.execute(
                text(
                    "SELECT kind, person_id, institution_id, action_id, revoked_at IS NULL,"
                    " last_used_at IS NOT NULL FROM capability_links ORDER BY id"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("leader", 1, 1, 1, True, True),
        ("leader", 1, 1, 1, False, True),
    ]
    async with db.session() as s:
        opened = await open_link(s, LIVE, AT)
        assert opened is not None
        assert (opened.leader.name, opened.institution.id, opened.action.slug) == (
            "Ann Patel",
            1,
            "assembly",
        )
        assert await open_link(s, REVOKED, AT) is None

    async with db.engine.begin() as c:
        await c.run_sync(_to(BEFORE))
        back = (
            await c.execute(
                text("SELECT token_hash, revoked_at IS NULL FROM leader_links ORDER BY id")
            )
        ).all()
    assert [tuple(r) for r in back] == [(token_hash(LIVE), True), (token_hash(REVOKED), False)]
    await upgrade(db.engine)
