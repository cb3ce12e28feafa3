"""Changing a person's record from the console: their name, language and institutions. The one
place these edits are written (a view calls this, never sets the columns itself), each change
audited with who made it.

    changed = await edit_person(session, person, PersonEdit("Ann Patel", "cy", {3, 5}),
                                editable=None, actor=Actor.of(me, "web"), now=now)

``editable`` is the institutions the editor may add or remove (None: all of them, an
organiser); memberships in other institutions are left as they are, so a leader editing one
of their people never touches what another institution recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import LANGUAGES
from storage.audit import Actor, record
from storage.models import Institution, Membership, Person

MAX_NAME = 200


class PersonEditError(ValueError):
    """What is wrong with an edit, by field (the form shows each beside its field)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()))


@dataclass(frozen=True)
class PersonEdit:
    name: str
    language: str
    institution_ids: set[int] = field(default_factory=set)


def clean_name(name: str) -> str:
    return " ".join(name.split())


async def edit_person(
    session: AsyncSession,
    person: Person,
    edit: PersonEdit,
    *,
    editable: frozenset[int] | None,
    actor: Actor,
    now: datetime,
) -> list[str]:
    """Apply ``edit``; the fields that changed (empty: nothing did, nothing is recorded).
    Raises PersonEditError (nothing written) for a bad value."""
    errors: dict[str, str] = {}
    name = clean_name(edit.name)
    if not name:
        errors["name"] = "Enter the person's name"
    elif len(name) > MAX_NAME:
        errors["name"] = f"The name must be {MAX_NAME} characters or fewer"
    if edit.language not in LANGUAGES:
        errors["language"] = "Choose a language from the list"
    allowed_query = select(Institution.id)
    if editable is not None:
        allowed_query = allowed_query.where(Institution.id.in_(sorted(editable)))
    allowed = set(await session.scalars(allowed_query))
    if not edit.institution_ids <= allowed:
        errors["institutions"] = "Choose institutions from the list"
    if errors:
        raise PersonEditError(errors)

    changed: list[str] = []
    if name != person.name:
        person.name = name
        changed.append("name")
    if edit.language != person.language:
        person.language = edit.language
        changed.append("language")
    held = set(
        await session.scalars(
            select(Membership.institution_id).where(Membership.person_id == person.id)
        )
    )
    held_here = held & allowed
    added = sorted(edit.institution_ids - held_here)
    removed = sorted(held_here - edit.institution_ids)
    if removed:
        await session.execute(
            delete(Membership)
            .where(Membership.person_id == person.id)
            .where(Membership.institution_id.in_(removed))
        )
    for institution_id in added:
        session.add(
            Membership(
                person_id=person.id, institution_id=institution_id, role="member", created_at=now
            )
        )
    if added or removed:
        changed.append("institutions")
    if changed:
        await session.flush()
        await record(
            session,
            actor,
            "person_edited",
            "person",
            person.id,
            at=now,
            details={"fields": changed, "added": added, "removed": removed},
        )
    return changed
