"""What an RSVP text means, through the inbound pipeline: which invitation it answers (a text
naming an action the person is not invited to records nothing and says so), and the guests a
plain YES keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.inbound import InboundPipeline, InboundResult, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import Action, InboundMessage, Invitation, RsvpEvent
from tests import factories as f

_sid = iter(range(1, 1_000_000))


async def text(pipeline: InboundPipeline, n: int, body: str) -> InboundResult:
    message = IncomingText("sms", "sandbox", f"SMR{next(_sid):031d}", f.phone(n), body)
    return await pipeline.receive(message)


def templates(result: InboundResult) -> list[str]:
    return [r.template for r in result.replies]


@pytest.fixture
def pipeline(db: Database, settings: Settings, clock: FakeClock) -> InboundPipeline:
    return InboundPipeline(db, settings, clock)


async def answers(db: Database) -> dict[str, tuple[str | None, int]]:
    """Action slug -> (response, guests) of every invitation (one person in these tests)."""
    async with db.session() as s:
        rows = await s.execute(
            select(Action.slug, Invitation.response, Invitation.guests).join(
                Action, Action.id == Invitation.action_id
            )
        )
        return {slug: (response, guests) for slug, response, guests in rows}


@pytest.fixture
async def ann_invited_to_the_assembly(db: Database, clock: FakeClock) -> None:
    """Ann is invited to the assembly only; a Housing March is coming up too, and a training
    she was invited to is over."""
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        assembly = await f.action(s, now, starts_in=timedelta(days=7))
        await f.action(
            s, now, slug="housing-march", title="Housing March", starts_in=timedelta(days=3)
        )
        training = await f.action(
            s, now, slug="training", title="Leaders training", starts_in=timedelta(days=-2)
        )
        await f.invite(s, assembly, ann, now)
        await f.invite(s, training, ann, now - timedelta(days=9))


# -- guests ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("ann_invited_to_the_assembly")
async def test_a_plain_yes_after_yes_2_keeps_the_two_guests_and_says_so(
    db: Database, pipeline: InboundPipeline
) -> None:
    first = await text(pipeline, 1, "YES 2")
    assert templates(first) == ["rsvp_yes_guests"]
    again = await text(pipeline, 1, "yes")  # what the reminders ask for: "reply YES"
    assert templates(again) == ["rsvp_yes_guests"]
    assert "with 2 more" in again.replies[0].body
    assert (await answers(db))["assembly"] == ("yes", 2)
    thumbs = await text(pipeline, 1, "👍")
    assert "with 2 more" in thumbs.replies[0].body
    assert (await answers(db))["assembly"] == ("yes", 2)


@pytest.mark.usefixtures("ann_invited_to_the_assembly")
async def test_yes_0_clears_the_guests_and_yes_3_replaces_them(
    db: Database, pipeline: InboundPipeline
) -> None:
    await text(pipeline, 1, "YES 2")
    cleared = await text(pipeline, 1, "YES 0")
    assert templates(cleared) == ["rsvp_yes"]
    assert (await answers(db))["assembly"] == ("yes", 0)
    await text(pipeline, 1, "yes 3")
    assert (await answers(db))["assembly"] == ("yes", 3)
    async with db.session() as s:
        history = [(e.response, e.guests) for e in await s.scalars(select(RsvpEvent))]
    assert history == [("yes", 2), ("yes", 0), ("yes", 3)]


@pytest.mark.usefixtures("ann_invited_to_the_assembly")
async def test_no_and_maybe_clear_the_guests_so_a_later_yes_brings_none(
    db: Database, pipeline: InboundPipeline
) -> None:
    await text(pipeline, 1, "YES 2")
    await text(pipeline, 1, "MAYBE")
    assert (await answers(db))["assembly"] == ("maybe", 0)
    back = await text(pipeline, 1, "YES")
    assert templates(back) == ["rsvp_yes"]
    assert (await answers(db))["assembly"] == ("yes", 0)
    await text(pipeline, 1, "YES 1")
    await text(pipeline, 1, "no")
    assert (await answers(db))["assembly"] == ("no", 0)


# -- which action -------------------------------------------------------------------------------


@pytest.mark.usefixtures("ann_invited_to_the_assembly")
async def test_yes_to_an_action_she_is_not_invited_to_records_nothing_and_says_what_she_is(
    db: Database, pipeline: InboundPipeline
) -> None:
    result = await text(pipeline, 1, "YES march")
    assert templates(result) == ["rsvp_not_invited"]
    body = result.replies[0].body
    assert body.startswith("Sorry Ann, you're not invited to Housing March.")
    assert "You are invited to Accountability Assembly on Tue 17 Mar 10:00" in body
    assert (await answers(db))["assembly"] == (None, 0)
    async with db.session() as s:
        assert list(await s.scalars(select(RsvpEvent))) == []
        inbound = await s.scalar(select(InboundMessage))
    # Someone asking to come to another action is for an organiser to see.
    assert inbound is not None and inbound.inbox_status == "open"
    for named in ("yes housing march", "YES 2 housing-march", "no march"):
        assert templates(await text(pipeline, 1, named)) == ["rsvp_not_invited"]
    assert (await answers(db))["assembly"] == (None, 0)


@pytest.mark.usefixtures("ann_invited_to_the_assembly")
async def test_naming_her_own_action_that_is_over_says_replies_have_closed(
    db: Database, pipeline: InboundPipeline
) -> None:
    result = await text(pipeline, 1, "yes training")
    assert templates(result) == ["rsvp_closed"]
    assert "Leaders training" in result.replies[0].body
    assert (await answers(db)) == {"assembly": (None, 0), "training": (None, 0)}


@pytest.mark.usefixtures("ann_invited_to_the_assembly")
@pytest.mark.parametrize(
    ("body", "response"),
    [
        ("yes please", "yes"),
        ("Yes definitely", "yes"),
        ("no sorry", "no"),
        ("Maybe, depends on work", "maybe"),
        ("yes assembly", "yes"),
        ("YES accountability", "yes"),
    ],
)
async def test_words_that_name_no_action_are_courtesy_and_the_answer_counts(
    db: Database, pipeline: InboundPipeline, body: str, response: str
) -> None:
    result = await text(pipeline, 1, body)
    assert templates(result) == [f"rsvp_{response}"]
    assert (await answers(db))["assembly"] == (response, 0)


async def test_naming_an_action_with_no_open_invitation_at_all_says_there_is_none(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, now)
        await f.action(s, now, slug="housing-march", title="Housing March")
    result = await text(pipeline, 1, "YES march")
    assert templates(result) == ["rsvp_no_invitation"]
    async with db.session() as s:
        assert list(await s.scalars(select(Invitation))) == []
