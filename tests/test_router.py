"""The router's one decision (bot/handlers/router.py): a table of what is open for a person x
what they sent -> the handler chosen; and a YES reads what is open once (one SELECT), not once
per handler that wants to know."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.handlers import (
    checkin,
    consent,
    followup,
    inbox,
    info,
    leader,
    listening,
    organiser,
    rsvp,
    walkin,
)
from bot.handlers.base import Group
from bot.handlers.grammar import Button, Intent, Rsvp, Start, parse
from bot.handlers.router import READ_STATE, choose
from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from scheduler.listening import send_campaign
from scheduler.reminders import ASKING_TEMPLATES, FOLLOWUP_WINDOW
from storage.conversation import LastQuestion, ListeningStep, OpenState, open_state
from storage.db import Database
from storage.listening import Segment, create_campaign
from storage.listening_themes import load_theme_specs
from storage.models import (
    Action,
    Institution,
    Invitation,
    ListeningCampaign,
    ListeningContact,
    OutboxMessage,
    PendingQuestion,
)
from tests import factories as f

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
ASKED = NOW - timedelta(hours=2)  # when the pending listening question (or consent) was asked


def _action(slug: str = "assembly", title: str = "Accountability Assembly") -> Action:
    return Action(id=1, slug=slug, title=title, status="scheduled")


@dataclass(frozen=True)
class Open:
    """What is open, in words: an invitation (sent before or after the listening question),
    a listening step (a question, or the consent question; its campaign open or closed), the
    last question we asked about an action (and how long ago)."""

    invitation: str = ""  # "" | "older" | "newer"
    listening: str = ""  # "" | "question" | "consent"
    campaign_closed: bool = False
    asked: str = ""  # "" | a template: did_you_make_it, still_coming
    asked_ago: timedelta = timedelta(hours=1)
    walkin: str = ""  # "" | a walk-in's question waiting: name, group

    def state(self) -> OpenState:
        invitations = []
        if self.invitation:
            at = ASKED - timedelta(hours=1) if self.invitation == "older" else ASKED + timedelta(1)
            invitations.append((Invitation(invited_at=at, guests=0), _action()))
        step = None
        if self.listening:
            campaign = ListeningCampaign(
                status="closed" if self.campaign_closed else "open",
                starts_at=NOW - timedelta(days=3),
                ends_at=None,
            )
            questions = 2
            contact = ListeningContact(
                step=questions if self.listening == "consent" else 0, asked_at=ASKED
            )
            step = ListeningStep(contact, campaign, questions)
        last = None
        if self.asked:
            last = LastQuestion(self.asked, _action(), NOW - self.asked_ago)
        pending = None
        if self.walkin:
            pending = PendingQuestion(person_id=1, action_id=1, step=self.walkin, asked_at=ASKED)
        return OpenState(invitations, step, last, pending)


@dataclass(frozen=True)
class Who:
    opted_out: bool = False
    leads: bool = False
    group: Group | None = None


LINKED = Group(-1001, Institution(id=1, name="St Mary's Church"), "en")
UNLINKED = Group(-1002, None, "en")
TAP = Rsvp("yes", button=Button(action_id=1))
CARD_TAP = Rsvp("yes", button=Button(action_id=1, card_id=1, institution_id=1))


@dataclass(frozen=True)
class Row:
    said: str | Intent
    open: Open = field(default_factory=Open)
    who: Who = field(default_factory=Who)


# (what was said, what is open, who) -> the handler. Read down a block to see the precedence.
TABLE: list[tuple[str, Row, Any]] = [
    # Nothing open.
    ("yes, nothing open", Row("YES"), rsvp.answer),
    ("free text, nothing open", Row("The damp in our flat"), inbox.handle),
    # A walk-in's question waits: their words answer it (commands keep their own handler).
    ("a walk-in's name", Row("Maria Lopez", Open(walkin="name")), walkin.answer),
    ("no group", Row("no", Open("older", "question", walkin="group")), walkin.answer),
    ("help while asked", Row("HELP", Open(walkin="name")), info.help_),
    ("a tap while asked", Row(TAP, Open("older", walkin="group")), rsvp.answer),
    # An invitation.
    ("yes to an invitation", Row("YES", Open("older")), rsvp.answer),
    ("maybe to an invitation", Row("maybe", Open("older")), rsvp.answer),
    ("free text with an invitation", Row("Who is speaking?", Open("older")), inbox.handle),
    # "Did you make it?" was the last question, within the window.
    ("yes: I came", Row("YES", Open("older", asked="did_you_make_it")), followup.answer),
    ("no: I did not", Row("no", Open(asked="did_you_make_it")), followup.answer),
    ("maybe is not an answer to it", Row("maybe", Open(asked="did_you_make_it")), rsvp.answer),
    (
        "asked too long ago",
        Row("YES", Open(asked="did_you_make_it", asked_ago=FOLLOWUP_WINDOW + timedelta(1))),
        rsvp.answer,
    ),
    ("the last question was another", Row("YES", Open("older", asked="still_coming")), rsvp.answer),
    ("free text after it", Row("It was great", Open(asked="did_you_make_it")), inbox.handle),
    # A listening question is waiting.
    ("an answer", Row("The buses stop at 7", Open(listening="question")), listening.answer),
    ("yes with nothing to rsvp", Row("YES", Open(listening="question")), listening.answer),
    ("yes with an invitation", Row("YES", Open("older", "question")), rsvp.answer),
    ("yes naming it", Row("yes assembly", Open("older", "question")), rsvp.answer),
    (
        "a no-sentence naming no action",
        Row("No buses after 7pm", Open("older", "question")),
        listening.answer,
    ),
    (
        "listening before did-you-make-it",
        Row("YES", Open(listening="question", asked="did_you_make_it")),
        listening.answer,
    ),
    (
        "an rsvp, then did-you-make-it",
        Row("YES", Open("older", "question", asked="did_you_make_it")),
        followup.answer,
    ),
    (
        "the campaign closed",
        Row("Potholes", Open(listening="question", campaign_closed=True)),
        None,
    ),
    # The consent question is waiting.
    ("yes is consent", Row("YES", Open("older", "consent")), listening.consent),
    ("no is consent", Row("no", Open(listening="consent")), listening.consent),
    ("maybe asks again", Row("maybe", Open(listening="consent")), listening.consent),
    ("a newer invitation wins", Row("YES", Open("newer", "consent")), rsvp.answer),
    ("naming the action wins", Row("yes assembly", Open("older", "consent")), rsvp.answer),
    ("more to say", Row("Also the GP", Open("older", "consent")), listening.answer),
    # Their own route, whatever is open.
    ("stop", Row("STOP", Open("older", "consent", asked="did_you_make_it")), consent.stop),
    ("start", Row("START", Open(listening="question")), consent.start),
    ("help", Row("HELP", Open(listening="consent")), info.help_),
    ("lang", Row("LANG CY", Open(listening="question")), info.lang),
    ("here", Row("HERE", Open("older", "question")), checkin.handle),
    ("commit", Row("COMMIT 40", Open(listening="question")), leader.commit),
    ("count", Row("COUNT", Open(listening="question")), leader.count),
    ("turnout", Row("TURNOUT", Open(listening="question")), leader.turnout),
    ("chase", Row("CHASE", Open(listening="question")), leader.chase),
    ("digest", Row("DIGEST"), organiser.digest),
    ("actions", Row("ACTIONS"), organiser.list_actions),
    ("linkcode", Row("LINKCODE st mary"), organiser.link_code),
    ("a command without its number", Row("/commit"), leader.usage),
    ("rsvp in private", Row("RSVP", Open("older", "question")), rsvp.card),
    # LOG.
    (
        "log from a leader",
        Row("LOG 121 Ann: bins", Open(listening="question"), Who(leads=True)),
        None,
    ),
    ("log from anyone else", Row("LOG 121 Ann: bins", Open(listening="question")), None),
    ("log, nothing open", Row("LOG the damp"), inbox.handle),
    # Opted out: only STOP and START are heard.
    ("opted out: yes", Row("YES", Open("older"), Who(opted_out=True)), inbox.keep),
    ("opted out: help", Row("HELP", who=Who(opted_out=True)), inbox.keep),
    ("opted out: commit", Row("COMMIT 40", who=Who(opted_out=True, leads=True)), inbox.keep),
    ("opted out: stop", Row("STOP", who=Who(opted_out=True)), consent.stop),
    ("opted out: start", Row(Start(), who=Who(opted_out=True)), consent.start),
    # Buttons: the button's action, whatever else is open.
    ("a tap", Row(TAP, Open("older", "consent", asked="did_you_make_it")), rsvp.answer),
    ("a tap by someone opted out", Row(TAP, who=Who(opted_out=True)), rsvp.answer),
    ("a card tap in a group", Row(CARD_TAP, who=Who(group=LINKED)), rsvp.answer),
    # A group.
    ("a leader's command in a group", Row("/commit 40", who=Who(group=LINKED)), leader.commit),
    ("a card in a group", Row("/rsvp", who=Who(group=LINKED)), rsvp.card),
    ("help in a group", Row("/help", who=Who(group=LINKED)), info.help_),
    ("digest in a group", Row("/digest", who=Who(group=LINKED)), organiser.private_only),
    ("linkcode in a group", Row("/linkcode 07700 900001", who=Who(group=UNLINKED)), None),
    ("a person's yes in a group", Row("/yes", Open("older"), Who(group=LINKED)), inbox.ignore),
    ("an unlinked group", Row("/turnout", who=Who(group=UNLINKED)), None),
]
# Handlers the table names by a name (they are not importable attributes of one module).
BY_NAME = {
    "the campaign closed": listening.closed,
    "log from a leader": listening.log,
    "log from anyone else": listening.answer,
    "linkcode in a group": organiser.private_only,
    "an unlinked group": info.unlinked_group,
}


@pytest.mark.parametrize(("name", "row", "expected"), TABLE, ids=[name for name, _, _ in TABLE])
def test_the_router_chooses_one_handler(name: str, row: Row, expected: Any) -> None:
    intent = parse(row.said) if isinstance(row.said, str) else row.said
    state = row.open.state()
    facts: dict[str, Any] = {
        "group": row.who.group,
        "opted_out": row.who.opted_out,
        "leads": row.who.leads,
        "now": NOW,
    }
    chosen = choose(intent, state=state, **facts)
    assert chosen is (expected or BY_NAME[name]), chosen.__qualname__


@pytest.mark.parametrize("said", ["YES", "The damp", "RSVP", "LOG 121 Ann: bins"])
def test_what_depends_on_the_open_state_asks_for_it_first(said: str) -> None:
    facts: dict[str, Any] = {"group": None, "opted_out": False, "leads": False, "now": NOW}
    assert choose(parse(said), state=None, **facts) is READ_STATE
    assert choose(TAP, state=None, **facts) is READ_STATE
    # Nothing else reads it.
    for other in ("STOP", "HELP", "HERE", "COMMIT 40", "COUNT", "/chase", "LANG CY"):
        assert choose(parse(other), state=None, **facts) is not READ_STATE


# -- one read ------------------------------------------------------------------------------------


@contextmanager
def selects(db: Database) -> Iterator[list[str]]:
    """The SELECT statements run on ``db`` meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_yes_reads_what_is_open_once(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    """Ann has an open invitation, a listening question waiting, and was asked "did you make
    it?" about another action: her YES is routed on one read of all three (before: the
    listening intercept, the follow-up check and the RSVP handler each asked their own)."""
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        action = await f.action(s, now)
        await f.invite(s, action, ann, now)
        campaign = await create_campaign(
            s,
            slug="listens",
            title="Listens",
            questions=[{"en": "What is the biggest issue?"}],
            now=now,
            themes=load_theme_specs(),
        )
        await send_campaign(s, campaign, Segment(everyone=True), now=now, settings=settings)
    pipeline = InboundPipeline(db, settings, clock)
    with selects(db) as seen:
        result = await pipeline.receive(
            IncomingText("sms", "sandbox", "SM" + "1" * 32, f.phone(1), "YES")
        )
    assert [r.template for r in result.replies] == ["rsvp_yes"]
    about_state = [
        sql
        for sql in seen
        if any(t in sql for t in ("invitations", "listening_contacts", "did_you_make_it"))
    ]
    assert len(about_state) == 1, about_state
    (read,) = about_state
    assert "invitations" in read and "listening_contacts" in read and "outbox" in read
    # The rest: the person by number, and the replies' rows; nothing else is read.
    assert len(seen) <= 3, seen


async def test_the_open_state_read_finds_each_part(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        soon = await f.action(s, now, slug="soon", starts_in=timedelta(days=2))
        later = await f.action(s, now, slug="later", starts_in=timedelta(days=9))
        over = await f.action(s, now, slug="over", starts_in=timedelta(days=-2))
        for a in (later, soon, over):
            await f.invite(s, a, ann, now)
        s.add(
            OutboxMessage(
                dedupe_key="asked",
                channel="sms",
                person_id=ann.id,
                to_address=ann.phone,
                body="did you make it?",
                template="did_you_make_it",
                status="sent",
                action_id=over.id,
                not_before=now - timedelta(hours=3),
                sent_at=now - timedelta(hours=3),
                created_at=now,
                updated_at=now,
            )
        )
        nothing = await open_state(s, ann.id, now, asking=ASKING_TEMPLATES)
        assert nothing.listening is None
        campaign = await create_campaign(
            s,
            slug="listens",
            title="Listens",
            questions=[{"en": "One?"}, {"en": "Two?"}],
            now=now,
            themes=load_theme_specs(),
        )
        await send_campaign(s, campaign, Segment(everyone=True), now=now, settings=settings)
        state = await open_state(s, ann.id, now, asking=ASKING_TEMPLATES)
        assert [a.slug for _, a in state.invitations] == ["soon", "later"]
        assert state.listening is not None
        assert (state.listening.campaign.slug, state.listening.questions) == ("listens", 2)
        assert not state.listening.asking_consent
        assert state.last_question is not None
        assert (state.last_question.template, state.last_question.action.slug) == (
            "did_you_make_it",
            "over",
        )
        assert state.last_question.is_recent("did_you_make_it", now, FOLLOWUP_WINDOW)
        # Somebody else's state is their own (Bob came after the campaign was sent).
        bob = await f.person(s, "Bob Evans", 2, now)
        empty = await open_state(s, bob.id, now, asking=ASKING_TEMPLATES)
        assert (empty.invitations, empty.listening, empty.last_question) == ([], None, None)
