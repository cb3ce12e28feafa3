"""Anything else: kept for an organiser (the inbox), and the sender gets a short answer."""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Intent


async def handle(ctx: Context, _intent: Intent) -> None:
    ctx.keep_for_organiser()
    ctx.reply("welcome_unknown" if ctx.new_person else "inbox_ack")


async def keep(ctx: Context, _intent: Intent) -> None:
    """Kept for an organiser, and nothing said: someone who opted out hears nothing back."""
    ctx.keep_for_organiser()


async def ignore(_ctx: Context, _intent: Intent) -> None:
    """Not for this place (a person's own words in a group chat): nothing happens."""
