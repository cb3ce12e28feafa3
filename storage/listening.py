"""Listening campaigns in storage: campaigns and questions, who is asked what (contacts),
answers, segments, follow-ups, face-to-face conversations and attached inbox messages.

The theme rules live in storage.listening_themes; the theme table, the pipeline, exports and
the digest's summary in storage/listening_reports/; sending in scheduler.listening; the meaning
of a resident's reply in bot.handlers.listening.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from config.settings import LANGUAGES
from storage import keys
from storage.listening_themes import Matcher, ThemeSpec, campaign_matcher, seed_themes, tag_answer
from storage.models import (
    InboundMessage,
    Institution,
    ListeningAnswer,
    ListeningCampaign,
    ListeningContact,
    ListeningFollowUp,
    ListeningQuestion,
    Membership,
    OutboxMessage,
    Person,
)
from storage.models.listening import CONVERSATION_KINDS
from storage.outbox import Draft

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# A reply to a campaign closed longer ago than this is not treated as late: it is just a text.
LATE_REPLY_WINDOW = timedelta(days=30)


class ListeningError(ValueError):
    """Something an organiser asked for cannot be done; the message says why."""


# -- campaigns and questions --------------------------------------------------------------------


async def campaign_by_slug(session: AsyncSession, slug: str) -> ListeningCampaign | None:
    result: ListeningCampaign | None = await session.scalar(
        select(ListeningCampaign).where(ListeningCampaign.slug == slug)
    )
    return result


async def create_campaign(
    session: AsyncSession,
    *,
    slug: str,
    title: str,
    questions: Sequence[Mapping[str, str]],
    now: datetime,
    themes: Sequence[ThemeSpec],
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    target: int | None = None,
    nudge_after_hours: int = 72,
    join_seconds: int = 15,
) -> ListeningCampaign:
    """A campaign with its questions (``[{"en": ..., "cy": ...}, ...]``, English required)
    and its own copy of the theme rules."""
    if not SLUG.match(slug):
        raise ListeningError(
            f"campaign name {slug!r}: use lower-case letters, digits and dashes (e.g. city-listens)"
        )
    if not title.strip():
        raise ListeningError("a campaign needs a title")
    if not questions:
        raise ListeningError("a campaign needs at least one question")
    for n, texts in enumerate(questions, start=1):
        unknown = set(texts) - set(LANGUAGES)
        if unknown:
            raise ListeningError(f"question {n}: unknown languages {sorted(unknown)}")
        if not texts.get("en", "").strip():
            raise ListeningError(f"question {n} needs an English text")
    starts = starts_at or now
    if ends_at is not None and ends_at <= starts:
        raise ListeningError("a campaign must end after it starts")
    if target is not None and target <= 0:
        raise ListeningError("the target must be a positive number of people")
    if await campaign_by_slug(session, slug) is not None:
        raise ListeningError(f"there is already a campaign called {slug!r}")
    campaign = ListeningCampaign(
        slug=slug,
        title=title.strip(),
        starts_at=starts,
        ends_at=ends_at,
        target=target,
        status="open",
        nudge_after_hours=nudge_after_hours,
        join_seconds=join_seconds,
        created_at=now,
    )
    session.add(campaign)
    await session.flush()
    for position, texts in enumerate(questions):
        clean = {lang: text.strip() for lang, text in texts.items() if text.strip()}
        session.add(ListeningQuestion(campaign_id=campaign.id, position=position, texts=clean))
    await seed_themes(session, campaign.id, themes)
    await session.flush()
    return campaign


async def campaign_questions(session: AsyncSession, campaign_id: int) -> list[ListeningQuestion]:
    result = await session.scalars(
        select(ListeningQuestion)
        .where(ListeningQuestion.campaign_id == campaign_id)
        .order_by(ListeningQuestion.position)
    )
    return list(result)


def question_text(question: ListeningQuestion, language: str) -> str:
    return question.texts.get(language) or question.texts["en"]


def is_open(campaign: ListeningCampaign, now: datetime) -> bool:
    """Taking answers: open, started, and not past its end date."""
    return (
        campaign.status == "open"
        and campaign.starts_at <= now
        and (campaign.ends_at is None or now < campaign.ends_at)
    )


async def close_campaign(session: AsyncSession, campaign: ListeningCampaign, now: datetime) -> int:
    """Close it and cancel its questions and nudges not yet sent. Returns how many."""
    if campaign.status != "closed":
        campaign.status = "closed"
        campaign.closed_at = now
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.dedupe_key.startswith(keys.listening_prefix(campaign.id), autoescape=True)
        )
        .where(OutboxMessage.status == "queued")
        .values(status="cancelled", error_code="campaign_closed", updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- contacts -------------------------------------------------------------------------------------


async def get_contact(
    session: AsyncSession, campaign_id: int, person_id: int
) -> ListeningContact | None:
    result: ListeningContact | None = await session.scalar(
        select(ListeningContact)
        .where(ListeningContact.campaign_id == campaign_id)
        .where(ListeningContact.person_id == person_id)
    )
    return result


async def ensure_contact(
    session: AsyncSession, campaign_id: int, person_id: int, *, source: str, now: datetime
) -> ListeningContact:
    """The person's row in the campaign; created as ``done`` (listened to outside the
    question sequence) when they were never sent the campaign."""
    contact = await get_contact(session, campaign_id, person_id)
    if contact is None:
        contact = ListeningContact(
            campaign_id=campaign_id,
            person_id=person_id,
            status="done",
            step=0,
            source=source,
            created_at=now,
        )
        session.add(contact)
        await session.flush()
    return contact


async def stop_contacts(session: AsyncSession, person_id: int) -> int:
    """STOP: every campaign waiting on this person stops for them, for good."""
    result = await session.execute(
        update(ListeningContact)
        .where(ListeningContact.person_id == person_id)
        .where(ListeningContact.status == "asking")
        .values(status="stopped")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def set_consent(contact: ListeningContact, answer: str, now: datetime) -> None:
    contact.consent = answer
    contact.consent_at = now


# -- answers --------------------------------------------------------------------------------------


async def record_answer(
    session: AsyncSession,
    *,
    campaign_id: int,
    person: Person,
    body: str,
    source: str,
    now: datetime,
    question_id: int | None = None,
    inbound_id: int | None = None,
    conversation_kind: str | None = None,
    recorded_by_id: int | None = None,
    matcher: Matcher | None = None,
    contact: ListeningContact | None = None,
) -> ListeningAnswer:
    """Keep what the person said (any length, any language), mark them listened to in the
    campaign, and tag it with the campaign's theme rules. ``contact``: the person's row in
    the campaign, when the caller has it (else it is found, or made)."""
    answer = ListeningAnswer(
        campaign_id=campaign_id,
        person_id=person.id,
        question_id=question_id,
        body=body.strip(),
        language=person.language,
        source=source,
        conversation_kind=conversation_kind,
        recorded_by_id=recorded_by_id,
        inbound_id=inbound_id,
        received_at=now,
        tag_source="none",
    )
    session.add(answer)
    await session.flush()
    if contact is None:
        contact = await ensure_contact(session, campaign_id, person.id, source=source, now=now)
    if contact.first_answer_at is None or contact.first_answer_at > now:
        contact.first_answer_at = now
    if contact.last_answer_at is None or contact.last_answer_at < now:
        contact.last_answer_at = now
    await tag_answer(session, answer, matcher or await campaign_matcher(session, campaign_id))
    return answer


async def append_to_answer(
    session: AsyncSession, answer: ListeningAnswer, text: str, now: datetime
) -> None:
    """A second text that continues the answer just given: joined, then re-tagged."""
    answer.body = f"{answer.body}\n{text.strip()}"
    contact = await get_contact(session, answer.campaign_id, answer.person_id)
    if contact is not None:
        contact.last_answer_at = now
    await tag_answer(session, answer, await campaign_matcher(session, answer.campaign_id))


async def latest_answer(
    session: AsyncSession, campaign_id: int, person_id: int
) -> ListeningAnswer | None:
    result: ListeningAnswer | None = await session.scalar(
        select(ListeningAnswer)
        .where(ListeningAnswer.campaign_id == campaign_id)
        .where(ListeningAnswer.person_id == person_id)
        .order_by(ListeningAnswer.received_at.desc(), ListeningAnswer.id.desc())
        .limit(1)
    )
    return result


async def log_conversation(
    session: AsyncSession,
    *,
    campaign: ListeningCampaign,
    person: Person,
    notes: str,
    kind: str,
    now: datetime,
    recorded_by_id: int | None = None,
    consent: str | None = None,
) -> ListeningAnswer:
    """A face-to-face conversation (one-to-one, house meeting, doorstep), so the digital and
    the face-to-face listening land in one place. ``consent`` is the person's yes or no to a
    follow-up, when the leader asked."""
    if kind not in CONVERSATION_KINDS:
        raise ListeningError(f"kind must be one of {', '.join(CONVERSATION_KINDS)}")
    if not notes.strip():
        raise ListeningError("say what the person said")
    answer = await record_answer(
        session,
        campaign_id=campaign.id,
        person=person,
        body=notes,
        source="face_to_face",
        now=now,
        conversation_kind=kind,
        recorded_by_id=recorded_by_id,
    )
    if consent is not None:
        contact = await ensure_contact(
            session, campaign.id, person.id, source="face_to_face", now=now
        )
        set_consent(contact, consent, now)
    return answer


async def attach_inbound(
    session: AsyncSession,
    *,
    campaign: ListeningCampaign,
    inbound: InboundMessage,
    question_id: int | None = None,
) -> ListeningAnswer:
    """An inbox message an organiser recognises as listening: it becomes an answer of the
    campaign (once, dated when it arrived) and leaves the inbox."""
    if inbound.person_id is None:
        raise ListeningError(f"message {inbound.id} has no known sender")
    existing = await session.scalar(
        select(ListeningAnswer).where(ListeningAnswer.inbound_id == inbound.id)
    )
    if existing is not None:
        raise ListeningError(f"message {inbound.id} is already answer {existing.id}")
    if not inbound.body.strip():
        raise ListeningError(f"message {inbound.id} is empty")
    person = await session.get_one(Person, inbound.person_id)
    answer = await record_answer(
        session,
        campaign_id=campaign.id,
        person=person,
        body=inbound.body,
        source="inbox",
        now=inbound.received_at,
        question_id=question_id,
        inbound_id=inbound.id,
    )
    inbound.inbox_status = "done"
    return answer


async def record_follow_up(
    session: AsyncSession,
    *,
    campaign: ListeningCampaign,
    person: Person,
    now: datetime,
    by: Person | None = None,
    by_name: str = "",
    note: str = "",
    channel: str = "cli",
) -> ListeningFollowUp:
    contact = await get_contact(session, campaign.id, person.id)
    if contact is None or contact.first_answer_at is None:
        raise ListeningError(f"{person.name or 'this person'} was not listened to in this campaign")
    follow_up = ListeningFollowUp(
        campaign_id=campaign.id,
        person_id=person.id,
        by_id=by.id if by is not None else None,
        by_name=by_name or (by.name if by is not None else ""),
        note=note.strip(),
        channel=channel,
        at=now,
    )
    session.add(follow_up)
    await session.flush()
    return follow_up


# -- who -----------------------------------------------------------------------------------------


def preferred_channel(person: Person) -> str | None:
    """SMS when the number works, else Telegram when linked, else nothing."""
    if person.phone and person.phone_status == "ok":
        return "sms"
    if person.telegram_user_id is not None and person.telegram_status == "ok":
        return "telegram"
    return None


def reachable() -> ColumnElement[bool]:
    return or_(
        and_(Person.phone.is_not(None), Person.phone_status == "ok"),
        and_(Person.telegram_user_id.is_not(None), Person.telegram_status == "ok"),
    )


async def institutions_of(session: AsyncSession, person_id: int) -> list[Institution]:
    result = await session.scalars(
        select(Institution)
        .join(Membership, Membership.institution_id == Institution.id)
        .where(Membership.person_id == person_id)
        .order_by(Institution.name)
    )
    return list(result)


async def follow_up_by(session: AsyncSession, person: Person, alliance: str) -> str:
    """Who would follow the person up: their institution when they have exactly one, else the
    alliance."""
    institutions = await institutions_of(session, person.id)
    return institutions[0].name if len(institutions) == 1 else alliance


async def step_draft(
    session: AsyncSession,
    person: Person,
    contact: ListeningContact,
    alliance: str,
    *,
    template: str,
    questions: list[ListeningQuestion] | None = None,
) -> Draft:
    """The message for the step waiting on ``contact``: a question, or the consent question.
    ``template`` frames a question (``listening_next``, ``listening_nudge``); ``questions``:
    the campaign's, when the caller has them."""
    if questions is None:
        questions = await campaign_questions(session, contact.campaign_id)
    if contact.step < len(questions):
        text = question_text(questions[contact.step], person.language)
        return Draft(template, {"question": text})
    return Draft("listening_consent", {"who": await follow_up_by(session, person, alliance)})


