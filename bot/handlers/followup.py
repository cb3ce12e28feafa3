"""A YES or NO to "did you make it?" (the reminder ladder's question after an action).

It answers that question, not an invitation, when the question is the last thing we asked the
person and was sent within scheduler.reminders.FOLLOWUP_WINDOW: YES records attendance (source
"followup", as a check-in would), NO is noted kindly. Anything else goes to the RSVP handler.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.handlers.base import Context
from bot.handlers.grammar import Rsvp
from scheduler.actions import check_in
from scheduler.reminders import ASKING_TEMPLATES, FOLLOWUP_TEMPLATE, FOLLOWUP_WINDOW
from storage.models import Action, OutboxMessage

# Rows that left (or may have left) for the person's phone.
GONE = ("sending", "unknown", "sent", "delivered")


async def answer(ctx: Context, intent: Rsvp) -> bool:
    """Handle the reply if it answers a recent "did you make it?"; False to let RSVP run."""
    if intent.response not in ("yes", "no"):
        return False
    sent_at = func.coalesce(OutboxMessage.sent_at, OutboxMessage.not_before)
    last = (
        await ctx.session.execute(
            select(OutboxMessage.template, OutboxMessage.action_id, sent_at)
            .where(OutboxMessage.person_id == ctx.person.id)
            .where(OutboxMessage.template.in_(ASKING_TEMPLATES))
            .where(OutboxMessage.status.in_(GONE))
            .order_by(sent_at.desc(), OutboxMessage.id.desc())
            .limit(1)
        )
    ).first()
    if last is None or last[0] != FOLLOWUP_TEMPLATE or last[1] is None:
        return False
    _template, action_id, asked_at = last
    # coalesce() keeps the column type, so this is an aware UTC datetime on both backends.
    if asked_at is None or not ctx.now - FOLLOWUP_WINDOW <= asked_at <= ctx.now:
        return False
    action = await ctx.session.get_one(Action, action_id)
    if intent.response == "yes":
        await check_in(ctx.session, action.id, ctx.person.id, source="followup", now=ctx.now)
        ctx.reply("followup_yes", name=ctx.first_name, title=action.title)
    else:
        ctx.reply("followup_no", name=ctx.first_name, title=action.title)
    return True
