"""YES / NO / MAYBE (and "YES 2") to the person's open invitation.

Which invitation: the soonest open one, or the one the text names ("YES assembly"). A text
that names an action the person has no open invitation for ("YES march" from someone invited
only to the assembly) records nothing: the person is told they are not invited to it and what
they are invited to, and the text goes to the organiser inbox (someone asking to come is for
an organiser to see). Words after the answer that name no action at all ("yes please", "no
sorry") are courtesy: the answer goes to the soonest open invitation.

Guests: "YES 2" brings two, "YES 0" none; a YES without a number keeps the guests already
given (the reminders ask people to "reply YES"); NO and MAYBE clear them.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.handlers import followup
from bot.handlers.base import Context
from bot.handlers.grammar import Rsvp
from scheduler.actions import record_rsvp
from storage import actions
from storage.models import Action, Invitation


async def handle(ctx: Context, intent: Rsvp) -> None:
    if await followup.answer(ctx, intent):  # a YES/NO to "did you make it?"
        return
    open_ = await actions.open_invitations(ctx.session, ctx.person.id, ctx.now)
    if intent.action_hint:
        named = [(i, a) for i, a in open_ if actions.matches(a, intent.action_hint)]
        if named:
            open_ = named
        elif await _names_another_action(ctx, intent.action_hint, open_):
            return
    if not open_:
        latest = await actions.latest_invitation(ctx.session, ctx.person.id)
        if latest is None:
            ctx.reply("rsvp_no_invitation")
        else:
            ctx.reply("rsvp_closed", title=latest[1].title)
        return
    invitation, action = open_[0]
    await record_rsvp(
        ctx.session,
        invitation,
        intent.response,
        intent.guests,
        channel=ctx.channel,
        inbound_id=ctx.inbound.id,
        now=ctx.now,
    )
    ctx.reply(
        confirmation(intent.response, invitation.guests),
        name=ctx.first_name,
        title=action.title,
        when=ctx.when(action),
        guests=invitation.guests,
    )


async def _names_another_action(
    ctx: Context, hint: str, open_: list[tuple[Invitation, Action]]
) -> bool:
    """The hint names an action that is not one of the person's open invitations: answer
    (closed, not invited, or nothing to answer) and return True; nothing is recorded. False
    when it names no action at all."""
    named = await actions.named(ctx.session, hint, ctx.now)
    if not named:
        return False
    action = named[0]
    invited = await ctx.session.scalar(
        select(Invitation.id)
        .where(Invitation.action_id == action.id)
        .where(Invitation.person_id == ctx.person.id)
    )
    if invited is not None:  # theirs, but over or cancelled
        ctx.reply("rsvp_closed", title=action.title)
        return True
    ctx.inbound.inbox_status = "open"
    if not open_:
        ctx.reply("rsvp_no_invitation")
        return True
    soonest = open_[0][1]
    ctx.reply(
        "rsvp_not_invited",
        name=ctx.first_name,
        named=action.title,
        title=soonest.title,
        when=ctx.when(soonest),
    )
    return True


def confirmation(response: str, guests: int) -> str:
    """The confirmation template of an RSVP, the same for SMS and Telegram (placeholders:
    name, title, when, guests: the number now on record)."""
    return "rsvp_yes_guests" if response == "yes" and guests else f"rsvp_{response}"