@dataclass(frozen=True)
class Segment:
    """Who a campaign is sent to: everyone, or the union of some institutions' members and the
    people who texted in; optionally only people never asked in any campaign."""

    everyone: bool = False
    institution_ids: tuple[int, ...] = ()
    texted_in: bool = False
    not_asked: bool = False

    def __post_init__(self) -> None:
        if not (self.everyone or self.institution_ids or self.texted_in or self.not_asked):
            raise ListeningError("choose who to send to: everyone, institutions or texted in")


async def segment_people(
    session: AsyncSession, campaign: ListeningCampaign, segment: Segment
) -> list[Person]:
    """The people in ``segment`` the campaign may go to now: not opted out, reachable, not
    already in this campaign, and not waiting to answer another open campaign."""
    query = select(Person).where(Person.consent != "opted_out").where(reachable())
    chosen: list[ColumnElement[bool]] = []
    if segment.institution_ids:
        chosen.append(
            exists()
            .where(Membership.person_id == Person.id)
            .where(Membership.institution_id.in_(segment.institution_ids))
        )
    if segment.texted_in:
        chosen.append(exists().where(InboundMessage.person_id == Person.id))
    if not segment.everyone and chosen:
        query = query.where(or_(*chosen))
    if segment.not_asked:
        query = query.where(~exists().where(ListeningContact.person_id == Person.id))
    query = query.where(
        ~exists()
        .where(ListeningContact.person_id == Person.id)
        .where(ListeningContact.campaign_id == campaign.id)
    )
    busy = (
        exists()
        .where(ListeningContact.person_id == Person.id)
        .where(ListeningContact.status == "asking")
        .where(ListeningContact.campaign_id == ListeningCampaign.id)
        .where(ListeningCampaign.status == "open")
    )
    query = query.where(~busy).order_by(Person.id)
    return list(await session.scalars(query))
