"""What leaders do, in their institution's group or in a private chat with the bot:
``/commit 40``, ``/turnout``, ``/chase``, ``/count 37``.

In a group the institution is the group's; only its leaders (and organisers) may use these, and
everyone else is told politely who can. In a private chat a leader works on the institutions
they lead. ``/chase`` lists names only, and only in the institution's own group or in a private
chat with one of its leaders.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes, filters

from bot.telegram.picking import institution, number, pick_action, pick_own_institutions
from bot.telegram.router import Handlers, Service
from bot.telegram.turn import Turn
from scheduler.actions import commit as commit_to
from scheduler.actions import record_headcount
from storage import actions
from storage.chase import leader_names, not_replied
from storage.models import Action, Headcount, Institution
from storage.roles import Roles, roles_of
from storage.rollup import RollupRow, action_rollup
from storage.telegram import latest_headcounts

COMMANDS = ("commit", "turnout", "chase", "count")
MAX_NAMES = 150


async def leader_scope(turn: Turn, svc: Service) -> tuple[Roles, list[Institution]] | None:
    """The caller's roles and the institutions this command may act on here, or None (and
    the caller has been told why)."""
    if turn.in_group and turn.group is None:
        turn.say("tg_group_unlinked")
        return None
    if turn.caller is None:
        if turn.in_group:
            turn.say("tg_who_are_you", link=svc.deep_link())
        else:
            turn.say("tg_welcome", payload=contact_keyboard(turn))
        return None
    roles = await roles_of(turn.session, turn.caller)
    if turn.group is not None:
        inst = await institution(turn, turn.group.institution_id)
        if not roles.can_lead(inst.id):
            await leaders_only(turn, inst)
            return None
        return roles, [inst]
    if not roles.leader_anywhere:
        turn.say("tg_leaders_only_dm")
        return None
    return roles, []


async def leaders_only(turn: Turn, inst: Institution) -> None:
    names = await leader_names(turn.session, inst.id)
    if names:
        turn.say("tg_leaders_only", institution=inst.name, leaders=", ".join(names[:10]))
    else:
        turn.say("tg_leaders_only_none", institution=inst.name)


def contact_keyboard(turn: Turn) -> dict[str, Any]:
    """A one-tap "share my phone number" keyboard (the contact Telegram sends is verified)."""
    return {
        "reply_markup": {
            "keyboard": [[{"text": turn.text("tg_share_button"), "request_contact": True}]],
            "one_time_keyboard": True,
            "resize_keyboard": True,
        }
    }


async def commit(turn: Turn, svc: Service, tokens: list[str]) -> None:
    scope = await leader_scope(turn, svc)
    if scope is None:
        return
    roles, insts = scope
    value, tokens = number(tokens)
    if value is None:
        turn.say("tg_commit_usage")
        return
    action, rest = await pick_action(turn, tokens, command="commit", example_args=str(value))
    if action is None:
        return
    inst = await one_institution(turn, roles, insts, rest)
    if inst is None:
        return
    assert turn.caller is not None
    await commit_to(
        turn.session,
        action_id=action.id,
        institution_id=inst.id,
        number=value,
        set_by_id=turn.caller.id,
        channel="telegram",
        now=turn.now,
    )
    turn.say(
        "tg_commit_set", institution=inst.name, number=value, title=action.title, slug=action.slug
    )


def turnout_params(turn: Turn, row: RollupRow, head: Headcount | None) -> dict[str, Any]:
    """Placeholders for one institution's numbers (tg_turnout, tg_card, tg_digest_row)."""
    if row.committed is None:
        gap = turn.text("tg_gap_none")
    elif row.gap is not None and row.gap > 0:
        gap = turn.text("tg_gap_short", gap=row.gap, committed=row.committed)
    else:
        gap = turn.text("tg_gap_met", confirmed=row.confirmed, committed=row.committed)
    return {
        "institution": row.institution,
        "committed": "-" if row.committed is None else row.committed,
        "yes": row.yes,
        "guests": row.guests,
        "confirmed": row.confirmed,
        "maybe": row.maybe,
        "no": row.no,
        "waiting": row.not_replied,
        "attended": row.attended,
        "headcount": "" if head is None else turn.text("tg_headcount_part", number=head.number),
        "gap": gap,
    }


