"""HERE / ARRIVED during an action: checked in (invited or not: a walk-in still counts). A
walk-in we do not know by name is then asked who they are (bot/handlers/walkin.py)."""

from __future__ import annotations

from sqlalchemy import select

from bot.handlers import walkin
from bot.handlers.base import Context
from bot.handlers.grammar import CheckIn
from scheduler.actions import check_in
from storage import actions
from storage.models import Invitation


async def handle(ctx: Context, _intent: CheckIn) -> None:
    running = await actions.in_progress(ctx.session, ctx.now)
    if not running:
        ctx.reply("checkin_none")
        return
    me = ctx.me
    invited = set(
        await ctx.session.scalars(
            select(Invitation.action_id)
            .where(Invitation.person_id == me.id)
            .where(Invitation.action_id.in_([a.id for a in running]))
        )
    )
    action = next((a for a in running if a.id in invited), running[0])
    if not await check_in(ctx.session, action.id, me.id, source="checkin", now=ctx.now):
        ctx.reply("checkin_already", title=action.title)
        return
    ctx.reply("checkin_ok", title=action.title, name=ctx.first_name)
    await walkin.start(ctx, action)
