"""The daily retention job: free text older than TURNOUT_RETAIN_TEXT_DAYS is redacted
(storage/retention.py keeps the themes, counts and dates). 0 days: kept until erased."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from config.clock import Clock
from config.settings import Settings
from storage.db import Database
from storage.retention import redact_text

log = logging.getLogger(__name__)


async def apply_retention(db: Database, settings: Settings, now: datetime) -> dict[str, int]:
    if settings.retain_text_days <= 0:
        return {}
    before = now - timedelta(days=settings.retain_text_days)
    async with db.session() as session:
        changed = await redact_text(session, before=before)
    if any(changed.values()):
        log.info("retention: redacted text older than %s: %s", before.date(), changed)
    return changed


def retention_job(
    db: Database, settings: Settings, clock: Clock
) -> Callable[[], Awaitable[dict[str, int]]]:
    async def job() -> dict[str, int]:
        return await apply_retention(db, settings, clock.now())

    return job