async def turnout(turn: Turn, svc: Service, tokens: list[str]) -> None:
    scope = await leader_scope(turn, svc)
    if scope is None:
        return
    roles, insts = scope
    action, rest = await pick_action(turn, tokens, command="turnout")
    if action is None:
        return
    if not turn.in_group:
        insts = await pick_own_institutions(turn, roles, " ".join(rest))
    heads = await latest_headcounts(turn.session, action.id)
    for inst in insts:
        rollup = await action_rollup(turn.session, action, institution_id=inst.id)
        row = rollup.row_for(inst.id)
        turn.say(
            "tg_turnout",
            title=action.title,
            slug=action.slug,
            **turnout_params(turn, row, heads.get(inst.id)),
        )


async def one_institution(
    turn: Turn, roles: Roles, insts: list[Institution], rest: list[str]
) -> Institution | None:
    """The one institution a command that writes (/commit, /count) is for: the group's own, or
    in a private chat the one the leader leads or names (else they are asked which)."""
    if not turn.in_group:
        insts = await pick_own_institutions(turn, roles, " ".join(rest))
        if len(insts) > 1:
            turn.say("tg_which_institution", institutions=", ".join(i.name for i in insts[:20]))
        if len(insts) != 1:
            return None
    return insts[0]


async def chase(turn: Turn, svc: Service, tokens: list[str]) -> None:
    scope = await leader_scope(turn, svc)
    if scope is None:
        return
    roles, insts = scope
    action, rest = await pick_action(turn, tokens, command="chase")
    if action is None:
        return
    if not turn.in_group:
        insts = await pick_own_institutions(turn, roles, " ".join(rest))
    for inst in insts:
        say_chase(turn, inst, action, await not_replied(turn.session, action.id, inst.id))


def say_chase(turn: Turn, inst: Institution, action: Action, names: list[str]) -> None:
    if not names:
        turn.say("tg_chase_none", institution=inst.name, title=action.title)
        return
    shown = names[:MAX_NAMES]
    more = len(names) - len(shown)
    lines = "\n".join(shown)
    if more:
        lines += "\n" + turn.text("tg_chase_more", count=more)
    turn.say("tg_chase", institution=inst.name, title=action.title, count=len(names), names=lines)


async def count(turn: Turn, svc: Service, tokens: list[str]) -> None:
    scope = await leader_scope(turn, svc)
    if scope is None:
        return
    roles, insts = scope
    value, tokens = number(tokens)
    if value is None:
        turn.say("tg_count_usage")
        return
    running = await actions.in_progress(turn.session, turn.now)
    if not running:
        upcoming = await actions.upcoming(turn.session, turn.now)
        if upcoming:
            turn.say("tg_count_not_yet", title=upcoming[0].title, when=turn.when(upcoming[0]))
        else:
            turn.say("tg_no_action")
        return
    action, rest = await pick_action(
        turn, tokens, command="count", example_args=str(value), candidates=running
    )
    if action is None:
        return
    inst = await one_institution(turn, roles, insts, rest)
    if inst is None:
        return
    assert turn.caller is not None
    await record_headcount(
        turn.session,
        action_id=action.id,
        institution_id=inst.id,
        number=value,
        recorded_by_id=turn.caller.id,
        channel="telegram",
        now=turn.now,
    )
    rollup = await action_rollup(turn.session, action, institution_id=inst.id)
    turn.say(
        "tg_count_set",
        institution=inst.name,
        title=action.title,
        number=value,
        attended=rollup.row_for(inst.id).attended,
    )


ROUTES = {"commit": commit, "turnout": turnout, "chase": chase, "count": count}


def handlers(svc: Service) -> Handlers:
    async def route(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        name = message.text.split()[0][1:].split("@")[0].lower()
        async with svc.turn(update) as turn:
            await ROUTES[name](turn, svc, list(context.args or []))

    return [CommandHandler(list(COMMANDS), route, filters=filters.UpdateType.MESSAGE)]
