"""A listening campaign end to end, through the inbound pipeline and the real database.

Two questions plus consent, sent to two institutions in two languages; answered out of order,
one answer in two texts, one long multi-part SMS (Twilio joins the parts), one answer by
Telegram; a STOP in the middle; a nudge; a reply after the campaign closed; theme rules in two
languages; a manual tag overriding a rule; and the pipeline after follow-ups and attendance.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from bot.inbound import InboundPipeline, InboundResult, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from scheduler.listening import run_due, send_campaign
from storage.db import Database
from storage.listening import (
    Segment,
    campaign_by_slug,
    close_campaign,
    create_campaign,
    record_follow_up,
)
from storage.listening_reports.answers import export_answers, list_answers
from storage.listening_reports.follow_ups import waiting_for_follow_up
from storage.listening_reports.pipeline import pipeline
from storage.listening_reports.themes import export_themes, theme_table
from storage.listening_themes import (
    add_rule,
    add_theme,
    load_theme_specs,
    retag_campaign,
    set_manual_tags,
    theme_by_key,
)
from storage.models import (
    Attendance,
    InboundMessage,
    ListeningAnswer,
    ListeningContact,
    OutboxMessage,
    Person,
)
from tests import factories as f

QUESTIONS = [
    {
        "en": "What is the biggest issue facing you and your family?",
        "pl": "Jaki jest najwiekszy problem, z ktorym mierzysz sie Ty i Twoja rodzina?",
    },
    {
        "en": "What do you love about where you live?",
        "pl": "Co kochasz w miejscu, w ktorym mieszkasz?",
    },
]

# A long answer sent as one SMS of four parts: Twilio hands it over joined.
ANN_FIRST = (
    "The damp in our flat is making the kids ill. We have been on the council housing list "
    "for six years and the landlord won't fix the mould, he just paints over it. My youngest "
    "has asthma and the GP says it is the damp. I work nights at the warehouse on minimum "
    "wage and after the rent there is nothing left for the heating, so we sit in coats. "
    "Nobody listens to people like us."
)
ANN_MORE = "And the buses stop at 7pm so I can't get home from my shift"
KRZYSZTOF_FIRST = "Mieszkanie jest za drogie, czynsz rośnie co roku, a właściciel nic nie naprawia."
FATIMA_FIRST = "Racist abuse at the bus stop. My daughter was spat at on the way to school."

_sid = iter(range(1, 1_000_000))


async def sms(pipeline_: InboundPipeline, n: int, body: str) -> InboundResult:
    message = IncomingText("sms", "sandbox", f"SM{next(_sid):032d}", f.phone(n), body)
    return await pipeline_.receive(message)


async def telegram(pipeline_: InboundPipeline, user_id: int, body: str) -> InboundResult:
    return await pipeline_.receive(
        IncomingText("telegram", "telegram", str(next(_sid)), str(user_id), body)
    )


def templates(result: InboundResult) -> list[str]:
    return [r.template for r in result.replies]


@pytest.fixture
def inbound(db: Database, settings: Settings, clock: FakeClock) -> InboundPipeline:
    return InboundPipeline(db, settings, clock)


async def _people_of(db: Database, person_id: int) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.person_id == person_id)
                .order_by(OutboxMessage.id)
            )
        )


async def test_a_listening_campaign_from_the_first_question_to_the_pipeline(
    db: Database, settings: Settings, clock: FakeClock, inbound: InboundPipeline
) -> None:
    t0 = clock.now()
    async with db.session() as s:
        marys = await f.institution(s, "St Mary's Church", t0)
        mosque = await f.institution(s, "Highfields Mosque", t0)
        await f.institution(s, "Fullhurst Community College", t0, kind="school")
        ann = await f.person(s, "Ann Patel", 1, t0, institution=marys)
        tomasz = await f.person(s, "Tomasz Nowak", 2, t0, institution=marys, language="pl")
        joy = await f.person(s, "Joy Okafor", 3, t0, institution=marys)
        fatima = await f.person(s, "Fatima Begum", 4, t0, institution=mosque)
        krzysztof = await f.person(s, "Krzysztof Wojcik", 5, t0, institution=mosque, language="pl")
        krzysztof.telegram_user_id = 555001
        leader = await f.person(s, "Grace Adeyemi", 9, t0, institution=marys, role="leader")
        await f.person(s, "Delroy Campbell", 6, t0)  # no institution: not in the segment
        campaign = await create_campaign(
            s,
            slug="leicester-listens",
            title="Leicester Listens",
            questions=QUESTIONS,
            now=t0,
            themes=load_theme_specs(),
            target=705,
            nudge_after_hours=72,
        )
        segment = Segment(institution_ids=(marys.id, mosque.id))
        sent = await send_campaign(s, campaign, segment, now=t0, settings=settings)
    # Everyone in the two institutions, the leader too; nobody twice.
    assert sent.people == 6
    async with db.session() as s:
        again = await send_campaign(s, campaign, segment, now=t0, settings=settings)
        assert again.people == 0
    first = await _people_of(db, krzysztof.id)
    assert [m.template for m in first] == ["listening_question"]
    assert "Jaki jest najwiekszy problem" in first[0].body
    assert "Leicester Citizens slucha" in first[0].body

    # Out of order: Krzysztof (asked last) answers first, in Polish.
    clock.advance(minutes=5)
    result = await sms(inbound, 5, KRZYSZTOF_FIRST)
    assert templates(result) == ["listening_next"]
    assert "Co kochasz w miejscu" in result.replies[0].body

    # Ann's long answer arrives as one message (Twilio joined the SMS parts)...
    clock.advance(minutes=10)
    result = await sms(inbound, 1, ANN_FIRST)
    assert templates(result) == ["listening_next"]
    assert "What do you love about where you live?" in result.replies[0].body
    # ...and a second text 8 seconds later continues it: joined, no new question.
    clock.advance(seconds=8)
    assert templates(await sms(inbound, 1, ANN_MORE)) == []

    # Fatima answers, then texts STOP: the campaign stops for her, nothing more is sent.
    result = await sms(inbound, 4, FATIMA_FIRST)
    assert templates(result) == ["listening_next"]
    clock.advance(minutes=1)
    assert templates(await sms(inbound, 4, "STOP")) == ["stop_confirm"]
    fatima_messages = await _people_of(db, fatima.id)
    assert [(m.template, m.status) for m in fatima_messages] == [
        ("listening_question", "cancelled"),  # no sender runs in this test
        ("listening_next", "cancelled"),
        ("stop_confirm", "queued"),
    ]

    # Ann answers the second question a few minutes later and is asked for consent.
    clock.advance(minutes=4)
    result = await sms(
        inbound, 1, "I love the park and the people at church, we look out for each other"
    )
    assert templates(result) == ["listening_consent"]
    assert "Can someone from St Mary's Church contact you" in result.replies[0].body
    assert templates(await sms(inbound, 1, "Yes")) == ["listening_consent_yes"]

    # Krzysztof answers by Telegram; his consent question goes back on Telegram.
    clock.advance(hours=2)
    result = await telegram(inbound, 555001, "Park jest piękny, ale brakuje lekarzy w przychodni")
    assert templates(result) == ["listening_consent"]
    assert result.replies[0].channel == "telegram"
    assert "Highfields Mosque" in result.replies[0].body
    assert templates(await telegram(inbound, 555001, "TAK")) == ["listening_consent_yes"]

    # Three days on: one nudge each for Tomasz, Joy and the leader; not for Fatima (stopped).
    clock.advance(hours=72)
    due = await run_due(db, settings, clock.now())
    assert due.nudged == 3
    assert (await run_due(db, settings, clock.advance(hours=80))).nudged == 0
    assert [m.template for m in await _people_of(db, tomasz.id)] == [
        "listening_question",
        "listening_nudge",
    ]
    assert [m.template for m in await _people_of(db, fatima.id)][-1] == "stop_confirm"

    # Tomasz answers after the nudge: nothing matches the rules, and he says no to consent.
    result = await sms(inbound, 2, "Brak miejsc w przedszkolu, nie moge wrocic do pracy")
    assert templates(result) == ["listening_next"]
    clock.advance(minutes=5)
    assert templates(await sms(inbound, 2, "Sasiedzi sa bardzo mili")) == ["listening_consent"]
    assert templates(await sms(inbound, 2, "nie")) == ["listening_consent_no"]

    # Themes: rules in English and Polish, several themes per answer.
    async with db.session() as s:
        answers = {a.body[:20]: a for a in await list_answers(s, campaign)}
    ann_first = answers[ANN_FIRST[:20]]
    assert ann_first.body == f"{ANN_FIRST}\n{ANN_MORE}"
    assert set(ann_first.themes) == {"housing", "health", "poverty_food", "low_pay", "transport"}
    assert answers[KRZYSZTOF_FIRST[:20]].themes == ["housing"]
    assert answers[FATIMA_FIRST[:20]].themes == ["transport", "hate_crime"]
    assert set(answers["Park jest piękny, al"].themes) == {"health", "roads_public_realm"}
    async with db.session() as s:
        untagged = await list_answers(s, campaign, untagged=True)
    assert {a.body for a in untagged} == {
        "Brak miejsc w przedszkolu, nie moge wrocic do pracy",
        "Sasiedzi sa bardzo mili",
    }

    # An organiser edits the rules (a new theme, a Polish prefix rule) and tags by hand; a
    # manual tag wins over the rules, also when the rules run again.
    async with db.session() as s:
        childcare = await add_theme(
            s, campaign.id, "childcare", {"en": "Childcare", "pl": "Opieka nad dziecmi"}
        )
        await add_rule(s, childcare, "pl", "przedszkol*")
        await add_rule(s, childcare, "en", "nursery")
        park = await s.get_one(ListeningAnswer, answers["Park jest piękny, al"].id)
        await set_manual_tags(s, park, [(await theme_by_key(s, campaign.id, "health")).id])
        neighbours = await s.get_one(ListeningAnswer, answers["Sasiedzi sa bardzo m"].id)
        await set_manual_tags(s, neighbours, [])  # "no theme applies"
        assert await retag_campaign(s, campaign.id) == 1  # the childcare answer
    async with db.session() as s:
        answers = {a.body[:20]: a for a in await list_answers(s, campaign)}
        assert await list_answers(s, campaign, untagged=True) == []
    assert answers["Brak miejsc w przedsz"[:20]].themes == ["childcare"]
    assert answers["Park jest piękny, al"].themes == ["health"]
    assert answers["Park jest piękny, al"].tag_source == "manual"

    # The campaign closes; Joy's late reply gets a clear answer and is kept in the inbox.
    async with db.session() as s:
        await close_campaign(s, await s.get_one(type(campaign), campaign.id), clock.now())
    clock.advance(hours=1)
    late = await sms(inbound, 3, "Sorry only just seen this. The rent and the cost of living")
    assert templates(late) == ["listening_closed"]
    async with db.session() as s:
        kept = await s.get_one(InboundMessage, late.inbound_id)
        assert kept.inbox_status == "open"
        assert await s.scalar(select(func.count()).where(ListeningAnswer.person_id == joy.id)) == 0
    assert templates(await sms(inbound, 3, "Hello?")) == ["inbox_ack"]  # asked once, then inbox

    # Follow-ups and attendance move people down the pipeline.
    async with db.session() as s:
        action = await f.action(
            s, clock.now(), starts_in=timedelta(days=-1), title="Housing action"
        )
        s.add(
            Attendance(action_id=action.id, person_id=ann.id, at=clock.now() - timedelta(hours=20))
        )
        s.add(
            Attendance(
                action_id=action.id, person_id=fatima.id, at=clock.now() - timedelta(hours=20)
            )
        )
        camp = await campaign_by_slug(s, "leicester-listens")
        assert camp is not None
        await record_follow_up(
            s, campaign=camp, person=ann, now=clock.now(), by=leader, note="Coffee after Mass"
        )
    async with db.session() as s:
        result_ = await pipeline(s, clock.now(), campaign=camp)
        waiting = await waiting_for_follow_up(s, clock.now(), campaign=camp)
    rows = {row.label: row for row in result_.rows}
    counts = lambda row: (row.listened, row.consented, row.followed_up, row.came)  # noqa: E731
    assert counts(rows["St Mary's Church"]) == (2, 1, 1, 1)  # Ann all the way; Tomasz said no
    assert counts(rows["Highfields Mosque"]) == (2, 1, 0, 0)  # Fatima stopped; Krzysztof waits
    assert counts(rows["Fullhurst Community College"]) == (0, 0, 0, 0)
    assert result_.no_institution is not None and counts(result_.no_institution) == (0, 0, 0, 0)
    assert counts(result_.total) == (4, 2, 1, 1)
    assert result_.target == 705
    assert rows["St Mary's Church"].consent_rate == 0.5
    assert [(w.name, w.institutions) for w in waiting] == [
        ("Krzysztof Wojcik", "Highfields Mosque")
    ]
    assert waiting[0].waited > timedelta(days=6)

    # The theme table: answers and distinct people per institution; quotes only from people
    # who consented (Fatima did not: her words are counted, never quoted).
    async with db.session() as s:
        table = await theme_table(s, camp, quotes=3)
        marys_only = await theme_table(s, camp, scope=[marys.id])
    housing = table.row("housing")
    assert (housing.answers, housing.people) == (2, 2)
    assert housing.by_institution[marys.id].people == 1
    assert housing.by_institution[mosque.id].people == 1
    assert table.row("hate_crime").people == 1
    assert table.row("hate_crime").quotes == []
    assert any("damp in our flat" in q for q in housing.quotes)
    assert table.untagged == 0 and table.people == 4
    # A leader sees only their institution's people, and no "no institution" row.
    assert marys_only.row("housing").people == 1
    assert marys_only.row("hate_crime").people == 0
    assert not marys_only.show_no_institution

    # Exports: only the fields asked for.
    async with db.session() as s:
        out = io.StringIO()
        assert (
            await export_answers(s, camp, ["answer_id", "themes", "institution", "consent"], out)
            == 7
        )
        themes_csv = io.StringIO()
        export_themes(table, themes_csv)
    lines = out.getvalue().splitlines()
    assert lines[0] == "answer_id,themes,institution,consent"
    assert "+44" not in out.getvalue() and "damp" not in out.getvalue()
    assert "housing,Housing,St Mary's Church,1,1" in themes_csv.getvalue().splitlines()

    # A person's answers are erased with the person.
    async with db.session() as s:
        await s.execute(delete(Person).where(Person.id == fatima.id))
    async with db.session() as s:
        assert (
            await s.scalar(select(func.count()).where(ListeningAnswer.person_id == fatima.id)) == 0
        )
        assert (
            await s.scalar(select(func.count()).where(ListeningContact.person_id == fatima.id)) == 0
        )
