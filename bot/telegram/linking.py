"""Who is who. A person links their Telegram account by sharing their own contact (Telegram
vouches for the number; a forwarded contact card of someone else is refused) or with a one-time
code (``/start CODE`` from a deep link, or ``/link CODE``). A group is linked to an institution
with a one-time group code sent in the group (``/link CODE``). Unlinked groups get a short
explanation and nothing else. When a group becomes a supergroup its new id is followed.
"""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.ext import ChatMemberHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.handlers.grammar import Help
from bot.telegram.conversation import answer_in_turn, text_from
from bot.telegram.render import contact_keyboard
from bot.telegram.router import Handlers, Service
from bot.telegram.turn import Turn, is_group_chat
from config.phones import BadPhone, normalise_phone
from storage import audit
from storage.models import Institution, Person
from storage.telegram import (
    CODE_ATTEMPT_WINDOW,
    CodeRefused,
    link_account,
    link_contact,
    link_group,
    mark_group_removed,
    migrate_chat,
    reactivate_group,
    redeem_link_code,
)

log = logging.getLogger(__name__)

# /start payload the "link first" buttons use (not a code).
LINK_PAYLOAD = "link"
REFUSALS = {"unknown": "tg_code_unknown", "used": "tg_code_used", "expired": "tg_code_expired"}


