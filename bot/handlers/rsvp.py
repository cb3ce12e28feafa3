"""YES / NO / MAYBE (and "YES 2") to the person's open invitation, typed or tapped; and RSVP,
which asks the question with buttons.

Which invitation: the soonest open one, or the one the text names ("YES assembly"). A text
that names an action the person has no open invitation for ("YES march" from someone invited
only to the assembly) records nothing: the person is told they are not invited to it and what
they are invited to, and the text goes to the organiser inbox (someone asking to come is for
an organiser to see). Words after the answer that name no action at all ("yes please", "no
sorry") are courtesy: the answer goes to the soonest open invitation.

Guests: "YES 2" brings two, "YES 0" none; a YES without a number keeps the guests already
given (the reminders ask people to "reply YES"); NO and MAYBE clear them; the "+1 guest"
button adds one.

A button answers the action it was made for. On a group's card whoever is linked may answer (a
walk-in gets an invitation) and the card's counts are edited in place; a button in a private
chat counts only for the person's own invitation (callback data can be forged). Either way the
tap is acknowledged where it was tapped. The open invitations are the router's read
(Context.open): nothing here asks for them again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.handlers import leader
from bot.handlers.base import Card, Context, RsvpButtons, unknown_caller
from bot.handlers.grammar import MAX_GUESTS, Button, Rsvp, RsvpCard
from scheduler.actions import record_rsvp
from storage import actions, counters
from storage.models import Action, Institution, Invitation
from storage.rollup import action_rollup
from storage.telegram import latest_headcounts


async def answer(ctx: Context, intent: Rsvp) -> None:
    if intent.button is not None:
        await _tap(ctx, intent, intent.button)
        return
    open_ = ctx.open.invitations
    if intent.action_hint:
        named = [(i, a) for i, a in open_ if actions.matches(a, intent.action_hint)]
        if named:
            open_ = named
        elif await _names_another_action(ctx, intent.action_hint, open_):
            return
    if not open_:
        latest = await actions.latest_invitation(ctx.session, ctx.me.id)
        if latest is None:
            ctx.reply("rsvp_no_invitation")
        else:
            ctx.reply("rsvp_closed", title=latest[1].title)
        return
    invitation, action = open_[0]
    await _record(ctx, invitation, intent.response, intent.guests)
    _confirm(ctx, action, intent.response, invitation.guests)


async def _record(ctx: Context, invitation: Invitation, response: str, guests: int | None) -> None:
    await record_rsvp(
        ctx.session,
        invitation,
        response,
        guests,
        channel=ctx.channel,
        inbound_id=ctx.inbound.id if ctx.inbound is not None else None,
        now=ctx.now,
    )


def _confirm(ctx: Context, action: Action, response: str, guests: int) -> None:
    ctx.reply(
        confirmation(response, guests),
        name=ctx.first_name,
        title=action.title,
        when=ctx.when(action),
        guests=guests,
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
        .where(Invitation.person_id == ctx.me.id)
    )
    if invited is not None:  # theirs, but over or cancelled
        ctx.reply("rsvp_closed", title=action.title)
        return True
    ctx.keep_for_organiser()
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
    """The confirmation template of an RSVP, the same for every channel (placeholders: name,
    title, when, guests: the number now on record)."""
    return "rsvp_yes_guests" if response == "yes" and guests else f"rsvp_{response}"


# -- buttons --------------------------------------------------------------------------------


async def _tap(ctx: Context, intent: Rsvp, button: Button) -> None:
    me = ctx.me
    found = next(((i, a) for i, a in ctx.open.invitations if a.id == button.action_id), None)
    if found is not None:
        invitation, action = found
    else:
        maybe_action = await ctx.session.get(Action, button.action_id)
        if maybe_action is None:
            ctx.acknowledge("tg_button_stale")
            return
        action = maybe_action
        if action.status != "scheduled" or action.ends_at <= ctx.now:
            ctx.acknowledge("tg_tap_closed", title=action.title)
            return
        if button.card_id is None:
            # A private button is only ever shown for the person's own invitation: data naming
            # another action is forged (or from a record since erased), and changes nothing.
            ctx.acknowledge("tg_button_stale")
            return
        # A card in the institution's group: whoever is linked may answer it (a walk-in).
        invitation = Invitation(action_id=action.id, person_id=me.id, invited_at=ctx.now, guests=0)
        ctx.session.add(invitation)
        await ctx.session.flush()
        await counters.invited(ctx.session, action.id, [me.id], ctx.now)
    guests: int | None = None
    if button.more:
        guests = min((invitation.guests if invitation.response == "yes" else 0) + 1, MAX_GUESTS)
    await _record(ctx, invitation, intent.response, guests)
    await ctx.session.flush()
    if invitation.guests:
        ctx.acknowledge("tg_tap_guests", title=action.title, guests=invitation.guests)
    else:
        ctx.acknowledge(f"tg_tap_{intent.response}", title=action.title)
    if button.card_id is not None and button.institution_id is not None:
        inst = await ctx.session.get_one(Institution, button.institution_id)
        ctx.reply(
            "tg_card",
            card=Card(action.id, inst.id, button.card_id),
            buttons=RsvpButtons(action.id),
            **await card_params(ctx, action, inst),
        )
    elif not me.opted_out:
        _confirm(ctx, action, intent.response, invitation.guests)


# -- RSVP: the question with buttons ----------------------------------------------------------


async def card(ctx: Context, intent: RsvpCard) -> None:
    """In a group, a leader posts a card for the group's institution and the action; in
    private, the person's open invitations (at most three) with the same buttons."""
    if ctx.group is None:
        await _show(ctx, intent)
        return
    scope = await leader.scope(ctx, refusal="count_not_leader")
    if scope is None:
        return
    _, insts = scope
    action, _ = await leader.pick_action(ctx, intent.hint, command="rsvp")
    if action is None:
        return
    inst = insts[0]
    ctx.reply(
        "tg_card",
        card=Card(action.id, inst.id),
        buttons=RsvpButtons(action.id),
        **await card_params(ctx, action, inst),
    )


async def _show(ctx: Context, intent: RsvpCard) -> None:
    if ctx.person is None:
        unknown_caller(ctx)
        return
    open_ = ctx.open.invitations
    if not open_:
        ctx.reply("rsvp_no_invitation")
        return
    named = [(i, a) for i, a in open_ if actions.matches(a, intent.hint)]
    for _, action in (named or open_)[:3]:
        ctx.reply(
            "rsvp_card",
            buttons=RsvpButtons(action.id),
            title=action.title,
            slug=action.slug,
            when=ctx.when(action),
            place=action.place,
        )


async def card_params(ctx: Context, action: Action, inst: Institution) -> dict[str, Any]:
    rollup = await action_rollup(ctx.session, action, institution_id=inst.id)
    heads = await latest_headcounts(ctx.session, action.id)
    return {
        "title": action.title,
        "slug": action.slug,
        "when": ctx.when(action),
        "place": action.place,
        **leader.numbers(ctx, rollup.row_for(inst.id), heads.get(inst.id)),
    }
