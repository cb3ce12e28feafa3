"""Telegram into the conversation engine: every command (in a group or a private chat), every
private text and every tap on an RSVP button becomes an intent of the one grammar
(bot/handlers/grammar.py: ``/commit 40`` parses exactly like ``COMMIT 40``; a tap is an
``Rsvp`` with its button) and is answered by the one router and its handlers.

Two doors, one meaning:

* What a person says for themselves in a private chat (YES / NO / MAYBE, HERE, STOP, START,
  HELP, LANG, LOG, anything else: as text or as ``/yes 2``) goes through the inbound pipeline,
  as an SMS does: stored first, kept in the organiser inbox when it is for an organiser, the
  same replies in words.
* Commands (COMMIT, TURNOUT, COUNT, CHASE, RSVP, ACTIONS, DIGEST, LINKCODE, with or without a
  slash), everything in a group, and taps are answered in the update's turn (the update is
  stored first by the webhook), and rendered with buttons, cards and photos
  (bot/telegram/render.py).

Telegram-only matters stay in the adapter: linking (bot/telegram/linking.py), an unknown
``/command`` ("I don't know that command"), a tap by someone not linked (sent to a private
chat to link), a stale or forged button, and the answer to every tap.
"""

from __future__ import annotations

from sqlalchemy import update as sql_update
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.handlers import route
from bot.handlers.base import Context, Group
from bot.handlers.grammar import (
    COMMANDS,
    Button,
    CheckIn,
    Help,
    Intent,
    Lang,
    Log,
    Other,
    Rsvp,
    Start,
    Stop,
    command_word,
    parse,
)
from bot.inbound import IncomingText
from bot.telegram.render import CARD_DATA, CHOICES, DM_DATA, render
from bot.telegram.router import Handlers, Service
from bot.telegram.turn import Turn, is_group_chat
from storage.models import InboundMessage, Institution, Person, TelegramRsvpCard
from storage.telegram import person_for_user

# What a person says for themselves: through the inbound pipeline, as an SMS.
PERSONAL = (Rsvp, CheckIn, Stop, Start, Help, Lang, Log, Other)
# /start and /link are linking's (bot/telegram/linking.py).
ROUTED_COMMANDS = sorted(COMMANDS - {"start"})
BUTTON_LABELS = {"y": "yes", "m": "maybe", "n": "no", "g": "+1 guest"}


def text_from(update: Update, body: str) -> IncomingText:
    """A private message as the inbound pipeline takes it (sender: the Telegram user id)."""
    user = update.effective_user
    assert user is not None
    return IncomingText(
        channel="telegram",
        provider="telegram",
        provider_id=str(update.update_id),
        sender=str(user.id),
        body=body,
    )


async def through_pipeline(svc: Service, update: Update, body: str) -> None:
    user = update.effective_user
    assert user is not None
    async with svc.db.session() as session:
        person = await person_for_user(session, user.id)
        if person is not None and person.telegram_status != "ok":
            person.telegram_status = "ok"  # writing to us again: they unblocked the bot
    await svc.pipeline.receive(text_from(update, body))
    # PTB gives None (not "") for a user without a first name.
    name = (user.full_name or "").strip()
    if name:
        # Someone new to us gets a person record from the pipeline; give it their name.
        async with svc.db.session() as session:
            await session.execute(
                sql_update(Person)
                .where(Person.telegram_user_id == user.id)
                .where(Person.name == "")
                .values(name=name[:200])
            )


async def context_for(turn: Turn, svc: Service) -> Context:
    """The conversation's context for this update: who, where (a group and its institution),
    its language, with a link to a private chat for anyone who must link first."""
    group = None
    if turn.in_group:
        inst = None
        if turn.group is not None:
            inst = await turn.session.get(Institution, turn.group.institution_id)
        group = Group(turn.chat.id, inst, turn.language)
    return Context(
        session=turn.session,
        person=turn.caller,
        channel="telegram",
        now=turn.now,
        settings=svc.settings,
        group=group,
        rich=True,
        deep_link=svc.deep_link,
    )


async def answer_in_turn(svc: Service, update: Update, intent: Intent) -> None:
    """Route ``intent`` in this update's turn and render the replies for Telegram."""
    async with svc.turn(update) as turn:
        ctx = await context_for(turn, svc)
        await route(ctx, intent)
        await render(turn, ctx)


async def tap_intent(turn: Turn, data: str) -> Rsvp | None:
    """The RSVP a tap gives (callback data already matched CARD_DATA or DM_DATA), or None when
    the button is stale: its card is gone, or is in another chat."""
    prefix, ident, choice = data.split(":")
    if prefix == "c":
        card = await turn.session.get(TelegramRsvpCard, int(ident))
        if card is None or card.chat_id != turn.chat.id:
            return None
        button = Button(card.action_id, card.id, card.institution_id, more=choice == "g")
    else:
        button = Button(int(ident), more=choice == "g")
    return Rsvp(CHOICES[choice], button=button)


def handlers(svc: Service) -> Handlers:
    async def on_message(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        chat = update.effective_chat
        assert message is not None and message.text is not None and chat is not None
        text = message.text
        intent = parse(text)
        slash = command_word(text) is not None
        if not is_group_chat(chat) and isinstance(intent, PERSONAL):
            if slash and isinstance(intent, Other):
                async with svc.turn(update) as turn:
                    turn.say("tg_unknown_command")
                return
            await through_pipeline(svc, update, text)
            return
        await answer_in_turn(svc, update, intent)

    async def on_tap(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        async with svc.turn(update) as turn:
            intent = await tap_intent(turn, str(query.data))
            if intent is None or intent.button is None:
                turn.answer_callback("tg_button_stale")
                return
            if turn.caller is None:
                # Not linked: the answer opens a private chat with the bot, where they can link.
                turn.answer_callback("tg_tap_link", url=svc.deep_link())
                return
            ctx = await context_for(turn, svc)
            ctx.inbound = await _store_tap(turn, str(query.data))
            await route(ctx, intent)
            await render(turn, ctx)

    async def on_stale(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_user is None or update.effective_chat is None:
            return
        async with svc.turn(update) as turn:
            turn.answer_callback("tg_button_stale")

    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        CommandHandler(ROUTED_COMMANDS, on_message, filters=filters.UpdateType.MESSAGE),
        MessageHandler(filters.TEXT & private, on_message),
        CallbackQueryHandler(on_tap, pattern=CARD_DATA),
        CallbackQueryHandler(on_tap, pattern=DM_DATA),
        CallbackQueryHandler(on_stale),
    ]


async def _store_tap(turn: Turn, data: str) -> InboundMessage:
    """A tap, kept as what the person sent (the RSVP's history row points at it)."""
    assert turn.caller is not None
    inbound = InboundMessage(
        channel="telegram",
        provider="telegram",
        provider_id=str(turn.update.update_id),
        sender=str(turn.user.id),
        body=f"[button] {BUTTON_LABELS[data[-1]]}",
        person_id=turn.caller.id,
        received_at=turn.now,
        intent="rsvp",
        handled_at=turn.now,
        inbox_status="none",
    )
    turn.session.add(inbound)
    await turn.session.flush()
    return inbound
