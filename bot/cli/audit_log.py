"""The audit log on the command line, and the record of every command that changes something or
reads personal data.

* ``turnout audit list [--action A] [--person ID] [--limit N]``: the newest entries.
* ``turnout audit export [--out FILE]``: every entry as CSV (storage/export.py), itself audited.

:func:`install` wraps each command named in :data:`AUDITED`: once it has finished without an
error, one entry is written (the operator, the command, its non-personal arguments). Commands
that record their own, more precise entries are in :data:`RECORDED_INSIDE`; the rest, in
:data:`NOT_AUDITED`, change nothing and show nothing personal. ``tests/test_rights_audit.py``
fails when a command is in none of them.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.settings import Settings
from storage import audit
from storage.audit_export import audit_rows, write_audit_csv
from storage.db import Database

# command path -> the action its entry records
AUDITED: dict[str, str] = {
    "people import": "people_imported",
    "people list": "people_listed",
    "actions create": "action_created",
    "actions reschedule": "action_rescheduled",
    "actions cancel": "action_cancelled",
    "invite": "people_invited",
    "digest": "digest_planned",
    "plan": "reminders_planned",
    "inbox": "inbox_read",
    "outbox": "outbox_read",
    "telegram link-code": "link_code_created",
    "listening create": "campaign_created",
    "listening close": "campaign_closed",
    "listening send": "campaign_sent",
    "listening report-back": "campaign_reported_back",
    "listening invite": "campaign_theme_invited",
    "listening answers": "listening_answers_read",
    "listening tag": "listening_answer_tagged",
    "listening log": "listening_conversation_logged",
    "listening attach": "listening_message_attached",
    "listening follow-up": "listening_follow_up_recorded",
    "listening pipeline": "listening_pipeline_read",
    "listening add-theme": "listening_theme_added",
    "listening add-rule": "listening_rule_added",
    "listening remove-rule": "listening_rule_removed",
    "listening export answers": "listening_answers_exported",
    "listening export themes": "listening_themes_exported",
    "export people": "people_exported",
    "export rollup": "rollup_exported",
    "export attendance": "attendance_exported",
    "export commitments": "commitments_exported",
    "people dormant": "dormant_people_listed",
    "counters verify": "counters_verified",
    "leaders links": "leader_links_listed",
    "promises export": "promises_exported",
}
# Commands that write their own entries (with the record they touched).
RECORDED_INSIDE = {
    "people export",
    "people erase",
    "people young",
    "organisers add",
    "organisers remove",
    "organisers link",
    "audit export",
    "board link",
    "board revoke",
    "leaders link",
    "leaders revoke",
    "promises add",
    "promises mark",
    "promises report-back",
}
# Nothing changed, nothing personal shown (or the sandbox and the server themselves).
NOT_AUDITED = {
    "rollup",
    "actions list",
    "organisers list",
    "listening list",
    "listening themes",
    "listening rules",
    "audit list",
    "board links",
    "promises list",
    "promises due",
    "serve",
    "worker",
    "db upgrade",
    "demo",
    "text",
    "telegram set-webhook",
    "telegram poll",
    "telegram say",
}
# Arguments worth keeping in an entry: names of things, never people's details.
SAFE_ARGUMENTS = (
    "slug",
    "institution",
    "action",
    "theme",
    "hours",
    "question",
    "message_id",
    "answer_id",
    "round_",
    "top",
    "dry_run",
    "show_phones",
    "show_all",
    "months",
)


def commands(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every leaf command, by its path ("listening export answers")."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from commands(command, path + " ")
        else:
            yield path, command


def _details(path: str, params: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"command": path}
    for name in SAFE_ARGUMENTS:
        value = params.get(name)
        if value is None or isinstance(value, tuple):
            continue
        try:
            audit.check_details({name: value})
        except ValueError:
            continue
        details[name] = value
    return details


async def _record(db: Database, rt: Runtime, path: str, params: dict[str, Any]) -> None:
    async with db.session() as session:
        await audit.record(
            session,
            audit.Actor.operator(),
            AUDITED[path],
            "command",
            None,
            at=rt.clock.now(),
            details=_details(path, params),
        )


def _audited(path: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = callback(*args, **kwargs)
        rt = click.get_current_context().find_object(Runtime)
        if rt is not None:
            asyncio.run(rt.with_db(lambda db: _record(db, rt, path, kwargs)))
        return result

    return wrapper


def install(group: click.Group) -> None:
    """Wrap every command in :data:`AUDITED` (once)."""
    for path, command in commands(group):
        callback = command.callback
        if path in AUDITED and callback is not None and not getattr(callback, "_audited", False):
            command.callback = _audited(path, callback)
            command.callback._audited = True  # type: ignore[attr-defined]


@cli.group("audit")
def audit_group() -> None:
    """The audit log: who changed what, when (organisers and the operator)."""


@audit_group.command("list")
@click.option("--action", help="Only this action (e.g. person_erased).")
@click.option("--person", "person_id", type=int, help="Only entries by or about person ID.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@pass_runtime
@run
async def list_entries(rt: Runtime, action: str | None, person_id: int | None, limit: int) -> None:
    """The newest entries first."""

    async def body(session: AsyncSession, _settings: Settings, _now: datetime) -> str:
        rows = await audit_rows(session, action=action, person_id=person_id, limit=limit)
        return table(
            ["id", "at", "who", "via", "action", "subject", "details"],
            [
                [r[c] for c in ("id", "at", "who", "via", "action", "subject", "details")]
                for r in rows
            ],
        )

    click.echo(await rt.transaction(body))


@audit_group.command("export")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="CSV file (default: stdout)."
)
@click.option("--action", help="Only this action.")
@click.option("--person", "person_id", type=int, help="Only entries by or about person ID.")
@pass_runtime
@run
async def export_entries(
    rt: Runtime, out: Path | None, action: str | None, person_id: int | None
) -> None:
    """Every entry (or those asked for) as CSV; the export is itself recorded."""

    async def body(
        session: AsyncSession, _settings: Settings, now: datetime
    ) -> list[dict[str, Any]]:
        rows = await audit_rows(session, action=action, person_id=person_id, limit=None)
        await audit.record(
            session,
            audit.Actor.operator(),
            "audit_exported",
            "audit_log",
            None,
            at=now,
            details={"rows": len(rows), "action": action, "person": person_id},
        )
        return rows

    rows = await rt.transaction(body)
    if out is None:
        write_audit_csv(sys.stdout, rows)
        return
    with out.open("w", newline="", encoding="utf-8") as handle:
        write_audit_csv(handle, rows)
    click.echo(f"wrote {len(rows)} entries to {out}")
