"""What every listening report shares: ``Scope`` (the institutions a leader may see; None for an
organiser: everyone), the condition that keeps a query within it, and institution names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import Institution, Membership

Scope = Sequence[int] | None


def within_scope(person_col: Any, scope: Scope) -> ColumnElement[bool]:
    if scope is None:
        return true()
    return (
        exists()
        .where(Membership.person_id == person_col)
        .where(Membership.institution_id.in_(list(scope)))
    )


async def institution_names(session: AsyncSession, scope: Scope) -> list[tuple[int, str]]:
    query = select(Institution.id, Institution.name).order_by(Institution.name)
    if scope is not None:
        query = query.where(Institution.id.in_(list(scope)))
    else:
        query = query.where(Institution.status != "former")
    return [(int(i), str(n)) for i, n in await session.execute(query)]


async def institution_names_for(session: AsyncSession, person_ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    ids = list(dict.fromkeys(person_ids))
    for start in range(0, len(ids), 1000):
        rows = await session.execute(
            select(Membership.person_id, Institution.name)
            .join(Institution, Institution.id == Membership.institution_id)
            .where(Membership.person_id.in_(ids[start : start + 1000]))
            .order_by(Institution.name)
        )
        for pid, name in rows:
            out.setdefault(int(pid), []).append(str(name))
    return {pid: "; ".join(names) for pid, names in out.items()}
