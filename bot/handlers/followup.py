"""A YES or NO to "did you make it?" (the reminder ladder's question after an action), when the
router has decided it answers that question (bot/handlers/router.py: the question is the last
thing we asked the person, within scheduler.reminders.FOLLOWUP_WINDOW). YES records attendance
(source "followup", as a check-in would), NO is noted kindly."""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Rsvp
from scheduler.actions import check_in


async def answer(ctx: Context, intent: Rsvp) -> None:
    asked = ctx.open.last_question
    assert asked is not None
    action = asked.action
    if intent.response == "yes":
        await check_in(ctx.session, action.id, ctx.me.id, source="followup", now=ctx.now)
        ctx.reply("followup_yes", name=ctx.first_name, title=action.title)
    else:
        ctx.reply("followup_no", name=ctx.first_name, title=action.title)
