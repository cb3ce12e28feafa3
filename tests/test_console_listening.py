"""Listening: campaigns with their pipeline, a campaign's funnel, theme-by-institution table,
follow-up queue and answers; tagging by hand; the question editor with its counter; exports;
a leader's scope; audit; bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.listening import create_campaign, ensure_contact, record_answer, set_consent
from storage.listening_themes import load_theme_specs
from storage.models import (
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningFollowUp,
    ListeningQuestion,
    ListeningTheme,
    Person,
)
from tests.console import Alliance, Browser, alliance, signed_in

ORGANISER, ANN = "07700 900011", "07700 900001"


async def listened(db: Database, now: Any) -> tuple[Alliance, int]:
    """City Listens: Grace (St Mary's) on housing, consented; Mo (Al-Noor) on buses."""
    people = await alliance(db, now)
    async with db.session() as s:
        campaign = await create_campaign(
            s,
            slug="city-listens",
            title="City Listens",
            questions=[{"en": "What is the biggest issue facing you and your family?"}],
            now=now - timedelta(days=3),
            themes=load_theme_specs(),
            target=100,
        )
        q = (await s.scalars(select(ListeningQuestion))).one()
        for person, words in (
            (people.grace, "The damp in our flat and the rent going up"),
            (people.mo, "The buses stop at seven so I cannot get to work"),
        ):
            p = await s.get_one(Person, person.id)
            await record_answer(
                s,
                campaign_id=campaign.id,
                person=p,
                body=words,
                source="sms",
                now=now - timedelta(days=2),
                question_id=q.id,
            )
        contact = await ensure_contact(
            s, campaign.id, people.grace.id, source="sms", now=now - timedelta(days=2)
        )
        set_consent(contact, "yes", now - timedelta(days=2))
        campaign_id = campaign.id
    return people, campaign_id


async def test_the_campaigns_and_a_campaigns_page(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await listened(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get("/listening")
    assert page.status == 200 and "City Listens" in page.text and "2 of 100" in page.text
    page = await browser.get("/listening/city-listens")
    html = page.text
    assert page.status == 200
    assert ">Listened</dt>" in html and ">Consented</dt>" in html
    assert "Consented: 50% of the step before" in html
    assert "Housing" in html and "Transport" in html
    assert "St Mary&#39;s Church" in html and "Al-Noor Mosque" in html
    waiting = html[html.index("Waiting for a follow-up") : html.index("<h2>Questions")]
    assert "Grace Okafor" in waiting and "Mohammed" not in waiting and "2 days" in waiting
    assert "The buses stop at seven" in html
    assert "+44" not in html


async def test_a_leader_sees_only_their_institutions_listening(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await listened(db, clock.now())
    browser = await signed_in(web, console_settings, db, ANN)
    page = await browser.get("/listening")
    assert "1 of 100" in page.text
    page = await browser.get("/listening/city-listens")
    assert "The damp in our flat" in page.text
    assert "The buses" not in page.text and "Mohammed" not in page.text
    assert "Al-Noor" not in page.text
    assert "/questions/1" not in page.text
    assert (await browser.get("/listening/city-listens/questions/1")).status == 403
    async with web.get("/listening/city-listens/answers.csv") as resp:
        body = await resp.text()
    assert "damp" in body and "buses" not in body
    async with web.get("/listening/city-listens/answers.csv?field=phone") as resp:
        assert resp.status == 400


async def test_tagging_an_answer_by_hand(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, campaign_id = await listened(db, clock.now())
    async with db.session() as s:
        answer = await s.scalar(
            select(ListeningAnswer).where(ListeningAnswer.person_id == people.mo.id)
        )
        assert answer is not None
        health = await s.scalar(
            select(ListeningTheme.id)
            .where(ListeningTheme.campaign_id == campaign_id)
            .where(ListeningTheme.key == "health")
        )
    browser = await signed_in(web, console_settings, db, ORGANISER)
    await browser.get("/listening/city-listens")
    page = await browser.post(
        f"/listening/city-listens/answers/{answer.id}/themes", {"theme": str(health)}
    )
    assert page.status == 200 and "Themes saved." in page.text
    async with db.session() as s:
        tags = list(
            await s.scalars(
                select(ListeningAnswerTheme.theme_id).where(
                    ListeningAnswerTheme.answer_id == answer.id
                )
            )
        )
        saved = await s.get_one(ListeningAnswer, answer.id)
        audited = await entries(s, action="listening_answer_tagged")
    assert tags == [health] and saved.tag_source == "manual"
    assert audited[0].details == {"campaign": campaign_id, "themes": [health]}
    page = await browser.post(
        f"/listening/city-listens/answers/{answer.id}/themes", {"theme": "999999"}
    )
    assert page.status == 400
    page = await browser.post(f"/listening/city-listens/answers/{answer.id}/themes", {"theme": "x"})
    assert page.status == 400
    huge = "99999999999"
    page = await browser.post(
        f"/listening/city-listens/answers/{answer.id}/themes", {"theme": huge}
    )
    assert page.status == 400
    page = await browser.post(f"/listening/city-listens/answers/{huge}/themes", {})
    assert page.status == 404
    ann = Browser(web, console_settings)
    web.session.cookie_jar.clear()
    await ann.sign_in(db, ANN)
    await ann.get("/listening/city-listens")
    page = await ann.post(f"/listening/city-listens/answers/{answer.id}/themes", {"theme": ""})
    assert page.status == 404  # Mo is not one of Ann's people


async def test_the_question_editor_counts_and_saves_each_language(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    await listened(db, clock.now())
    browser = await signed_in(web, console_settings, db, ORGANISER)
    page = await browser.get("/listening/city-listens/questions/1")
    assert page.status == 200
    assert 'data-counter="text-en-count"' in page.text
    assert 'data-before="Leicester Citizens is listening: "' in page.text
    assert "145 characters, 1 text" in page.text  # the whole SMS, template included
    page = await browser.post(
        "/listening/city-listens/questions/1",
        {
            "text-en": "What would make   your street better?",
            "text-cy": "Beth fyddai'n gwella eich stryd?",
            "text-pl": "",
        },
    )
    assert page.status == 200 and "Saved." in page.text
    async with db.session() as s:
        q = (await s.scalars(select(ListeningQuestion))).one()
        edits = await entries(s, action="listening_question_edited")
    assert q.texts == {
        "en": "What would make your street better?",
        "cy": "Beth fyddai'n gwella eich stryd?",
    }
    assert edits[0].details["languages"] == ["cy", "en"]
    page = await browser.post(
        "/listening/city-listens/questions/1", {"text-en": "", "text-cy": "x" * 400}
    )
    assert page.status == 400
    assert "Write the question in English" in page.text
    assert "Keep the question to 300 characters" in page.text
    assert "x" * 400 in page.text
    page = await browser.post(
        "/listening/city-listens/questions/1", {"text-en": "Hi?"}, csrf="forged"
    )
    assert page.status == 403
    assert (await browser.get("/listening/city-listens/questions/9")).status == 404
    assert (await browser.get("/listening/no-such/questions/1")).status == 404


async def test_exports_are_formula_safe_chosen_fields_and_audited(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, _ = await listened(db, clock.now())
    async with db.session() as s:
        (await s.get_one(Person, people.grace.id)).name = "=cmd()"
    browser = await signed_in(web, console_settings, db, ORGANISER)
    async with web.get("/listening/city-listens/themes.csv") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        themes = await resp.text()
    assert themes.splitlines()[0] == "theme,label,institution,answers,people"
    async with web.get("/listening/city-listens/answers.csv?field=name&field=text") as resp:
        answers = await resp.text()
    assert answers.splitlines()[0] == "name,text"
    assert "'=cmd(),The damp in our flat and the rent going up" in answers
    async with web.get("/listening/city-listens/follow-ups.csv") as resp:
        follow_ups = await resp.text()
    assert "'=cmd()" in follow_ups and "Mohammed" not in follow_ups
    async with web.get("/listening/city-listens/answers.csv?field=nonsense") as resp:
        assert resp.status == 400
    async with db.session() as s:
        kinds = sorted(e.action for e in await entries(s) if e.action.startswith("listening_"))
    assert kinds == [
        "listening_answers_exported",
        "listening_follow_ups_exported",
        "listening_themes_exported",
    ]
    assert (await browser.get("/listening/nope")).status == 404
    assert (await browser.get("/listening/city-listens?after=x")).status == 400


async def test_recording_a_follow_up_takes_them_off_the_queue(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people, campaign_id = await listened(db, clock.now())
    browser = await signed_in(
        web, console_settings, db, ANN
    )  # Grace is one of Ann's people; Mo is not
    page = await browser.get("/listening/city-listens")
    assert 'Followed up<span class="visually-hidden"> Grace Okafor' in page.text
    page = await browser.post(f"/listening/city-listens/follow-ups/{people.mo.id}", {"note": ""})
    assert page.status == 404
    page = await browser.post(
        f"/listening/city-listens/follow-ups/{people.grace.id}", {"note": "Coffee on Tuesday"}
    )
    assert page.status == 200 and "Recorded: they have been followed up." in page.text
    waiting = page.text[page.text.index('id="waiting"') : page.text.index("<h2>Questions")]
    assert "Nobody is waiting." in waiting
    async with db.session() as s:
        follow_up = (await s.scalars(select(ListeningFollowUp))).one()
        audited = await entries(s, action="listening_followed_up")
    assert (follow_up.person_id, follow_up.by_id, follow_up.note, follow_up.channel) == (
        people.grace.id,
        people.ann.id,
        "Coffee on Tuesday",
        "web",
    )
    assert audited[0].details == {"campaign": campaign_id, "follow_up": follow_up.id}
    web.session.cookie_jar.clear()
    await browser.sign_in(db, ORGANISER)
    await browser.get("/listening/city-listens")
    page = await browser.post(f"/listening/city-listens/follow-ups/{people.fatima.id}", {})
    assert page.status == 400 and "was not listened to" in page.text
    page = await browser.post(
        f"/listening/city-listens/follow-ups/{people.mo.id}", {"note": "x" * 3000}
    )
    assert page.status == 400
