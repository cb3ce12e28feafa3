"""The ``turnout`` command group. Each command (or group of them) lives in its own module and
registers itself on :data:`cli`; bot/cli/__init__.py imports them all."""

from __future__ import annotations

import click

from bot.cli.runtime import Runtime


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """turnout: get people into the room.

    Settings come from TURNOUT_* environment variables (and a .env file). With no Twilio
    credentials everything runs in the sandbox: nothing leaves the machine.
    """
    # The one runtime (settings, database, clock) every command gets; tests may hand their own.
    ctx.ensure_object(Runtime)
