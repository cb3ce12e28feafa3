"""The conversation engine's neutral replies as Telegram shows them (the SMS edge writes words;
this writes a Telegram turn): each reply in Telegram's wording (config.messages.TELEGRAM_WORDS),
RSVP buttons as an inline keyboard, "share my phone number" as a one-tap reply keyboard, an
attachment as a photo with the text as its caption, an RSVP card posted (its row made here, so
its buttons can name it) or edited in place, and a tap's acknowledgement as the answer to the
callback query (in the webhook response: bot/telegram/turn.py).

callback_data (at most 64 bytes): ``c:<card id>:<y|m|n|g>`` on a group's card,
``a:<action id>:<y|m|n|g>`` in a private chat.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot.handlers.base import Card, ContactButton, Context, Reply, RsvpButtons
from bot.telegram.turn import Turn
from config.messages import channel_template
from storage.models import OutboxMessage, TelegramRsvpCard

# The buttons' choices in callback data, and what each answers.
CHOICES = {"y": "yes", "m": "maybe", "n": "no", "g": "yes"}
# Our own ids (32-bit keys), in ASCII digits: anything else in a tap is stale or forged.
CARD_DATA = r"^c:[0-9]{1,9}:[ymng]$"
DM_DATA = r"^a:[0-9]{1,9}:[ymng]$"


def rsvp_keyboard(turn: Turn, prefix: str, ident: int) -> dict[str, Any]:
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


def contact_keyboard(turn: Turn) -> dict[str, Any]:
    """A one-tap "share my phone number" keyboard (the contact Telegram sends is verified)."""
    return {
        "reply_markup": {
            "keyboard": [[{"text": turn.text("tg_share_button"), "request_contact": True}]],
            "one_time_keyboard": True,
            "resize_keyboard": True,
        }
    }


async def render(turn: Turn, ctx: Context) -> None:
    """Put ``ctx``'s replies (and a tap's acknowledgement) into the turn."""
    for reply in ctx.replies:
        turn.say(
            channel_template(reply.template, "telegram"),
            payload=await _payload(turn, reply),
            attachment=reply.attachment,
            **reply.params,
        )
    if ctx.ack is not None:
        turn.answer_callback(ctx.ack.template, **ctx.ack.params)


async def _payload(turn: Turn, reply: Reply) -> dict[str, Any] | None:
    if reply.card is not None:
        return await _card(turn, reply.card)
    if isinstance(reply.buttons, RsvpButtons):
        return {"reply_markup": rsvp_keyboard(turn, "a", reply.buttons.action_id)}
    if isinstance(reply.buttons, ContactButton):
        return contact_keyboard(turn)
    return None


async def _card(turn: Turn, card: Card) -> dict[str, Any]:
    """A new card (a row, whose id its buttons carry; the sender records the message id), or an
    edit of one in place. Only the newest edit matters: older ones still queued for the card
    are cancelled, so a burst of taps costs one or two edits, not one each."""
    if card.card_id is None:
        row = TelegramRsvpCard(
            chat_id=turn.chat.id,
            action_id=card.action_id,
            institution_id=card.institution_id,
            posted_by_id=turn.caller.id if turn.caller is not None else None,
            created_at=turn.now,
        )
        turn.session.add(row)
        await turn.session.flush()
        return {"card_id": row.id, "reply_markup": rsvp_keyboard(turn, "c", row.id)}
    queued = await turn.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == "telegram")
        .where(OutboxMessage.to_address == str(turn.chat.id))
        .where(OutboxMessage.template == "tg_card")
        .where(OutboxMessage.status == "queued")
    )
    stale = [row.id for row in queued if (row.payload or {}).get("edit_card") == card.card_id]
    if stale:
        await turn.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(stale))
            .values(status="cancelled", error_code="superseded", updated_at=turn.now)
        )
    return {"edit_card": card.card_id, "reply_markup": rsvp_keyboard(turn, "c", card.card_id)}
