"""The ``turnout`` command (``main``, the console script). Each command module registers itself on
the group (bot/cli/root.py); importing them all here makes ``cli`` complete."""

from __future__ import annotations

from bot.cli import (  # noqa: F401  (registers every command)
    actions,
    audit_log,
    board,
    counters,
    demo,
    exports,
    leaders,
    listening,
    messages,
    organisers,
    people,
    promises,
    rights,
    server,
    telegram,
)
from bot.cli.root import cli

audit_log.install(cli)  # every command that changes something or shows people: audited


def main() -> None:
    cli()


__all__ = ["cli", "main"]
