"""Who may see whom (storage.roles), on every path where a leader names someone or something:
LOG and LOG FOLLOWUP by SMS, COMMIT and COUNT by SMS, Telegram commands in a private chat,
/linkcode, and RSVP buttons. A name, number or institution outside the leader's sight gets
exactly the answer an unknown one gets, and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.inbound import InboundPipeline, InboundResult, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.listening import create_campaign, get_contact, record_answer, set_consent
from storage.listening_themes import load_theme_specs
from storage.models import (
    Commitment,
    Headcount,
    Invitation,
    ListeningAnswer,
    ListeningCampaign,
    ListeningFollowUp,
    OutboxMessage,
    Person,
)
from tests import factories as f
from tests.fakes.telegram_updates import Harness, harness
from tests.fakes.telegram_world import World, build_world

_sid = iter(range(1, 1_000_000))
ORGANISER, LEADER, MEMBER, OTHERS = 1, 2, 3, 4  # phone(n); OTHERS: the mosque's member
UNKNOWN = 99


async def sms(inbound: InboundPipeline, n: int, body: str) -> InboundResult:
    return await inbound.receive(
        IncomingText("sms", "sandbox", f"SM{next(_sid):032d}", f.phone(n), body)
    )


def national(n: int) -> str:
    """How a leader types a number: ``07700 900004``."""
    return f"07700 900{n:03d}"


@pytest.fixture
def inbound(db: Database, settings: Settings, clock: FakeClock) -> InboundPipeline:
    return InboundPipeline(db, settings, clock)


async def _campaign(db: Database, clock: FakeClock, slug: str, title: str) -> ListeningCampaign:
    async with db.session() as s:
        return await create_campaign(
            s,
            slug=slug,
            title=title,
            questions=[{"en": "What is the biggest issue facing you and your family?"}],
            now=clock.now(),
            themes=load_theme_specs(),
        )


async def _alliance(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Madina Mosque", now)
        await f.person(s, "Olu Adeyemi", ORGANISER, now, institution=mary, role="organiser")
        await f.person(s, "Grace Okafor", LEADER, now, institution=mary, role="leader")
        await f.person(s, "Ann Patel", MEMBER, now, institution=mary)
        await f.person(s, "Yusuf Khan", OTHERS, now, institution=mosque)


async def _listened(
    db: Database, clock: FakeClock, campaign: ListeningCampaign, n: int, consent: str | None
) -> None:
    async with db.session() as s:
        person = await s.scalar(select(Person).where(Person.phone == f.phone(n)))
        assert person is not None
        await record_answer(
            s,
            campaign_id=campaign.id,
            person=person,
            body="The buses stop at seven",
            source="sms",
            now=clock.now(),
        )
        if consent is not None:
            contact = await get_contact(s, campaign.id, person.id)
            assert contact is not None
            set_consent(contact, consent, clock.now())


async def _same_answer(
    inbound: InboundPipeline, n: int, template: str, typed: tuple[str, str]
) -> tuple[str, str]:
    """Send ``template`` with each of ``typed``: the replies must be the same template and,
    but for what was typed, the same words. Returns the two bodies."""
    results = [await sms(inbound, n, template.format(who=who)) for who in typed]
    assert [r.template for r in results[0].replies] == [r.template for r in results[1].replies]
    bodies = [r.replies[0].body for r in results]
    assert bodies[0].replace(typed[0], "WHO") == bodies[1].replace(typed[1], "WHO")
    return bodies[0], bodies[1]


async def _count(db: Database, model: type) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


# -- LOG FOLLOWUP ---------------------------------------------------------------------------------


async def test_a_follow_up_outside_the_leaders_institutions_is_answered_as_an_unknown_one(
    db: Database, clock: FakeClock, inbound: InboundPipeline
) -> None:
    await _alliance(db, clock)
    mosque_listens = await _campaign(db, clock, "mosque-listens", "Mosque Listens")
    await _listened(db, clock, mosque_listens, OTHERS, consent="yes")
    await _listened(db, clock, mosque_listens, MEMBER, consent="yes")

    by_number, _ = await _same_answer(
        inbound, LEADER, "LOG FOLLOWUP {who}: coffee", (national(OTHERS), national(UNKNOWN))
    )
    assert "couldn't find" in by_number and "Mosque Listens" not in by_number
    by_name, _ = await _same_answer(
        inbound, LEADER, "LOG FOLLOWUP {who}: coffee", ("Yusuf Khan", "Nobody Known")
    )
    assert "Mosque Listens" not in by_name
    assert await _count(db, ListeningFollowUp) == 0

    # Her own institution's member, by name or number; and the organiser sees everyone.
    for who in ("Ann Patel", national(MEMBER)):
        mine = await sms(inbound, LEADER, f"LOG FOLLOWUP {who}: coffee after Mass")
        assert [r.template for r in mine.replies] == ["listening_followup_ok"]
    olu = await sms(inbound, ORGANISER, f"LOG FOLLOWUP {national(OTHERS)}: tea at the mosque")
    assert [r.template for r in olu.replies] == ["listening_followup_ok"]
    assert "Mosque Listens" in olu.replies[0].body
    assert await _count(db, ListeningFollowUp) == 3


# -- LOG a conversation ------------------------------------------------------------------------


async def test_a_doorstep_number_outside_the_leaders_sight_is_kept_and_their_consent_stands(
    db: Database, clock: FakeClock, inbound: InboundPipeline
) -> None:
    await _alliance(db, clock)
    city = await _campaign(db, clock, "city-listens", "City Listens")
    await _listened(db, clock, city, OTHERS, consent="no")
    clock.advance(hours=1)
    mosque_listens = await _campaign(db, clock, "mosque-listens", "Mosque Listens")
    await _listened(db, clock, mosque_listens, OTHERS, consent="yes")
    async with db.session() as s:
        closing = await s.get_one(ListeningCampaign, mosque_listens.id)
        closing.status = "closed"  # LOG goes to the open campaign: City Listens
    clock.advance(hours=1)

    logged, _ = await _same_answer(
        inbound,
        LEADER,
        "LOG DOORSTEP {who} YES: the bins are never emptied",
        (national(OTHERS), national(150)),
    )
    assert logged.startswith("Logged your conversation with 07700 900004 in City Listens")
    async with db.session() as s:
        yusuf = await s.scalar(select(Person).where(Person.phone == f.phone(OTHERS)))
        met = await s.scalar(select(Person).where(Person.phone == f.phone(150)))
        assert yusuf is not None and met is not None
        assert (met.name, met.consent, met.consent_source) == ("", "unknown", "face_to_face")
        # What Yusuf said is kept with him; the "no" he gave himself is not overwritten.
        recorded = await s.scalar(
            select(func.count())
            .select_from(ListeningAnswer)
            .where(ListeningAnswer.person_id == yusuf.id)
            .where(ListeningAnswer.source == "face_to_face")
        )
        assert recorded == 1
        yusuf_contact = await get_contact(s, city.id, yusuf.id)
        met_contact = await get_contact(s, city.id, met.id)
        assert yusuf_contact is not None and yusuf_contact.consent == "no"
        assert met_contact is not None and met_contact.consent == "yes"

    # Whoever she recorded, she may follow up by number, in the campaign where she did (not
    # in Mosque Listens, where Yusuf was listened to later); never by name.
    for n in (150, OTHERS):
        done = await sms(inbound, LEADER, f"LOG FOLLOWUP {national(n)}: called back")
        assert [r.template for r in done.replies] == ["listening_followup_ok"]
        assert "City Listens" in done.replies[0].body
    by_name = await sms(inbound, LEADER, "LOG FOLLOWUP Yusuf Khan: called back")
    assert [r.template for r in by_name.replies] == ["listening_log_who"]
    olu = await sms(inbound, ORGANISER, f"LOG FOLLOWUP {national(OTHERS)}: called back")
    assert "Mosque Listens" in olu.replies[0].body


async def test_a_leader_names_only_their_own_people_in_a_conversation(
    db: Database, clock: FakeClock, inbound: InboundPipeline
) -> None:
    await _alliance(db, clock)
    await _campaign(db, clock, "city-listens", "City Listens")
    await _same_answer(
        inbound, LEADER, "LOG 121 {who}: wants a crossing", ("Yusuf Khan", "Nobody Known")
    )
    ann = await sms(inbound, LEADER, "LOG 121 Ann Patel: wants a crossing")
    olu = await sms(inbound, ORGANISER, "LOG 121 Yusuf Khan: wants a crossing")
    assert [r.template for r in ann.replies + olu.replies] == ["listening_log_ok"] * 2
    assert await _count(db, ListeningAnswer) == 2


async def test_without_an_open_campaign_nobody_new_is_created(
    db: Database, clock: FakeClock, inbound: InboundPipeline
) -> None:
    await _alliance(db, clock)
    result = await sms(inbound, LEADER, f"LOG DOORSTEP {national(150)}: damp")
    assert [r.template for r in result.replies] == ["listening_log_no_campaign"]
    assert await _count(db, Person) == 4


# -- COMMIT and COUNT by SMS ----------------------------------------------------------------------


async def test_commit_and_count_by_sms_act_only_on_the_senders_institutions(
    db: Database, clock: FakeClock, inbound: InboundPipeline
) -> None:
    await _alliance(db, clock)
    async with db.session() as s:
        await f.action(s, clock.now())
    other = await sms(inbound, LEADER, "COMMIT 30 mosque")
    assert [r.template for r in other.replies] == ["commit_which"]
    assert "Al-Madina" not in other.replies[0].body and "St Mary's" in other.replies[0].body
    # COUNT shows the numbers as TURNOUT does: naming an institution she does not lead is asked
    # about again with her own (as /turnout mosque is on Telegram); without a name, her own.
    which = await sms(inbound, LEADER, "COUNT mosque")
    assert [r.template for r in which.replies] == ["which_institution"]
    assert "Al-Madina" not in which.replies[0].body and "St Mary's" in which.replies[0].body
    count = await sms(inbound, LEADER, "COUNT")
    assert count.replies[0].body.startswith("St Mary's Church, ")
    assert await _count(db, Commitment) == 0

    # An organiser acts for any institution, and by default for their own.
    assert [r.template for r in (await sms(inbound, ORGANISER, "COMMIT 30 mosque")).replies] == [
        "commit_set"
    ]
    own = await sms(inbound, ORGANISER, "COMMIT 25")
    assert "St Mary's Church commits to bring 25" in own.replies[0].body
    assert (
        (await sms(inbound, ORGANISER, "COUNT mosque"))
        .replies[0]
        .body.startswith("Al-Madina Mosque, ")
    )
    assert await _count(db, Commitment) == 2


# -- Telegram -------------------------------------------------------------------------------------


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    return await build_world(db, clock)


async def _replies(db: Database, update: dict[str, object]) -> list[OutboxMessage]:
    async with db.session() as s:
        rows = await s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like(f"tg:{update['update_id']}:%"))
            .order_by(OutboxMessage.id)
        )
        return list(rows)


@pytest.mark.parametrize("command", ["/chase mosque", "/turnout mosque", "/commit 40 mosque"])
async def test_in_private_a_leader_naming_another_institution_sees_nothing_of_it(
    tg: Harness, db: Database, world: World, command: str
) -> None:
    update = tg.updates.text(world.users["leader_a"], world.dm("leader_a"), command)
    await tg.send(update)
    rows = await _replies(db, update)
    assert [r.template for r in rows] == ["tg_which_institution"]
    assert "St Mary's Church" in rows[0].body
    assert not any(w in rows[0].body for w in ("Al-Madina", "Yusuf"))
    assert await _count(db, Commitment) == 0


async def test_in_private_a_headcount_for_another_institution_is_refused(
    tg: Harness, db: Database, world: World
) -> None:
    update = tg.updates.text(world.users["leader_a"], world.dm("leader_a"), "/count 37 mosque")
    await tg.send(update)
    assert [r.template for r in await _replies(db, update)] == ["tg_which_institution"]
    assert await _count(db, Headcount) == 0


async def test_a_link_code_for_a_number_out_of_sight_is_refused_as_an_unknown_one(
    tg: Harness, db: Database, world: World
) -> None:
    bodies = []
    for number in (national(12), national(UNKNOWN)):  # Yusuf, at the mosque; nobody
        update = tg.updates.text(
            world.users["leader_a"], world.dm("leader_a"), f"/linkcode {number}"
        )
        await tg.send(update)
        rows = await _replies(db, update)
        assert [r.template for r in rows] == ["tg_linkcode_no_person"]
        bodies.append(rows[0].body)
    assert bodies[0] == bodies[1]


async def test_a_private_rsvp_button_counts_only_for_the_persons_own_invitation(
    tg: Harness, db: Database, world: World, clock: FakeClock
) -> None:
    async with db.session() as s:
        march = await f.action(
            s, clock.now(), slug="housing-march", title="Housing March", starts_in=timedelta(days=9)
        )
    member = world.users["member"]
    forged = tg.updates.tap(member, world.dm("member"), 1001, f"a:{march.id}:y")
    answer = await tg.send(forged)
    assert answer is not None and answer["text"] == "This button no longer works."
    async with db.session() as s:
        invited = await s.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.action_id == march.id)
        )
    assert invited == 0
