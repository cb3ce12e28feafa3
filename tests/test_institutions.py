"""One institution matcher (storage.institutions) for every command and text: case,
punctuation, apostrophes, St/Saint and &/and forgiven; one match, several, or none with the
closest names."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.cli import actions, cli, people  # noqa: F401  (registers commands)
from bot.cli.runtime import Runtime
from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock, RunningClock
from config.settings import Settings
from storage.db import Database
from storage.institutions import institution_key, match_institution
from storage.models import Commitment, Institution, Membership, OutboxMessage
from tests import factories as f
from tests.conftest import T0
from tests.fakes.telegram_updates import Harness, harness, private, user

NAMES = [
    "Al-Noor Mosque",
    "Judgemeadow Community College",
    "St Mary's Church",
    "St John's & St Anne's",
    "Sikh Temple and Community Centre",
    "Unison Leicester",
]


def alliance(*names: str) -> list[Institution]:
    return [Institution(id=i, name=n) for i, n in enumerate(names or NAMES, start=1)]


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("St Mary's Church", "St Mary's Church"),
        ("st marys", "St Mary's Church"),
        ("ST. MARY\u2019S", "St Mary's Church"),
        ("Saint Mary's", "St Mary's Church"),
        ("saint marys church", "St Mary's Church"),
        ("mary", "St Mary's Church"),
        ("stmarys", "St Mary's Church"),
        ("al noor", "Al-Noor Mosque"),
        ("alnoor mosque", "Al-Noor Mosque"),
        ("Saint John's and Saint Anne's", "St John's & St Anne's"),
        ("sikh temple & community centre", "Sikh Temple and Community Centre"),
        ("unison", "Unison Leicester"),
    ],
)
def test_one_name_is_found_however_it_is_written(hint: str, expected: str) -> None:
    match = match_institution(alliance(), hint)
    assert match.found is not None and match.found.name == expected, match.problem()


def test_an_exact_name_wins_over_longer_names_that_start_with_it() -> None:
    match = match_institution(alliance("St Mary's Church Hall", "St Mary's"), "st marys")
    assert match.found is not None and match.found.name == "St Mary's"


def test_a_hint_that_fits_several_lists_them() -> None:
    match = match_institution(alliance(), "community")
    assert match.found is None
    assert [i.name for i in match.several] == [
        "Judgemeadow Community College",
        "Sikh Temple and Community Centre",
    ]
    assert match.problem() == (
        "no single institution matches 'community': it could be Judgemeadow Community College, "
        "Sikh Temple and Community Centre (say which)"
    )


@pytest.mark.parametrize(
    ("hint", "closest"),
    [
        ("st mory", "St Mary's Church"),
        ("Al Nor Mosk", "Al-Noor Mosque"),
        ("judgmeadow", "Judgemeadow Community College"),
        ("Unision", "Unison Leicester"),
    ],
)
def test_an_unknown_name_gets_the_closest_ones(hint: str, closest: str) -> None:
    match = match_institution(alliance(), hint)
    assert match.found is None and match.several == ()
    assert match.closest and match.closest[0].name == closest
    assert f"no single institution matches {hint!r}; the closest: {closest}" in match.problem()


def test_nothing_close_is_said_plainly() -> None:
    match = match_institution(alliance(), "Leeds Trinity")
    assert (match.found, match.candidates) == (None, ())
    assert match.problem() == "no single institution matches 'Leeds Trinity'"


def test_an_empty_hint_means_the_only_one() -> None:
    assert match_institution(alliance("St Mary's Church"), "").found is not None
    assert match_institution(alliance(), "  ").found is None


def test_the_importer_counts_the_same_spellings_as_one_institution() -> None:
    assert institution_key("Saint Mary\u2019s  Church") == institution_key("st. marys church")
    assert institution_key("St John's & St Anne's") == institution_key("St Johns and St Annes")
    assert institution_key("St Mary's Church") != institution_key("St Mark's Church")


# -- every place that takes a name ---------------------------------------------------------------


async def test_a_leader_of_two_commits_naming_one_as_they_write_it(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        noor = await f.institution(s, "Al-Noor Mosque", now)
        await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary, role="leader")
        s.add(Membership(person_id=ann.id, institution_id=noor.id, role="leader", created_at=now))
    pipeline = InboundPipeline(db, settings, clock)
    for n, body in enumerate(["COMMIT 30 Saint Marys", "commit 12 al noor"]):
        message = IncomingText("sms", "sandbox", f"SMI{n:031d}", f.phone(1), body)
        result = await pipeline.receive(message)
        assert [r.template for r in result.replies] == ["commit_set"], body
    async with db.session() as s:
        pledged = dict(
            (await s.execute(select(Commitment.institution_id, Commitment.number))).all()
        )
    assert pledged == {mary.id: 30, noor.id: 12}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def turnout(tmp_path: Path) -> Any:
    runner = CliRunner()
    env = {
        "TURNOUT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "TURNOUT_PORT": str(_free_port()),
    }

    clock = RunningClock(T0)  # by day, whatever the hour

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(
            cli, list(args), env=env, catch_exceptions=False, obj=Runtime(clock=clock)
        )
        assert (result.exit_code == 0) is ok, result.output
        return result

    return run


def test_the_cli_takes_an_institution_as_people_write_it(turnout: Any) -> None:
    turnout("people", "import", str(Path(__file__).parent / "data" / "people_good.csv"))
    listed = turnout("people", "list", "--institution", "saint marys").output
    assert "Ann Patel" in listed and "Grace Okafor" in listed and "Mohammed" not in listed
    unknown = turnout("people", "list", "--institution", "St Mory", ok=False).output
    assert "no single institution matches 'St Mory'; the closest: St Mary's Church" in unknown
    turnout(
        "actions",
        "create",
        "assembly",
        "--title",
        "Accountability Assembly",
        "--start",
        "2030-03-14 18:30",
        "--place",
        "De Montfort Hall",
    )
    assert turnout("invite", "assembly", "--institution", "st marys").output.startswith("invited 2")
    wrong = turnout("invite", "assembly", "--institution", "college x", ok=False).output
    assert "no single institution matches 'college x'" in wrong


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


async def test_linkcode_in_telegram_forgives_the_name_and_suggests_the_closest(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        await f.institution(s, "Al-Madina Mosque", now)
        olu = await f.person(s, "Olu Adeyemi", 1, now, institution=mary, role="organiser")
        olu.telegram_user_id = 9001
    olu_u = user(9001, "Olu")
    for text in ("/linkcode saint marys", "/linkcode St Mery", "/linkcode Leeds Trinity"):
        await tg.send(tg.updates.text(olu_u, private(olu_u), text))
    async with db.session() as s:
        sent = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [m.template for m in sent] == [
        "tg_linkcode_group",
        "tg_linkcode_which_institution",
        "tg_linkcode_no_institution",
    ]
    assert sent[0].body.startswith("Code for St Mary's Church")
    assert "Did you mean: St Mary's Church?" in sent[1].body
