"""Changes an organiser or leader makes to a listening campaign from the console: a question's
words in each language, an answer's themes by hand, a follow-up done. Written here once, each
audited.

    await edit_question(session, question, {"en": "...", "cy": "..."}, actor=..., now=now)
    await tag_by_hand(session, answer, {theme_id, ...}, actor=..., now=now)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import LANGUAGES
from storage.audit import Actor, record
from storage.listening import ListeningError, record_follow_up
from storage.listening_themes import set_manual_tags
from storage.models import (
    ListeningAnswer,
    ListeningCampaign,
    ListeningQuestion,
    ListeningTheme,
    Person,
)

MAX_QUESTION = 300  # the question inside its template must still be a short text
MAX_NOTE = 2000


class ListeningEditError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()))


async def edit_question(
    session: AsyncSession,
    question: ListeningQuestion,
    texts: Mapping[str, str],
    *,
    actor: Actor,
    now: datetime,
) -> list[str]:
    """Set the question's words per language (English needed; an empty one falls back to
    English when sent). The languages that changed."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for language, words in texts.items():
        if language not in LANGUAGES:
            errors[f"text-{language}"] = f"Unknown language {language[:8]}"
            continue
        words = " ".join(words.split())
        if len(words) > MAX_QUESTION:
            errors[f"text-{language}"] = f"Keep the question to {MAX_QUESTION} characters"
        if words:
            clean[language] = words
    if "en" not in clean and "text-en" not in errors:
        errors["text-en"] = "Write the question in English"
    if errors:
        raise ListeningEditError(errors)
    changed = sorted(
        lang
        for lang in set(clean) | set(question.texts)
        if clean.get(lang) != question.texts.get(lang)
    )
    if changed:
        question.texts = clean
        await session.flush()
        await record(
            session,
            actor,
            "listening_question_edited",
            "listening_question",
            question.id,
            at=now,
            details={"campaign": question.campaign_id, "languages": changed},
        )
    return changed


async def tag_by_hand(
    session: AsyncSession,
    answer: ListeningAnswer,
    theme_ids: set[int],
    *,
    actor: Actor,
    now: datetime,
) -> None:
    """The answer's themes, chosen by a person (they replace the rules' for good)."""
    allowed = set(
        await session.scalars(
            select(ListeningTheme.id).where(ListeningTheme.campaign_id == answer.campaign_id)
        )
    )
    if not theme_ids <= allowed:
        raise ListeningEditError({"themes": "Choose themes from the list"})
    await set_manual_tags(session, answer, theme_ids)
    await record(
        session,
        actor,
        "listening_answer_tagged",
        "listening_answer",
        answer.id,
        at=now,
        details={"campaign": answer.campaign_id, "themes": sorted(theme_ids)},
    )


async def followed_up(
    session: AsyncSession,
    campaign: ListeningCampaign,
    person: Person,
    note: str,
    *,
    by: Person,
    actor: Actor,
    now: datetime,
) -> int:
    """``by`` followed ``person`` up (a call, a visit, a coffee): they leave the queue. The
    follow-up's id. The note is kept with the follow-up, never in the audit log."""
    if len(note) > MAX_NOTE:
        raise ListeningEditError({"note": f"Keep the note to {MAX_NOTE} characters"})
    try:
        follow_up = await record_follow_up(
            session, campaign=campaign, person=person, now=now, by=by, note=note, channel="web"
        )
    except ListeningError as problem:
        raise ListeningEditError({"note": str(problem).capitalize()}) from None
    await record(
        session,
        actor,
        "listening_followed_up",
        "person",
        person.id,
        at=now,
        details={"campaign": campaign.id, "follow_up": follow_up.id},
    )
    return follow_up.id
