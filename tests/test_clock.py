"""The clock seam: the clocks, one place that reads the wall clock, one runtime for the CLI, and
the guard that keeps the suite passing at any hour (tests/conftest.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from config.clock import FakeClock, RunningClock, SystemClock, clock_at
from scheduler.outbound import in_quiet_hours
from tests.conftest import T0

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("bot", "scheduler", "storage", "config")
# Reads of the wall clock, and clocks made outside the seam. (Patterns, so that this file does
# not itself contain what the test-file hook looks for.)
WALL_CLOCK = re.compile(
    r"\b(?:datetime\.(?:now|utcnow|today)|date\.today|time\.time(?:_ns)?)\(|\bSystemClock\("
)
# What a CLI command must get from its runtime (bot/cli/runtime.py) instead.
CLI_SEAM = re.compile(r"Settings\.from_env\(|Database\.from_url\(|\bclock_at\(|\bSystemClock\b")


def _lines(*folders: str) -> Iterator[tuple[str, int, str]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                yield name, number, line


def test_project_code_reads_the_wall_clock_only_in_config_clock() -> None:
    found = [
        (name, f"{number}: {line.strip()}")
        for name, number, line in _lines(*PROJECT)
        if WALL_CLOCK.search(line)
    ]
    elsewhere = [hit for hit in found if hit[0] != "config/clock.py"]
    assert elsewhere == [], "read the time through the Clock passed in (config/clock.py)"
    assert {name for name, _ in found} == {"config/clock.py"}  # the scan does see reads


def test_cli_commands_get_settings_database_and_clock_from_their_runtime() -> None:
    found = [(name, number) for name, number, line in _lines("bot/cli") if CLI_SEAM.search(line)]
    assert [hit for hit in found if hit[0] != "bot/cli/runtime.py"] == []
    assert {name for name, _ in found} == {"bot/cli/runtime.py"}


def test_a_running_clock_starts_at_its_moment_and_keeps_real_time_from_there() -> None:
    seconds = [100.0]
    clock = RunningClock(T0, monotonic=lambda: seconds[0])
    assert clock.now() == T0
    seconds[0] = 190.5
    assert clock.now() == T0 + timedelta(seconds=90.5)
    with pytest.raises(ValueError, match="aware"):
        RunningClock(datetime(2026, 3, 10, 10, 0))


def test_turnout_now_gives_the_process_a_running_clock_else_it_is_the_system_clock() -> None:
    assert isinstance(clock_at(None), SystemClock)
    clock = clock_at(T0)
    assert isinstance(clock, RunningClock)
    assert T0 <= clock.now() < T0 + timedelta(minutes=1)


def test_a_fake_clock_stands_still_until_moved() -> None:
    clock = FakeClock(T0)
    assert clock.now() == clock.now() == T0
    assert clock.advance(minutes=5) == T0 + timedelta(minutes=5)


GUARDED = """
import pytest

from config.clock import clock_at


def test_reads_the_wall_clock():
    clock_at(None).now()


def test_reads_it_where_the_failure_is_swallowed():
    try:
        clock_at(None).now()
    except BaseException:
        pass  # as a background task or a server handler might


@pytest.mark.real_clock
def test_about_the_real_clock():
    assert clock_at(None).now().tzinfo is not None
"""


@pytest.mark.real_clock  # the guard under test is installed by the inner session
def test_the_guard_fails_a_test_that_reads_the_wall_clock_unless_marked_real_clock(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_guarded=GUARDED)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    # The swallowed read passes its call and errors at teardown.
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*FAILED test_guarded.py::test_reads_the_wall_clock*",
            "*ERROR test_guarded.py::test_reads_it_where_the_failure_is_swallowed*",
        ]
    )
    assert "@pytest.mark.real_clock" in result.stdout.str()


@pytest.mark.real_clock
def test_under_ci_the_process_clock_reads_the_london_night_it_was_set_to(
    system_clock: SystemClock,
) -> None:
    """.ci/run runs the whole suite with the process clock at a London night hour (faketime)
    and names that moment in TURNOUT_TEST_NIGHT: this fails if the fake clock did not take, so
    the night run cannot pass by accident."""
    night = os.environ.get("TURNOUT_TEST_NIGHT", "").strip()
    if not night:
        pytest.skip("not under .ci/run's night clock (TURNOUT_TEST_NIGHT is unset)")
    start = datetime.fromisoformat(night)
    now = system_clock.now()
    assert start <= now < start + timedelta(minutes=15), (now, start)
    assert in_quiet_hours(now, "Europe/London", time(21, 0), time(9, 0)), now
