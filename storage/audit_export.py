"""Reading the audit log for people: filtered rows (the console's /audit, ``turnout audit
list``) and the CSV export (through storage/export.py, the one formula-safe writer).

    rows = await audit_rows(session, action="person_erased", person_id=12, limit=100)
    write_audit_csv(out, rows)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.export import CsvExport
from storage.models import AuditEntry

AUDIT_COLUMNS = ("id", "at", "who", "via", "action", "subject", "details")


def as_row(entry: AuditEntry) -> dict[str, Any]:
    subject = entry.subject_type
    if entry.subject_id is not None:
        subject += f" #{entry.subject_id}"
    return {
        "id": entry.id,
        "at": entry.at.isoformat(timespec="seconds"),
        "who": entry.actor_label,
        "via": entry.via,
        "action": entry.action,
        "subject": subject,
        "details": json.dumps(entry.details or {}, sort_keys=True),
    }


async def audit_rows(
    session: AsyncSession,
    *,
    action: str | None = None,
    person_id: int | None = None,
    via: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int | None = 100,
) -> list[dict[str, Any]]:
    """Newest first. ``person_id``: entries by that person or about them."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    if via:
        query = query.where(AuditEntry.via == via)
    if person_id is not None:
        query = query.where(
            or_(
                AuditEntry.actor_person_id == person_id,
                (AuditEntry.subject_type == "person") & (AuditEntry.subject_id == person_id),
            )
        )
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if limit is not None:
        query = query.limit(limit)
    return [as_row(entry) for entry in await session.scalars(query)]


def write_audit_csv(out: TextIO, rows: list[dict[str, Any]]) -> int:
    export = CsvExport(out, AUDIT_COLUMNS)
    for row in rows:
        export.row([row[c] for c in AUDIT_COLUMNS])
    return export.rows
