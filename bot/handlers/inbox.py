"""Anything else: kept for an organiser (the inbox), and the sender gets a short answer."""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Other


async def handle(ctx: Context, _intent: Other) -> None:
    ctx.inbound.inbox_status = "open"
    ctx.reply("welcome_unknown" if ctx.new_person else "inbox_ack")
