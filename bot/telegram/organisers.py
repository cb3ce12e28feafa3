"""Organisers (and leaders, where said) in a private chat: ``/digest`` (today's rollup across
all institutions, with the chart), ``/actions`` (upcoming actions and their short names) and
``/linkcode`` (one-time codes: an institution's name for its group, a phone number for a
person). The digest never goes to a group: it shows every institution."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes, filters

from bot.telegram.leaders import contact_keyboard
from bot.telegram.router import Handlers, Service
from bot.telegram.turn import Attachment, Turn
from config.messages import format_when
from config.phones import BadPhone, mask_phone, normalise_phone
from scheduler.digest.build import build_digest, local_day
from scheduler.digest.chart import render_chart
from scheduler.digest.render import render_text
from storage import actions
from storage.institutions import find_institution
from storage.people import person_by_phone
from storage.roles import Roles, may_see, roles_of
from storage.telegram import DEFAULT_CODE_TTL, create_link_code

COMMANDS = ("digest", "actions", "linkcode")
MAX_ACTIONS = 20


async def private_roles(turn: Turn) -> Roles | None:
    """The caller's roles, for a command that works only in a private chat with a linked
    person; None (and the caller told why) otherwise."""
    if turn.in_group:
        turn.say("tg_private_only")
        return None
    if turn.caller is None:
        turn.say("tg_welcome", payload=contact_keyboard(turn))
        return None
    return await roles_of(turn.session, turn.caller)


async def digest(turn: Turn, svc: Service) -> None:
    roles = await private_roles(turn)
    if roles is None:
        return
    if not roles.organiser:
        turn.say("tg_organisers_only")
        return
    built = await build_digest(turn.session, svc.settings, turn.now)
    day = local_day(turn.now, svc.settings.default_timezone)
    date = f"{day:%a} {day.day} {day:%b}"
    # A fixed-width table: the channel sends "digest" rows as <pre>.
    turn.say("digest", date=date, body=render_text(built))
    if not built.actions:
        return
    for item in built.actions:
        if not any(r.committed or r.confirmed for r in item.rollup.rows):
            continue
        turn.say(
            "digest_chart",
            attachment=Attachment(
                filename=f"turnout-{item.action.slug}-{day.isoformat()}.png",
                content_type="image/png",
                data=render_chart(item),
            ),
            title=item.action.title,
            date=date,
        )


async def list_actions(turn: Turn, svc: Service) -> None:
    if turn.caller is None:
        if turn.in_group:
            turn.say("tg_who_are_you", link=svc.deep_link())
        else:
            turn.say("tg_welcome", payload=contact_keyboard(turn))
        return
    roles = await roles_of(turn.session, turn.caller)
    if not roles.leader_anywhere:
        turn.say("tg_leaders_only_dm")
        return
    upcoming = await actions.upcoming(turn.session, turn.now)
    if not upcoming:
        turn.say("tg_no_action")
        return
    lines = [
        turn.text("tg_action_line", slug=a.slug, title=a.title, when=turn.when(a), place=a.place)
        for a in upcoming[:MAX_ACTIONS]
    ]
    turn.say("tg_actions", lines="\n".join(lines))


async def link_code(turn: Turn, svc: Service, tokens: list[str]) -> None:
    """``/linkcode St Mary`` (organisers: a code for the institution's group) or
    ``/linkcode 07700 900123`` (a code for that person; leaders for their own people)."""
    roles = await private_roles(turn)
    if roles is None:
        return
    assert turn.caller is not None  # private_roles returned roles: the caller is linked
    if not roles.leader_anywhere:
        turn.say("tg_leaders_only_dm")
        return
    arg = " ".join(tokens).strip()
    if not arg:
        turn.say("tg_linkcode_usage")
        return
    expires = format_when(turn.now + DEFAULT_CODE_TTL, turn.language, turn.timezone)
    digits = sum(ch.isdigit() for ch in arg)
    if digits >= 6:
        try:
            phone = normalise_phone(arg, svc.settings.default_region)
        except BadPhone:
            turn.say("tg_linkcode_no_person")
            return
        person = await person_by_phone(turn.session, phone)
        # Someone the caller may not see gets the answer an unknown number gets.
        if person is None or not await may_see(turn.session, roles, person):
            turn.say("tg_linkcode_no_person")
            return
        code, _ = await create_link_code(
            turn.session,
            kind="person",
            person_id=person.id,
            created_by_id=turn.caller.id,
            now=turn.now,
        )
        turn.say(
            "tg_linkcode_person",
            name=person.name or mask_phone(person.phone),
            code=code,
            expires=expires,
            link=svc.deep_link(code),
        )
        return
    if not roles.organiser:
        turn.say("tg_organisers_only")
        return
    match = await find_institution(turn.session, arg, include_former=False)
    inst = match.found
    if inst is None:
        if match.candidates:
            turn.say("tg_linkcode_which_institution", name=arg, names=match.names())
        else:
            turn.say("tg_linkcode_no_institution", name=arg)
        return
    code, _ = await create_link_code(
        turn.session,
        kind="group",
        institution_id=inst.id,
        created_by_id=turn.caller.id,
        now=turn.now,
        ttl=DEFAULT_CODE_TTL,
    )
    turn.say("tg_linkcode_group", institution=inst.name, code=code, expires=expires)


def handlers(svc: Service) -> Handlers:
    async def route(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        name = message.text.split()[0][1:].split("@")[0].lower()
        async with svc.turn(update) as turn:
            if name == "digest":
                await digest(turn, svc)
            elif name == "actions":
                await list_actions(turn, svc)
            else:
                await link_code(turn, svc, list(context.args or []))

    return [CommandHandler(list(COMMANDS), route, filters=filters.UpdateType.MESSAGE)]