def refuse(turn: Turn, refused: CodeRefused, code: str) -> None:
    """Tell the caller why a code did not work. The log says what happened, where and by whom,
    never the code (a code in a log is a code anyone reading the log can use)."""
    if refused.reason == "limited":
        log.warning(
            "telegram: link codes paused for chat %s / user %s (too many wrong codes)",
            turn.chat.id,
            turn.user.id,
        )
        turn.say("tg_code_wait", minutes=int(CODE_ATTEMPT_WINDOW.total_seconds() // 60))
        return
    log.info(
        "telegram: link code refused in chat %s for user %s: %s",
        turn.chat.id,
        turn.user.id,
        refused.reason,
    )
    if refused.reason == "wrong_kind":
        turn.say(
            "tg_code_for_group" if refused.kind == "group" else "tg_code_for_person", code=code
        )
    else:
        turn.say(REFUSALS[refused.reason])


async def link_with_code(turn: Turn, code: str) -> None:
    """A person code, sent in a private chat."""
    result = await redeem_link_code(
        turn.session, code, kind="person", user_id=turn.user.id, chat_id=turn.chat.id, now=turn.now
    )
    if isinstance(result, CodeRefused):
        refuse(turn, result, code)
        return
    assert result.person_id is not None
    person = await turn.session.get(Person, result.person_id)
    assert person is not None
    turn.caller = await link_account(
        turn.session, person, turn.user.id, turn.now, name=turn.user.full_name or ""
    )
    log.info("telegram: person %s linked with a code", person.id)
    await audit.record(
        turn.session,
        audit.Actor.of(turn.caller, "telegram"),
        "telegram_account_linked",
        "person",
        person.id,
        at=turn.now,
        details={"with": "code"},
    )
    turn.say("tg_linked", name=first_name(turn.caller), payload=REMOVE_KEYBOARD)


async def link_this_group(turn: Turn, code: str) -> None:
    result = await redeem_link_code(
        turn.session, code, kind="group", user_id=turn.user.id, chat_id=turn.chat.id, now=turn.now
    )
    if isinstance(result, CodeRefused):
        refuse(turn, result, code)
        return
    assert result.institution_id is not None
    inst = await turn.session.get(Institution, result.institution_id)
    assert inst is not None
    turn.group = await link_group(
        turn.session,
        chat_id=turn.chat.id,
        institution_id=inst.id,
        title=turn.chat.title or "",
        language=turn.default_language,
        user_id=turn.user.id,
        now=turn.now,
    )
    log.info("telegram: chat %s linked to institution %s", turn.chat.id, inst.id)
    by = turn.caller
    await audit.record(
        turn.session,
        audit.Actor.of(by, "telegram") if by is not None else audit.Actor.anonymous("telegram"),
        "telegram_group_linked",
        "institution",
        inst.id,
        at=turn.now,
    )
    turn.say("tg_group_linked", institution=inst.name)


REMOVE_KEYBOARD = {"reply_markup": {"remove_keyboard": True}}


def first_name(person: Person) -> str:
    return (person.name.split() or ["there"])[0]


def welcome(turn: Turn) -> None:
    if turn.caller is None or turn.caller.phone is None:
        turn.say("tg_welcome", payload=contact_keyboard(turn))
    else:
        turn.say("tg_welcome_linked", name=first_name(turn.caller))


def handlers(svc: Service) -> Handlers:
    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = list(context.args or [])
        chat = update.effective_chat
        assert chat is not None
        if is_group_chat(chat):
            # /start in a group is the group's help (the conversation engine's HELP).
            await answer_in_turn(svc, update, Help())
            return
        async with svc.turn(update) as turn:
            caller = turn.caller
            if args and args[0] != LINK_PAYLOAD:
                await link_with_code(turn, args[0])
                return
            if caller is None or not caller.opted_out:
                welcome(turn)
                return
        # An opted-out person pressing Start: that is START, through the same handler as SMS.
        await svc.pipeline.receive(text_from(update, "START"))

    async def on_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = list(context.args or [])
        async with svc.turn(update) as turn:
            if turn.in_group:
                if args:
                    await link_this_group(turn, args[0])
                else:
                    turn.say("tg_link_usage_group")
            elif args:
                await link_with_code(turn, args[0])
            else:
                welcome(turn)

    async def on_contact(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.contact is not None
        contact = message.contact
        async with svc.turn(update) as turn:
            if contact.user_id != turn.user.id:
                # A contact card forwarded or picked from the address book: not proof of anything.
                turn.say("tg_contact_not_own", payload=contact_keyboard(turn))
                return
            raw = contact.phone_number.strip()
            try:
                phone = normalise_phone(
                    raw if raw.startswith("+") else "+" + raw, svc.settings.default_region
                )
            except BadPhone:
                turn.say("tg_contact_bad")
                return
            name = " ".join(p for p in (contact.first_name, contact.last_name or "") if p)
            turn.caller = await link_contact(
                turn.session,
                user_id=turn.user.id,
                phone=phone,
                name=name,
                language=svc.settings.default_language,
                timezone=svc.settings.default_timezone,
                now=turn.now,
            )
            log.info("telegram: person %s linked by contact", turn.caller.id)
            turn.say("tg_linked", name=first_name(turn.caller), payload=REMOVE_KEYBOARD)

    async def on_migrate(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        if message.migrate_to_chat_id:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        async with svc.db.session() as session:
            if await migrate_chat(session, old, new, svc.clock.now()):
                log.info("telegram: group %s is now supergroup %s", old, new)

    async def on_membership(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        assert change is not None
        if not is_group_chat(change.chat):
            return
        was = change.old_chat_member.status
        now_ = change.new_chat_member.status
        present = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.RESTRICTED)
        if now_ in (ChatMember.LEFT, ChatMember.BANNED):
            async with svc.db.session() as session:
                await mark_group_removed(session, change.chat.id, svc.clock.now())
            return
        if now_ in present and was not in present:
            async with svc.turn(update) as turn:
                # Back in a group it was linked to before (removed, then added again).
                turn.group = await reactivate_group(turn.session, change.chat.id, turn.now)
                if turn.group is None:
                    turn.say("tg_group_unlinked")

    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        MessageHandler(filters.StatusUpdate.MIGRATE, on_migrate),
        ChatMemberHandler(on_membership, ChatMemberHandler.MY_CHAT_MEMBER),
        CommandHandler("start", on_start, filters=filters.UpdateType.MESSAGE),
        CommandHandler("link", on_link, filters=filters.UpdateType.MESSAGE),
        MessageHandler(filters.CONTACT & private, on_contact),
    ]
