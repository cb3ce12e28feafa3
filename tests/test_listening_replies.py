"""What a reply means while a listening question is pending, the leaders' LOG, inbox messages
attached to a campaign, quiet hours, the report-back, theme invitations and the digest's
listening section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.inbound import InboundPipeline, InboundResult, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from scheduler.listening import invite_theme, report_back, run_due, send_campaign
from storage.db import Database
from storage.listening import (
    ListeningError,
    Segment,
    attach_inbound,
    create_campaign,
    get_contact,
)
from storage.listening_reports.answers import list_answers
from storage.listening_reports.follow_ups import waiting_for_follow_up
from storage.listening_reports.pipeline import pipeline
from storage.listening_reports.summary import listening_summary
from storage.listening_themes import load_theme_specs
from storage.models import (
    InboundMessage,
    Invitation,
    ListeningAnswer,
    ListeningCampaign,
    ListeningContact,
    ListeningFollowUp,
    OutboxMessage,
    Person,
)
from tests import factories as f

QUESTIONS = [
    {"en": "What is the biggest issue facing you and your family?"},
    {"en": "What would you change about where you live?"},
]
_sid = iter(range(1, 1_000_000))


async def sms(inbound: InboundPipeline, n: int, body: str) -> InboundResult:
    return await inbound.receive(
        IncomingText("sms", "sandbox", f"SM{next(_sid):032d}", f.phone(n), body)
    )


def templates(result: InboundResult) -> list[str]:
    return [r.template for r in result.replies]


@pytest.fixture
def inbound(db: Database, settings: Settings, clock: FakeClock) -> InboundPipeline:
    return InboundPipeline(db, settings, clock)


async def _campaign(db: Database, settings: Settings, now: datetime, **kw: object) -> int:
    async with db.session() as s:
        campaign = await create_campaign(
            s,
            slug=str(kw.pop("slug", "leicester-listens")),
            title="Leicester Listens",
            questions=QUESTIONS,
            now=now,
            themes=load_theme_specs(),
            **kw,  # type: ignore[arg-type]
        )
        return campaign.id


async def _send(db: Database, settings: Settings, campaign_id: int, now: datetime) -> None:
    async with db.session() as s:
        campaign = await s.get_one(ListeningCampaign, campaign_id)
        await send_campaign(s, campaign, Segment(everyone=True), now=now, settings=settings)


async def _contact(db: Database, campaign_id: int, person_id: int) -> ListeningContact:
    async with db.session() as s:
        contact = await get_contact(s, campaign_id, person_id)
        assert contact is not None
        return contact


# -- precedence ---------------------------------------------------------------------------------


async def test_yes_to_an_open_invitation_stays_an_rsvp_while_a_question_is_pending(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        action = await f.action(s, now)
        await f.invite(s, action, ann, now)
    cid = await _campaign(db, settings, now)
    await _send(db, settings, cid, now)
    assert templates(await sms(inbound, 1, "YES")) == ["rsvp_yes"]
    assert (await _contact(db, cid, ann.id)).step == 0
    # A YES / NO-looking sentence that names no action is an answer, not an RSVP.
    assert templates(await sms(inbound, 1, "No buses after 7pm")) == ["listening_next"]
    async with db.session() as s:
        invitation = await s.scalar(select(Invitation))
        assert invitation is not None and invitation.response == "yes"


async def test_at_the_consent_step_yes_is_consent_unless_a_newer_invitation_asked(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        bob = await f.person(s, "Bob Evans", 2, now)
        action = await f.action(s, now)
        await f.invite(s, action, ann, now)
        await f.invite(s, action, bob, now)
    cid = await _campaign(db, settings, now)
    await _send(db, settings, cid, now)
    for n in (1, 2):
        await sms(inbound, n, "The rent")
        clock.advance(minutes=1)
        assert templates(await sms(inbound, n, "Affordable homes")) == ["listening_consent"]
    # Ann: the invitation is older than the consent question, so YES is her consent.
    assert templates(await sms(inbound, 1, "yes")) == ["listening_consent_yes"]
    # Bob: invited again after the consent question (a new action): YES answers that.
    clock.advance(minutes=30)
    async with db.session() as s:
        later = await f.action(s, clock.now(), slug="march", title="March for homes")
        await f.invite(s, later, await s.get_one(Person, bob.id), clock.now())
    assert templates(await sms(inbound, 2, "yes")) == ["rsvp_yes"]
    # Naming the action is always an RSVP.
    assert templates(await sms(inbound, 2, "yes assembly")) == ["rsvp_yes"]
    assert (await _contact(db, cid, ann.id)).consent == "yes"
    assert (await _contact(db, cid, bob.id)).consent is None


async def test_help_and_lang_keep_priority_and_the_next_question_follows_the_language(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.person(s, "Tomasz Nowak", 1, now)
        campaign = await create_campaign(
            s,
            slug="listens",
            title="Listens",
            questions=[
                {"en": "What is the biggest issue?", "pl": "Jaki jest najwiekszy problem?"},
                {"en": "What do you love here?", "pl": "Co tu kochasz?"},
            ],
            now=now,
            themes=load_theme_specs(),
        )
        await send_campaign(s, campaign, Segment(everyone=True), now=now, settings=settings)
    assert templates(await sms(inbound, 1, "HELP")) == ["help"]
    assert templates(await sms(inbound, 1, "LANG PL")) == ["lang_set"]
    result = await sms(inbound, 1, "Czynsz jest za wysoki")
    assert templates(result) == ["listening_next"]
    assert "Co tu kochasz?" in result.replies[0].body


async def test_a_text_before_the_question_goes_out_is_not_an_answer(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    # 22:30 in London: the first question waits for 09:00.
    late = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    clock.set(late)
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, late)
    cid = await _campaign(db, settings, late)
    await _send(db, settings, cid, late)
    async with db.session() as s:
        question = await s.scalar(select(OutboxMessage))
        assert question is not None
        assert question.not_before == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    clock.advance(minutes=10)
    assert templates(await sms(inbound, 1, "Hello, who is this?")) == ["inbox_ack"]
    clock.set(datetime(2026, 3, 11, 9, 5, tzinfo=UTC))
    assert templates(await sms(inbound, 1, "The damp in our flat")) == ["listening_next"]
    assert (await _contact(db, cid, ann.id)).first_answer_at is not None


async def test_free_text_at_the_consent_step_is_kept_and_consent_asked_again(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
    cid = await _campaign(db, settings, now)
    await _send(db, settings, cid, now)
    await sms(inbound, 1, "Rent")
    clock.advance(minutes=2)
    await sms(inbound, 1, "More council homes")
    clock.advance(minutes=2)
    result = await sms(inbound, 1, "Also the GP, you can never get an appointment")
    assert templates(result) == ["listening_consent_retry"]
    assert templates(await sms(inbound, 1, "maybe")) == ["listening_consent"]
    assert templates(await sms(inbound, 1, "no")) == ["listening_consent_no"]
    async with db.session() as s:
        campaign = await s.get_one(ListeningCampaign, cid)
        bodies = [a.body for a in await list_answers(s, campaign)]
    assert bodies == ["Rent", "More council homes", "Also the GP, you can never get an appointment"]
    assert (await _contact(db, cid, ann.id)).consent == "no"


async def test_without_a_yes_nobody_is_asked_to_follow_the_person_up(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, now)
        await f.person(s, "Bob Evans", 2, now)
        await f.person(s, "Cara Jones", 3, now)
    cid = await _campaign(db, settings, now)
    await _send(db, settings, cid, now)
    for n, consent in ((1, "yes"), (2, "no"), (3, None)):
        await sms(inbound, n, "Potholes")
        clock.advance(minutes=1)
        await sms(inbound, n, "Fix the roads")
        if consent:
            await sms(inbound, n, consent)
    async with db.session() as s:
        waiting = await waiting_for_follow_up(s, clock.now())
    assert [w.name for w in waiting] == ["Ann Patel"]


async def test_nudges_wait_for_quiet_hours_and_stop_with_the_campaign(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, now)
    cid = await _campaign(db, settings, now, nudge_after_hours=12, ends_at=now + timedelta(days=2))
    await _send(db, settings, cid, now)
    # 12 hours on it is 22:00 in London: the nudge is written now, sent at 09:00.
    due = await run_due(db, settings, clock.advance(hours=12))
    assert due.nudged == 1
    async with db.session() as s:
        nudge = await s.scalar(
            select(OutboxMessage).where(OutboxMessage.template == "listening_nudge")
        )
        assert nudge is not None
        assert nudge.not_before == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    # The campaign ends: closed by the job, its unsent messages cancelled.
    due = await run_due(db, settings, clock.advance(days=2))
    assert due.closed == ["leicester-listens"]
    async with db.session() as s:
        statuses = set(await s.scalars(select(OutboxMessage.status)))
    assert statuses == {"cancelled"}


# -- LOG, inbox, follow-ups ---------------------------------------------------------------------


async def test_a_leader_logs_a_doorstep_conversation_by_sms(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        marys = await f.institution(s, "St Mary's Church", now)
        await f.person(s, "Grace Adeyemi", 9, now, institution=marys, role="leader")
        await f.person(s, "Ann Patel", 1, now, institution=marys)
    cid = await _campaign(db, settings, now)
    result = await sms(
        inbound, 9, "LOG DOORSTEP 07700 900150 YES: Knife crime near the school, kids are scared"
    )
    assert templates(result) == ["listening_log_ok"]
    assert "07700 900150" in result.replies[0].body
    result = await sms(inbound, 9, "log 121 ann patel: Six weeks for a GP appointment")
    assert templates(result) == ["listening_log_ok"]
    assert templates(await sms(inbound, 9, "LOG FOLLOWUP Ann Patel: coffee after Mass")) == [
        "listening_followup_ok"
    ]
    assert templates(await sms(inbound, 9, "LOG Somebody Else: nothing")) == ["listening_log_who"]
    assert templates(await sms(inbound, 9, "LOG the damp")) == ["listening_log_help"]
    async with db.session() as s:
        met = await s.scalar(select(Person).where(Person.phone == f.phone(150)))
        assert met is not None
        # Met at the door: listened to and followed up with consent, never opted in to texts.
        assert (met.consent, met.consent_source) == ("unknown", "face_to_face")
        campaign = await s.get_one(ListeningCampaign, cid)
        answers = await list_answers(s, campaign)
        assert [(a.source, a.themes) for a in answers] == [
            ("face_to_face", ["crime_safety"]),
            ("face_to_face", ["health"]),
        ]
        assert await s.scalar(select(func.count()).select_from(ListeningFollowUp)) == 1
        waiting = await waiting_for_follow_up(s, clock.now())
        assert [w.person_id for w in waiting] == [met.id]
        # Logged by the leader, so the report-back does not text the person met at the door.
        report = await report_back(s, campaign, now=clock.now(), settings=settings, dry_run=True)
        assert report.recipients == 1  # Ann, who is opted in


async def test_log_from_someone_who_leads_nothing_is_just_a_message(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, clock.now())
    assert templates(await sms(inbound, 1, "Log burners are polluting our street")) == ["inbox_ack"]


async def test_an_inbox_message_can_be_attached_to_a_campaign_once(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    cid = await _campaign(db, settings, now)
    result = await sms(inbound, 7, "Our street has no lights and the potholes are dangerous")
    assert templates(result) == ["welcome_unknown"]
    async with db.session() as s:
        campaign = await s.get_one(ListeningCampaign, cid)
        message = await s.get_one(InboundMessage, result.inbound_id)
        answer = await attach_inbound(s, campaign=campaign, inbound=message)
        assert message.inbox_status == "done"
        with pytest.raises(ListeningError, match="already answer"):
            await attach_inbound(s, campaign=campaign, inbound=message)
    async with db.session() as s:
        stored = await s.get_one(ListeningAnswer, answer.id)
        assert stored.source == "inbox"
        views = await list_answers(s, await s.get_one(ListeningCampaign, cid))
        assert views[0].themes == ["roads_public_realm"]
        result_ = await pipeline(s, clock.now(), campaign=await s.get_one(ListeningCampaign, cid))
        assert result_.total.listened == 1


# -- report back, invitations, digest -----------------------------------------------------------


async def test_report_back_tells_everyone_who_answered_the_top_themes_once(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, now)
        await f.person(s, "Agnieszka Kowalska", 2, now, language="pl")
        await f.person(s, "Bob Evans", 3, now)  # never answers
        await f.person(s, "Cara Jones", 4, now)  # answers, then STOP
    cid = await _campaign(db, settings, now, target=705)
    await _send(db, settings, cid, now)
    await sms(inbound, 1, "The rent and the damp, and the buses")
    await sms(inbound, 2, "Czynsz i brak autobusow wieczorem")
    await sms(inbound, 4, "Food bank every week")
    await sms(inbound, 4, "STOP")
    async with db.session() as s:
        campaign = await s.get_one(ListeningCampaign, cid)
        first = await report_back(s, campaign, now=clock.now(), settings=settings, top=2)
    assert (first.people, first.recipients, first.themes) == (3, 2, ["Housing", "Transport"])
    async with db.session() as s:
        campaign = await s.get_one(ListeningCampaign, cid)
        await report_back(s, campaign, now=clock.now(), settings=settings, top=2)
        reports = list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.template == "listening_report")
                .order_by(OutboxMessage.person_id)
            )
        )
    assert [r.body for r in reports] == [
        "Leicester Citizens listened to 3 people. Top issues: Housing, Transport. "
        "Thank you for taking part!",
        "Leicester Citizens wysluchal 3 osob. Najwazniejsze sprawy: Mieszkania, Transport. "
        "Dziekujemy za udzial!",
    ]


async def test_the_people_who_raised_a_theme_are_invited_to_the_action_about_it(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        for n, name in enumerate(["Ann Patel", "Bob Evans", "Cara Jones"], start=1):
            await f.person(s, name, n, now)
        action = await f.action(s, now, slug="housing-action", title="Housing action")
    cid = await _campaign(db, settings, now)
    await _send(db, settings, cid, now)
    await sms(inbound, 1, "Damp and mould in the flat")
    await sms(inbound, 2, "No buses after 7")
    await sms(inbound, 3, "The landlord put the rent up again")
    async with db.session() as s:
        campaign = await s.get_one(ListeningCampaign, cid)
        result = await invite_theme(s, campaign, "housing", action, now=now, settings=settings)
        assert (result.people, result.queued) == (2, 2)
        again = await invite_theme(s, campaign, "housing", action, now=now, settings=settings)
        assert (again.already_invited, again.queued) == (2, 0)
    async with db.session() as s:
        invited = set(await s.scalars(select(Invitation.person_id)))
        messages = list(
            await s.scalars(
                select(OutboxMessage.body).where(OutboxMessage.template == "listening_theme_invite")
            )
        )
    assert len(invited) == 2 and len(messages) == 2
    assert messages[0].startswith("Leicester Citizens: you told us about Housing. Join us at")
    # Their YES now counts for that action (their listening question is still pending).
    assert templates(await sms(inbound, 1, "YES")) == ["rsvp_yes"]


async def test_the_digest_gets_counts_and_themes_never_words(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, now)
        await f.person(s, "Bob Evans", 2, now)
    cid = await _campaign(db, settings, now, target=705)
    await _send(db, settings, cid, now)
    await sms(inbound, 1, "The damp in our flat is making the kids ill")
    clock.advance(minutes=1)
    await sms(inbound, 1, "More council homes")
    await sms(inbound, 1, "YES")
    clock.advance(days=2)
    await sms(inbound, 2, "No buses after 7, and the rent")
    async with db.session() as s:
        summary = await listening_summary(s, clock.now())
    assert (summary.new_answers, summary.new_people) == (1, 1)
    assert summary.top_themes[0] == ("Housing", 2, 1)
    assert summary.waiting == 1 and summary.oldest_wait == timedelta(days=2)
    text = "\n".join(summary.lines())
    assert "Leicester Listens: 2 listened to of 705" in text
    assert "Waiting for a follow-up: 1, longest 2 days" in text
    assert "damp" not in text and "buses" not in text
    assert summary
