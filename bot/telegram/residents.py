"""Residents in a private chat: the same as by SMS. Plain text goes through the inbound
pipeline, so the same handlers answer (YES / NO / MAYBE, HERE, STOP, START, HELP, LANG, COMMIT,
COUNT; anything else lands in the organiser inbox); the one-word replies have commands too
(``/yes 2``, ``/here``, ``/stop``, ``/help``, ``/lang cy``).
"""

from __future__ import annotations

from sqlalchemy import update as sql_update
from telegram import Update
from telegram.ext import CommandHandler, ContextTypes, MessageHandler, filters

from bot.telegram.linking import text_from
from bot.telegram.router import Handlers, Service
from storage.models import Person
from storage.roles import roles_of
from storage.telegram import person_for_user

# Command -> the word a resident would text.
AS_TEXT = {
    "yes": "YES",
    "no": "NO",
    "maybe": "MAYBE",
    "here": "HERE",
    "stop": "STOP",
    "help": "HELP",
    "lang": "LANG",
}


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


def handlers(svc: Service) -> Handlers:
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE

    async def on_text(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        await through_pipeline(svc, update, message.text)

    async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        name = message.text.split()[0][1:].split("@")[0].lower()
        await through_pipeline(svc, update, " ".join([AS_TEXT[name], *(context.args or [])]))
        if name == "help":
            async with svc.turn(update) as turn:
                roles = await roles_of(turn.session, turn.caller)
                if roles.organiser:
                    turn.say("tg_help_organiser")
                elif roles.leader_anywhere:
                    turn.say("tg_help_leader")

    async def on_unknown(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        async with svc.turn(update) as turn:
            turn.say("tg_unknown_command")

    return [
        CommandHandler(list(AS_TEXT), on_command, filters=private),
        MessageHandler(filters.TEXT & ~filters.COMMAND & private, on_text),
        MessageHandler(filters.COMMAND & private, on_unknown),
    ]
