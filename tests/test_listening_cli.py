"""``turnout listening``: an organiser runs a campaign from the terminal."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.cli import listening as _listening  # noqa: F401  (registers the group)
from bot.cli.runtime import Runtime
from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from tests import factories as f

CAMPAIGN_FILE = """
title = "Leicester Listens"
target = 705

[[questions]]
en = "What is the biggest issue facing you and your family?"
pl = "Jaki jest najwiekszy problem Twojej rodziny?"

[[questions]]
en = "What do you love about where you live?"
pl = "Co kochasz w swojej okolicy?"
"""


@pytest.fixture
def turnout(db: Database, db_url: str, settings: Settings, clock: FakeClock) -> Iterator[object]:
    runner = CliRunner()
    env = {
        "TURNOUT_DATABASE_URL": db_url,
        "TURNOUT_ALLIANCE_NAME": settings.alliance_name,
        "TURNOUT_LISTENING_JOIN_SECONDS": "0",
    }

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(
            cli,
            ["listening", *args],
            env=env,
            catch_exceptions=False,
            obj=Runtime(clock=clock),
        )
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run


def _seed(db_url: str, clock: FakeClock) -> None:
    async def go() -> None:
        db = Database.from_url(db_url)
        now = clock.now()
        async with db.session() as s:
            marys = await f.institution(s, "St Mary's Church", now)
            await f.person(s, "Ann Patel", 1, now, institution=marys)
            await f.person(s, "Agnieszka Kowalska", 2, now, institution=marys, language="pl")
            await f.person(s, "Delroy Campbell", 3, now)
            await f.action(s, now)  # "assembly", next week
        await db.dispose()

    asyncio.run(go())


def _text(
    db_url: str, settings: Settings, clock: FakeClock, n: int, body: str
) -> tuple[list[str], int]:
    """Text the bot as person ``n``: the reply templates and the stored message's id."""

    async def go() -> tuple[list[str], int]:
        db = Database.from_url(db_url)
        inbound = InboundPipeline(db, settings, clock)
        message = IncomingText("sms", "sandbox", f"SM{n}{abs(hash(body))}", f.phone(n), body)
        result = await inbound.receive(message)
        await db.dispose()
        return [r.template for r in result.replies], result.inbound_id

    return asyncio.run(go())


def test_an_organiser_runs_a_campaign_from_the_terminal(
    turnout: object, db_url: str, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    run = turnout
    assert callable(run)
    _seed(db_url, clock)
    spec = tmp_path / "campaign.toml"
    spec.write_text(CAMPAIGN_FILE, encoding="utf-8")
    assert "2 questions + consent" in run("create", "leicester-listens", "--file", str(spec)).output
    assert (
        "already a campaign"
        in run("create", "leicester-listens", "--file", str(spec), ok=False).output
    )

    dry = run("send", "leicester-listens", "--institution", "st marys", "--dry-run")
    assert "Would ask 2 people" in dry.output
    assert "Asked 2 people" in run("send", "leicester-listens", "--institution", "St Mary's").output
    assert "Asked 0 people" in run("send", "leicester-listens", "--institution", "St Mary's").output

    assert _text(db_url, settings, clock, 1, "The damp in our flat is making the kids ill")[0] == [
        "listening_next"
    ]
    assert _text(db_url, settings, clock, 2, "Sasiedzi sa bardzo mili")[0] == ["listening_next"]
    # Delroy was not asked: his text lands in the inbox, and an organiser attaches it.
    replies, message_id = _text(
        db_url, settings, clock, 3, "No street lights and the potholes are bad"
    )
    assert replies == ["inbox_ack"]
    attached = run("attach", str(message_id), "leicester-listens", "--question", "1").output
    assert "is now answer" in attached
    assert "already answer" in run("attach", str(message_id), "leicester-listens", ok=False).output

    answers = run("answers", "leicester-listens").output
    assert "Ann Patel" in answers and "+44" not in answers
    untagged = run("answers", "leicester-listens", "--untagged").output
    answer_id = next(line.split()[0] for line in untagged.splitlines() if "Sasiedzi" in line)
    assert "(by hand)" in run("tag", answer_id, "roads_public_realm").output
    assert "Sasiedzi" not in run("answers", "leicester-listens", "--untagged").output
    assert "no theme" in run("tag", answer_id, "nope", ok=False).output

    added = run("add-rule", "leicester-listens", "housing", "pl", "sasiad*").output
    assert "answers whose themes changed: 0" in added  # the hand-tagged answer keeps its tag
    added = run("add-rule", "leicester-listens", "health", "en", "ill").output
    assert "answers whose themes changed: 1" in added
    assert "Childcare" not in run("themes", "leicester-listens").output
    run(
        "add-theme",
        "leicester-listens",
        "childcare",
        "--label",
        "Childcare",
        "--label-pl",
        "Opieka",
    )
    run("add-rule", "leicester-listens", "childcare", "en", "nursery")
    assert "en: nursery" in run("rules", "leicester-listens", "childcare").output
    assert (
        "changed: 0" in run("remove-rule", "leicester-listens", "childcare", "en", "nursery").output
    )
    assert (
        "has no en rule"
        in run("remove-rule", "leicester-listens", "childcare", "en", "nursery", ok=False).output
    )
    themes = run("themes", "leicester-listens", "--quotes").output
    assert "Housing" in themes and "St Mary's Church" in themes

    export = tmp_path / "answers.csv"
    run(
        "export",
        "answers",
        "leicester-listens",
        "--fields",
        "answer_id,themes,consent",
        "--out",
        str(export),
    )
    with export.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["answer_id", "themes", "consent"]
    assert len(rows) == 4
    bad = run("export", "answers", "leicester-listens", "--fields", "text,ssn", ok=False)
    assert "choose from" in bad.output

    assert (
        "Logged answer"
        in run(
            "log",
            "leicester-listens",
            "07700900150",
            "--kind",
            "doorstep",
            "--notes",
            "Knife crime by the school",
            "--name",
            "Sam Okoro",
            "--consent",
            "yes",
        ).output
    )
    assert (
        "did not say yes"
        in run("follow-up", "leicester-listens", "07700900001", "--by", "Grace").output
    )
    pipeline = run("pipeline", "leicester-listens").output
    assert "Waiting for a follow-up: 1" in pipeline and "Sam Okoro" in pipeline
    assert "Leicester Listens" in run("pipeline").output

    report = run("report-back", "leicester-listens", "--dry-run").output
    assert "Would send to 3 people" in report and "listened to 4 people" in report
    invite = run("invite", "leicester-listens", "roads_public_realm", "assembly", "--dry-run")
    assert "Would invite 2 people" in invite.output  # Agnieszka (tagged by hand) and Delroy
    assert "Closed leicester-listens" in run("close", "leicester-listens").output
    assert "closed" in run("list").output
