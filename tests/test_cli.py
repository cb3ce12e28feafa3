"""The organiser's terminal, end to end on a SQLite file: import people, create an action,
invite, a resident texts YES through the real webhook, the rollup shows it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import actions, cli, demo, messages, people, server  # noqa: F401  (registers commands)
from bot.cli.runtime import Runtime
from config.clock import FakeClock

DATA = Path(__file__).parent / "data"

Run = Callable[..., Result]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def turnout(tmp_path: Path, clock: FakeClock) -> Run:
    runner = CliRunner()
    env = {
        "TURNOUT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "TURNOUT_ALLIANCE_NAME": "Leicester Citizens",
        # Nothing listens there: `turnout text` starts the app just for its message.
        "TURNOUT_PORT": str(_free_port()),
    }

    def run(*args: str, ok: bool = True, stdin: str | None = None, **more_env: str) -> Result:
        result = runner.invoke(
            cli,
            list(args),
            env={**env, **more_env},
            input=stdin,
            catch_exceptions=False,
            # The CLI's clock: the test's FakeClock, unless TURNOUT_NOW is given instead.
            obj=Runtime(clock=None if "TURNOUT_NOW" in more_env else clock),
        )
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
        return result

    return run


def test_import_create_invite_text_and_roll_up(turnout: Run) -> None:
    imported = turnout("people", "import", str(DATA / "people_good.csv"))
    assert "people created: 7" in imported.output
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
    assert "assembly" in turnout("actions", "list").output
    invited = turnout("invite", "assembly", "--institution", "St Mary's Church")
    assert invited.output.startswith("invited 2")

    reply = turnout("text", "07700 900001", "YES", "2")
    assert "Thanks Ann" in reply.output and "with 2 more" in reply.output

    table = turnout("rollup", "assembly").output
    church = next(line for line in table.splitlines() if line.startswith("St Mary's Church"))
    assert church.split()[3:7] == ["-", "1", "2", "3"]  # committed, yes, +guests, confirmed
    outbox = turnout("outbox").output
    assert "+447700900001" not in outbox and "+44*******001" in outbox
    # 10:00 in London: the invitations are due, the worker (not running here) would send them.
    waiting = [line for line in outbox.splitlines() if "waiting for a send slot" in line]
    assert len(waiting) == 2 and all(" invite " in line for line in waiting)


def test_a_bad_csv_names_every_bad_line_and_imports_nothing(turnout: Run) -> None:
    result = turnout("people", "import", str(DATA / "people_three_bad_rows.csv"), ok=False)
    assert "nothing was imported" in result.output
    assert "line 3:" in result.output and "line 4:" in result.output
    assert "Ann" not in turnout("people", "list").output


def test_wrong_input_gets_a_clear_error(turnout: Run) -> None:
    assert "not a possible phone number" in turnout("text", "0770", "YES", ok=False).output
    assert "no action called" in turnout("rollup", "nothing", ok=False).output
    bad_start = turnout(
        "actions", "create", "x1", "--title", "T", "--start", "soon", "--place", "P", ok=False
    )
    assert "expected a date and time" in bad_start.output


def test_at_night_turnout_now_reaches_every_command_and_the_outbox_says_why_rows_wait(
    turnout: Run,
) -> None:
    """TURNOUT_NOW gives the commands their clock (no FakeClock handed in here, and the test
    guard forbids the wall clock): 23:30 in London is inside quiet hours."""
    turnout("people", "import", str(DATA / "people_good.csv"), TURNOUT_NOW="2026-03-10 23:00")
    turnout(
        "actions",
        "create",
        "assembly",
        "--title",
        "Accountability Assembly",
        "--start",
        "2026-03-20 18:30",
        "--place",
        "De Montfort Hall",
        TURNOUT_NOW="2026-03-10 23:00",
    )
    night = turnout("invite", "assembly", TURNOUT_NOW="2026-03-10 23:30")
    assert "queued" in night.output
    outbox = turnout("outbox", TURNOUT_NOW="2026-03-10 23:30").output
    invites = [line for line in outbox.splitlines() if " invite " in line]
    assert invites and all("held until 09:00, quiet hours" in line for line in invites)
    # By day the same rows are due.
    morning = turnout("outbox", TURNOUT_NOW="2026-03-11 09:05").output
    assert "quiet hours" not in morning and "waiting for a send slot" in morning


def test_help_works_even_with_a_bad_setting() -> None:
    env = {"TURNOUT_QUIET_START": "25:00"}
    result = CliRunner().invoke(cli, ["actions", "list", "--help"], env=env)
    assert result.exit_code == 0 and "Upcoming actions" in result.output


def test_a_bad_setting_names_the_variable() -> None:
    result = CliRunner().invoke(cli, ["actions", "list"], env={"TURNOUT_QUIET_START": "25:00"})
    assert result.exit_code != 0
    assert "TURNOUT_QUIET_START" in result.output


def test_invite_a_segment_with_a_preview_first(turnout: Run) -> None:
    turnout("people", "import", str(DATA / "people_good.csv"))
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
    args = ("invite", "assembly", "--segment", "institutions", "--institution", "St Mary's")
    seen = turnout(*args, "--preview").output
    assert seen.startswith("preview, nothing queued: 2 in the segment; 2 invitations (sms 2)")
    assert " invite " not in turnout("outbox").output
    assert turnout(*args).output.startswith("invited 2")
    assert "0 invitations queued" in turnout(*args).output  # a second run queues nothing
    later = turnout("invite", "assembly", "--segment", "not_asked", "--preview").output
    assert "2 invitations" not in later and "in the segment" in later
    bad = turnout("invite", "assembly", "--segment", "replied", "--replied", "nope:yes", ok=False)
    assert "no action called" in bad.output
