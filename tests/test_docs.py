"""The sandbox steps in README.md and docs/telegram.md, run as written, so they cannot rot.

Each test reads the ``sh`` block under a heading and runs its lines one by one: ``export``
sets the environment, ``.venv/bin/turnout ...`` runs the CLI (in this process, with
CliRunner), and the background services (``... &``) are provided here: the fake Bot API
starts in this process with the arguments the doc gives it; ``turnout serve &`` is only
checked to be a valid command (with no server listening, every ``say`` and ``text`` starts the
app for its one message, through the same webhook). Any other line fails the test: a new kind
of step needs teaching here first. The harness changes only what must differ on a shared
machine: the ports (free ones) and the database file (in a temporary directory).
"""

from __future__ import annotations

import asyncio
import re
import shlex
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import (  # noqa: F401  (registers every command, as `turnout` does)
    actions,
    cli,
    demo,
    listening,
    messages,
    people,
    server,
    telegram,
)
from bot.cli.runtime import Runtime
from config.clock import RunningClock
from tests.conftest import T0
from tests.fakes import telegram_api

ROOT = Path(__file__).resolve().parent.parent
TURNOUT = ".venv/bin/turnout"
FAKE_TELEGRAM = [".venv/bin/python", "-m", "tests.fakes.telegram_api"]


def sh_block(path: Path, heading: str) -> list[str]:
    """The lines of the first ```sh block after ``heading`` (a whole heading line)."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    found = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert found is not None, f"no sh block under {heading!r} in {path.name}"
    return [line for line in found.group(1).splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sandbox:
    """Runs documented shell lines; keeps each command's output for the test to read."""

    def __init__(self, tmp_path: Path) -> None:
        self.env = {
            "TURNOUT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'turnout.db'}",
            "TURNOUT_HOST": "127.0.0.1",
            "TURNOUT_PORT": str(_free_port()),
        }
        self.runner = CliRunner()
        # The docs' commands run on a clock of their own: by day (T0), whatever the hour.
        self.clock = RunningClock(T0)
        self.outputs: list[tuple[str, str]] = []  # (line, output)
        self.fakes: list[telegram_api.FakeTelegramApi] = []
        self.substitutions: dict[str, str] = {}

    async def run(self, lines: list[str]) -> None:
        for raw in lines:
            line = raw
            for placeholder, value in self.substitutions.items():
                line = re.sub(rf"\b{placeholder}\b", value, line)
            words = shlex.split(line, comments=True)
            background = bool(words) and words[-1] == "&"
            words = words[:-1] if background else words
            if not words:
                continue
            if words[0] == "export":
                for assignment in words[1:]:
                    name, _, value = assignment.partition("=")
                    self.env[name] = value
            elif words[:3] == FAKE_TELEGRAM and background:
                await self._fake_telegram(words[3:])
            elif words[0] == TURNOUT and background:
                self._check_only(words[1:])
            elif words[0] == TURNOUT:
                result = await asyncio.to_thread(
                    self.runner.invoke,
                    cli,
                    words[1:],
                    env=self.env,
                    catch_exceptions=False,
                    obj=Runtime(clock=self.clock),
                )
                assert result.exit_code == 0, f"{raw}\n{result.output}"
                self.outputs.append((raw, result.output))
            else:
                pytest.fail(f"the docs test does not know how to run: {raw}")

    def output(self, fragment: str) -> str:
        """The output of the first line containing ``fragment``."""
        return next(out for line, out in self.outputs if fragment in line)

    async def _fake_telegram(self, args: list[str]) -> None:
        """The fake Bot API, parsed from the doc's own arguments, on a free port: the doc's
        port is swapped for it in the URL the doc exported."""
        parsed = telegram_api.parser(self.env).parse_args(args)
        fake = telegram_api.FakeTelegramApi(token=parsed.token, clock=self.clock)
        url = await fake.start()
        self.fakes.append(fake)
        documented = f"http://127.0.0.1:{parsed.port}"
        assert self.env.get("TURNOUT_TELEGRAM_API_URL") == documented
        self.env["TURNOUT_TELEGRAM_API_URL"] = url

    def _check_only(self, args: list[str]) -> None:
        """A long-running command: it must parse (the command and its options exist)."""
        assert args and args[0] == "serve", f"unexpected background command: {args}"
        parent = cli.make_context("turnout", list(args))
        name, command, rest = cli.resolve_command(parent, list(args))
        assert name == "serve" and command is not None
        command.make_context(name, rest, parent=parent)  # raises on an unknown option

    async def close(self) -> None:
        for fake in self.fakes:
            await fake.close()


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(tmp_path)
    yield box
    await box.close()


async def test_the_readme_sandbox_flow_runs_as_written(sandbox: Sandbox) -> None:
    # "With ./scripts/run running": the script sets up .venv and runs `turnout demo`, which
    # seeds the demo alliance and serves; seed it the same way (the texts start the app).
    assert (ROOT / "scripts" / "run").read_text().rstrip().endswith(f'exec {TURNOUT} demo "$@"')
    await sandbox.run([f"{TURNOUT} demo --no-serve"])
    await sandbox.run(sh_block(ROOT / "README.md", "## Try the whole flow in the sandbox"))

    assert "invite" in sandbox.output("outbox")
    yes = sandbox.output("YES 2")
    assert "Thanks Ann" in yes and "with 2 more" in yes
    church = next(
        row
        for row in sandbox.output("rollup assembly").splitlines()
        if row.startswith("St Mary's Church")
    )
    # "Ann's church shows 1 +2": committed 40, yes 1, +guests 2, confirmed 3.
    assert church.split()[3:7] == ["40", "1", "2", "3"]
    assert "The damp in our flat is making the kids ill" in sandbox.output("inbox")
    stopped = sandbox.output("STOP")
    assert stopped.count("turnout ->") == 1 and "START" in stopped


async def test_the_telegram_sandbox_steps_run_as_written(sandbox: Sandbox) -> None:
    lines = sh_block(ROOT / "docs" / "telegram.md", "## In the sandbox")
    link_code = next(i for i, line in enumerate(lines) if "link-code" in line)
    await sandbox.run(lines[: link_code + 1])
    # The doc says to send the code link-code printed: so does the test.
    (code,) = re.findall(r"/link (\w+)", sandbox.outputs[-1][1])
    sandbox.substitutions["CODE"] = code
    await sandbox.run(lines[link_code + 1 :])

    assert "tap answered: You're coming to Accountability Assembly" in sandbox.output("--tap")
    (fake,) = sandbox.fakes
    assert fake.sent("getMe"), "the bot reached the fake Bot API with the documented token"
    outbox = sandbox.output("outbox")
    for expected in (
        "tg_group_linked",  # /link CODE
        "tg_commit_set",  # /commit 40
        "tg_card",  # /rsvp
        "tg_turnout",  # /turnout
    ):
        assert expected in outbox, expected
    turnout_row = next(line for line in outbox.splitlines() if "tg_turnout" in line)
    assert "St Mary's Church" in turnout_row
