"""Spreadsheets waiting between the import wizard's preview and its confirmation
(``console_uploads``). The file stays on the server: the page holds a token, only its SHA-256
is stored, and only the console session that uploaded it finds it again.

    token, row = await keep_upload(session, session_id=7, filename="people.csv",
                                   content=text, rows=120, now=now)
    row = await find_upload(session, token, session_id=7, now=now)   # None: gone or not yours
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConsoleUpload

UPLOAD_TTL = timedelta(hours=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def keep_upload(
    session: AsyncSession,
    *,
    session_id: int,
    filename: str,
    content: str,
    rows: int,
    now: datetime,
) -> tuple[str, ConsoleUpload]:
    """Store the file for ``session_id`` (dropping anything expired); its token, given once."""
    await session.execute(delete(ConsoleUpload).where(ConsoleUpload.expires_at <= now))
    token = secrets.token_urlsafe(32)
    row = ConsoleUpload(
        token_hash=_hash(token),
        session_id=session_id,
        filename=filename[:200],
        content=content,
        rows=rows,
        created_at=now,
        expires_at=now + UPLOAD_TTL,
    )
    session.add(row)
    await session.flush()
    return token, row


async def find_upload(
    session: AsyncSession, token: str, *, session_id: int, now: datetime
) -> ConsoleUpload | None:
    if not token:
        return None
    return await session.scalar(
        select(ConsoleUpload)
        .where(ConsoleUpload.token_hash == _hash(token))
        .where(ConsoleUpload.session_id == session_id)
        .where(ConsoleUpload.expires_at > now)
    )


async def drop_upload(session: AsyncSession, upload_id: int) -> bool:
    """Forget it (imported, or abandoned); False if it was already gone (a second confirm)."""
    result = await session.execute(delete(ConsoleUpload).where(ConsoleUpload.id == upload_id))
    return bool(getattr(result, "rowcount", 0) == 1)
