"""STOP and START. Opting out is immediate, confirmed once, and cancels anything queued and
every listening campaign waiting on the person (for good: nothing more is asked, no nudge)."""

from __future__ import annotations

from sqlalchemy import update

from bot.handlers.base import Context
from bot.handlers.grammar import Start, Stop
from storage import consent
from storage.listening import stop_contacts
from storage.models import OutboxMessage


async def stop(ctx: Context, _intent: Stop) -> None:
    me = ctx.me
    already = me.opted_out
    set_consent(ctx, "opted_out", "stop_word")
    await stop_contacts(ctx.session, me.id)
    await ctx.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == me.id)
        .where(OutboxMessage.status == "queued")
        .values(status="cancelled", error_code="opted_out", updated_at=ctx.now)
    )
    if not already:
        ctx.reply("stop_confirm")


async def start(ctx: Context, _intent: Start) -> None:
    set_consent(ctx, "opted_in", "start_word")
    ctx.reply("start_confirm")


def set_consent(ctx: Context, state: str, source: str) -> None:
    """The change, as an event with the channel and the person's own words."""
    words = ctx.inbound.body if ctx.inbound is not None else None
    consent.change(
        ctx.session, ctx.me, state, source=source, channel=ctx.channel, words=words, at=ctx.now
    )
