"""RSVP buttons. ``/rsvp`` in a group posts a card for the institution and the action, with
Yes / Maybe / No / +1 guest; each tap by a linked person is recorded as their RSVP (the same
``scheduler.actions.record_rsvp`` as an SMS reply) and the card's counts are edited in place.
Someone not linked yet is sent to a private chat with the bot to link. In a private chat
``/rsvp`` shows the person's open invitation with the same buttons; a private tap counts only
for an action the person was invited to (callback data can be forged).

callback_data (at most 64 bytes): ``c:<card id>:<y|m|n|g>`` on a group card,
``a:<action id>:<y|m|n|g>`` in a private chat.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.handlers import rsvp
from bot.handlers.grammar import MAX_GUESTS
from bot.telegram.leaders import contact_keyboard, leader_scope, turnout_params
from bot.telegram.picking import pick_action
from bot.telegram.router import Handlers, Service
from bot.telegram.turn import Turn
from scheduler.actions import record_rsvp
from storage import actions
from storage.models import (
    Action,
    InboundMessage,
    Institution,
    Invitation,
    OutboxMessage,
    TelegramRsvpCard,
)
from storage.rollup import action_rollup
from storage.telegram import latest_headcounts

CHOICES = {"y": "yes", "m": "maybe", "n": "no", "g": "yes"}
# Our own ids (32-bit keys), in ASCII digits: anything else in a tap is stale or forged.
CARD_DATA = r"^c:[0-9]{1,9}:[ymng]$"
DM_DATA = r"^a:[0-9]{1,9}:[ymng]$"


def buttons(turn: Turn, prefix: str, ident: int) -> dict[str, Any]:
    def button(label: str, choice: str) -> dict[str, str]:
        return {"text": turn.text(label), "callback_data": f"{prefix}:{ident}:{choice}"}

    return {
        "inline_keyboard": [
            [
                button("tg_btn_yes", "y"),
                button("tg_btn_maybe", "m"),
                button("tg_btn_no", "n"),
            ],
            [button("tg_btn_guest", "g")],
        ]
    }


async def card_params(turn: Turn, action: Action, inst: Institution) -> dict[str, Any]:
    rollup = await action_rollup(turn.session, action, institution_id=inst.id)
    heads = await latest_headcounts(turn.session, action.id)
    return {
        "title": action.title,
        "slug": action.slug,
        "when": turn.when(action),
        "place": action.place,
        **turnout_params(turn, rollup.row_for(inst.id), heads.get(inst.id)),
    }


async def post(turn: Turn, svc: Service, tokens: list[str]) -> None:
    """``/rsvp [slug]``: a card in a group (leaders), the person's invitation in private."""
    if not turn.in_group:
        await show_invitation(turn, tokens)
        return
    scope = await leader_scope(turn, svc)
    if scope is None:
        return
    _, insts = scope
    action, _ = await pick_action(turn, tokens, command="rsvp")
    if action is None:
        return
    inst = insts[0]
    card = TelegramRsvpCard(
        chat_id=turn.chat.id,
        action_id=action.id,
        institution_id=inst.id,
        posted_by_id=turn.caller.id if turn.caller is not None else None,
        created_at=turn.now,
    )
    turn.session.add(card)
    await turn.session.flush()
    turn.say(
        "tg_card",
        payload={"card_id": card.id, "reply_markup": buttons(turn, "c", card.id)},
        **await card_params(turn, action, inst),
    )


async def show_invitation(turn: Turn, tokens: list[str]) -> None:
    if turn.caller is None:
        turn.say("tg_welcome", payload=contact_keyboard(turn))
        return
    open_ = await actions.open_invitations(turn.session, turn.caller.id, turn.now)
    if not open_:
        turn.say("rsvp_no_invitation")
        return
    hint = " ".join(tokens)
    named = [(i, a) for i, a in open_ if actions.matches(a, hint)]
    for _, action in (named or open_)[:3]:
        turn.say(
            "tg_rsvp_dm",
            payload={"reply_markup": buttons(turn, "a", action.id)},
            title=action.title,
            slug=action.slug,
            when=turn.when(action),
            place=action.place,
        )


