"""``turnout organisers`` and ``turnout demo``'s sign-in link, on a SQLite file."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import cli, demo, organisers  # noqa: F401  (registers commands)
from bot.cli.runtime import Runtime
from bot.web import auth
from config.clock import RunningClock
from storage.audit import entries
from storage.console import Policy, open_session
from storage.db import Database
from storage.models import Person
from storage.people import person_by_phone
from tests.conftest import T0
from tests.console import console_settings_for

Run = Callable[..., Result]
T = TypeVar("T")
LINK = re.compile(r"http://127\.0\.0\.1:8080/sign-in/link/(\S+)")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"


# The commands and the checks share one clock that runs from T0 (by day, whatever the hour).
CLOCK = RunningClock(T0)


@pytest.fixture
def turnout(url: str) -> Run:
    runner = CliRunner()
    env = {"TURNOUT_DATABASE_URL": url, "TURNOUT_ALLIANCE_NAME": "Leicester Citizens"}

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(
            cli, list(args), env=env, catch_exceptions=False, obj=Runtime(clock=CLOCK)
        )
        assert (result.exit_code == 0) == ok, result.output
        return result

    return run


def in_db(url: str, body: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        db = Database.from_url(url)
        try:
            async with db.session() as s:
                return await body(s)
        finally:
            await db.dispose()

    return asyncio.run(go())


def link_holder(url: str, token: str) -> Person | None:
    async def holder(s: AsyncSession) -> Person | None:
        return await auth.link_holder(s, token, CLOCK.now())

    return in_db(url, holder)


def test_add_list_link_and_remove_an_alliance_organiser(turnout: Run, url: str) -> None:
    out = turnout("organisers", "add", "Sam Lee", "07700 900077").output
    assert "Sam Lee (+44*******077) is now an organiser" in out
    assert "already an organiser" in turnout("organisers", "add", "Sam", "07700900077").output
    listed = turnout("organisers", "list").output
    assert "Sam Lee" in listed and "whole alliance" in listed and "900077" not in listed

    out = turnout("organisers", "link", "07700900077").output
    found = LINK.search(out)
    assert found, out
    settings = console_settings_for(url)

    sam = link_holder(url, found.group(1))
    assert sam is not None and sam.name == "Sam Lee"

    async def sign_in(s: AsyncSession) -> None:
        person = await person_by_phone(s, "+447700900077")
        assert person is not None
        await open_session(
            s,
            person_id=person.id,
            method="link",
            user_agent="",
            now=CLOCK.now(),
            policy=Policy.from_settings(settings),
        )

    in_db(url, sign_in)
    out = turnout("organisers", "remove", "07700900077").output
    assert "Sam Lee is no longer an organiser; 1 console sessions ended" in out
    assert "Sam Lee" not in turnout("organisers", "list").output

    async def log(s: AsyncSession) -> list[str]:
        return [e.action for e in reversed(await entries(s))]

    assert in_db(url, log) == [
        "organiser_added",
        "sign_in_link_created",
        "organiser_removed",
        "session_revoked",
    ]


def test_errors_are_plain(turnout: Run) -> None:
    turnout("demo", "--no-serve")
    assert "nobody has the number" in turnout("organisers", "link", "07700900555", ok=False).output
    out = turnout("organisers", "link", "07700900002", ok=False).output  # Mohammed: a member
    assert "Mohammed Khan is neither an organiser nor a leader" in out
    out = turnout("organisers", "remove", "07700900011", ok=False).output  # Ruth: St Mary's
    assert "not an organiser for the alliance" in out
    assert "12: " in turnout("organisers", "add", "X", "12", ok=False).output


def test_demo_prints_a_sign_in_link_for_its_organiser(turnout: Run, url: str) -> None:
    out = turnout("demo", "--no-serve").output
    assert "sign in as Ruth Adeyemi" in out
    found = LINK.search(out)
    assert found, out

    ruth = link_holder(url, found.group(1))
    assert ruth is not None and ruth.name == "Ruth Adeyemi"
    assert "Ruth Adeyemi" in turnout("organisers", "list").output
