"""YES / NO / MAYBE (and "YES 2") to the person's open invitation."""

from __future__ import annotations

from bot.handlers import actions, followup
from bot.handlers.base import Context
from bot.handlers.grammar import Rsvp
from storage.models import Action, Invitation, RsvpEvent


async def handle(ctx: Context, intent: Rsvp) -> None:
    if await followup.answer(ctx, intent):  # a YES/NO to "did you make it?"
        return
    open_ = await actions.open_invitations(ctx.session, ctx.person.id, ctx.now)
    if not open_:
        latest = await actions.latest_invitation(ctx.session, ctx.person.id)
        if latest is None:
            ctx.reply("rsvp_no_invitation")
        else:
            ctx.reply("rsvp_closed", title=latest[1].title)
        return
    named = [(i, a) for i, a in open_ if actions.matches(a, intent.action_hint)]
    invitation, action = (named or open_)[0]
    record(ctx, invitation, action, intent.response, intent.guests)
    when = ctx.when(action)
    if intent.response == "yes" and intent.guests:
        ctx.reply(
            "rsvp_yes_guests",
            name=ctx.first_name,
            title=action.title,
            when=when,
            guests=intent.guests,
        )
    else:
        ctx.reply(f"rsvp_{intent.response}", name=ctx.first_name, title=action.title, when=when)


def record(
    ctx: Context, invitation: Invitation, action: Action, response: str, guests: int
) -> None:
    """Set the current RSVP and keep the history row (shared with Telegram's RSVP buttons)."""
    invitation.response = response
    invitation.guests = guests if response == "yes" else 0
    invitation.responded_at = ctx.now
    invitation.channel = ctx.channel
    ctx.session.add(
        RsvpEvent(
            invitation_id=invitation.id,
            response=response,
            guests=invitation.guests,
            channel=ctx.channel,
            inbound_id=ctx.inbound.id,
            at=ctx.now,
        )
    )