async def tap(turn: Turn, svc: Service, data: str) -> None:
    prefix, ident, choice = data.split(":")
    card: TelegramRsvpCard | None = None
    if prefix == "c":
        card = await turn.session.get(TelegramRsvpCard, int(ident))
        if card is None or card.chat_id != turn.chat.id:
            turn.answer_callback("tg_button_stale")
            return
        action = await turn.session.get(Action, card.action_id)
    else:
        action = await turn.session.get(Action, int(ident))
    if action is None:
        turn.answer_callback("tg_button_stale")
        return
    if action.status != "scheduled" or action.ends_at <= turn.now:
        turn.answer_callback("tg_tap_closed", title=action.title)
        return
    person = turn.caller
    if person is None:
        # Not linked: the answer opens a private chat with the bot, where they can link.
        turn.answer_callback("tg_tap_link", url=svc.deep_link())
        return

    invitation = await turn.session.scalar(
        select(Invitation)
        .where(Invitation.action_id == action.id)
        .where(Invitation.person_id == person.id)
    )
    if invitation is None and card is None:
        # A private button is only ever shown for the person's own invitation: data naming
        # another action is forged (or from a record since erased), and changes nothing.
        turn.answer_callback("tg_button_stale")
        return
    if invitation is None:
        # A card in the institution's group: whoever is linked may answer it (a walk-in).
        invitation = Invitation(
            action_id=action.id, person_id=person.id, invited_at=turn.now, guests=0
        )
        turn.session.add(invitation)
        await turn.session.flush()
    response = CHOICES[choice]
    # Yes keeps the guests already given (as a plain YES does by text); +1 guest adds one.
    guests: int | None = None
    if choice == "g":
        guests = min((invitation.guests if invitation.response == "yes" else 0) + 1, MAX_GUESTS)
    kept = invitation.guests if response == "yes" and guests is None else guests
    inbound = InboundMessage(
        channel="telegram",
        provider="telegram",
        provider_id=str(turn.update.update_id),
        sender=str(turn.user.id),
        body=f"[button] {response}" + (f" +{kept}" if response == "yes" and kept else ""),
        person_id=person.id,
        received_at=turn.now,
        intent="rsvp",
        handled_at=turn.now,
        inbox_status="none",
    )
    turn.session.add(inbound)
    await turn.session.flush()
    await record_rsvp(
        turn.session,
        invitation,
        response,
        guests,
        channel=inbound.channel,
        inbound_id=inbound.id,
        now=turn.now,
    )
    await turn.session.flush()

    if invitation.guests:
        turn.answer_callback("tg_tap_guests", title=action.title, guests=invitation.guests)
    else:
        turn.answer_callback(f"tg_tap_{response}", title=action.title)
    if card is not None:
        await refresh_card(turn, card, action)
    elif not person.opted_out:
        confirm(turn, action, response, invitation.guests)


def confirm(turn: Turn, action: Action, response: str, guests: int) -> None:
    """The same confirmation an SMS RSVP gets (bot.handlers.rsvp)."""
    name = (turn.caller.name.split() or ["there"])[0] if turn.caller is not None else "there"
    turn.say(
        rsvp.confirmation(response, guests),
        name=name,
        title=action.title,
        when=turn.when(action),
        guests=guests,
    )


async def refresh_card(turn: Turn, card: TelegramRsvpCard, action: Action) -> None:
    """Edit the card's counts in place. Only the newest edit matters: older ones still queued
    for this card are cancelled, so a burst of taps costs one or two edits, not one each."""
    queued = await turn.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == "telegram")
        .where(OutboxMessage.to_address == str(card.chat_id))
        .where(OutboxMessage.template == "tg_card")
        .where(OutboxMessage.status == "queued")
    )
    stale = [row.id for row in queued if (row.payload or {}).get("edit_card") == card.id]
    if stale:
        await turn.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(stale))
            .values(status="cancelled", error_code="superseded", updated_at=turn.now)
        )
    inst = await turn.session.get(Institution, card.institution_id)
    assert inst is not None
    turn.say(
        "tg_card",
        payload={"edit_card": card.id, "reply_markup": buttons(turn, "c", card.id)},
        **await card_params(turn, action, inst),
    )


def handlers(svc: Service) -> Handlers:
    async def on_rsvp(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with svc.turn(update) as turn:
            await post(turn, svc, list(context.args or []))

    async def on_tap(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        async with svc.turn(update) as turn:
            await tap(turn, svc, str(query.data))

    async def on_stale(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_user is None or update.effective_chat is None:
            return
        async with svc.turn(update) as turn:
            turn.answer_callback("tg_button_stale")

    return [
        CommandHandler("rsvp", on_rsvp, filters=filters.UpdateType.MESSAGE),
        CallbackQueryHandler(on_tap, pattern=CARD_DATA),
        CallbackQueryHandler(on_tap, pattern=DM_DATA),
        CallbackQueryHandler(on_stale),
    ]
