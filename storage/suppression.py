"""Suppressed numbers: an erased person's E.164 number, kept only as a keyed hash
(HMAC-SHA256 under TURNOUT_SUPPRESSION_SECRET), so a later import can recognise the number
and skip it without anyone being able to read the number back.

A suppression is lifted only when the person texts in again themselves (bot/inbound.py).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Secret
from storage.models import Suppression


class NoSuppressionSecret(RuntimeError):
    """Erasing needs TURNOUT_SUPPRESSION_SECRET (or an import would bring the number back)."""

    def __init__(self) -> None:
        super().__init__(
            "TURNOUT_SUPPRESSION_SECRET is not set: it keys the hash that stops an import "
            "bringing an erased number back (set it once, never change it)"
        )


def key_of(phone: str, secret: Secret) -> str:
    if not secret:
        raise NoSuppressionSecret()
    return hmac.new(secret.get().encode(), phone.encode(), hashlib.sha256).hexdigest()


async def suppress(session: AsyncSession, phone: str, secret: Secret, *, at: datetime) -> None:
    key = key_of(phone, secret)
    if await session.scalar(select(Suppression.id).where(Suppression.key == key)) is None:
        session.add(Suppression(key=key, at=at))
        await session.flush()


async def suppressed(session: AsyncSession, phones: list[str], secret: Secret) -> set[str]:
    """Which of ``phones`` were erased (none when no secret is set: nothing can have been)."""
    if not secret or not phones:
        return set()
    keys = {key_of(p, secret): p for p in phones}
    found = await session.scalars(select(Suppression.key).where(Suppression.key.in_(keys)))
    return {keys[k] for k in found}


async def lift(session: AsyncSession, phone: str, secret: Secret) -> bool:
    """They texted in themselves: the number may be kept again. True if it was suppressed."""
    if not secret:
        return False
    result = await session.execute(
        delete(Suppression).where(Suppression.key == key_of(phone, secret))
    )
    return bool(getattr(result, "rowcount", 0))
