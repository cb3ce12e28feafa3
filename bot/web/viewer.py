"""Who is looking at a console page, and what they may see: one object per request that
every page filters by. An organiser sees the whole alliance (``scope`` None); a leader sees
the institutions they lead (``scope`` their ids), never another institution's people and no
phone number of anyone they do not lead."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web.auth import Current
from storage.audit import Actor
from storage.models import Institution
from storage.roles import Roles


@dataclass(frozen=True)
class Viewer:
    current: Current
    csrf_token: str
    institutions: tuple[str, ...] = ()  # names of the institutions a leader leads

    @property
    def person_id(self) -> int:
        return self.current.person.id

    @property
    def name(self) -> str:
        return self.current.person.name.strip() or "you"

    @property
    def session_id(self) -> int:
        return self.current.session.id

    @property
    def actor(self) -> Actor:
        """Who the audit log names for a change made on a console page."""
        return Actor.of(self.current.person, "web")

    @property
    def roles(self) -> Roles:
        return self.current.roles

    @property
    def scope(self) -> frozenset[int] | None:
        return self.roles.scope

    def sees(self, institution_id: int | None) -> bool:
        scope = self.scope
        return scope is None or (institution_id is not None and institution_id in scope)

    @property
    def scope_label(self) -> str:
        if self.scope is None:
            return "Organiser, whole alliance"
        return "Leader, " + (", ".join(self.institutions) or "no institution")


async def viewer_for(session: AsyncSession, current: Current, csrf_token: str) -> Viewer:
    names: tuple[str, ...] = ()
    if current.roles.scope:
        names = tuple(
            await session.scalars(
                select(Institution.name)
                .where(Institution.id.in_(current.roles.scope))
                .order_by(Institution.name)
            )
        )
    return Viewer(current, csrf_token, names)
