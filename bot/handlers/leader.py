"""What leaders (and organisers) do, in every channel: COMMIT 40, TURNOUT (and COUNT: the
numbers), CHASE (who has not replied, by name), COUNT 37 (the headcount at the door) and the
RSVP card's scope (bot/handlers/rsvp.py). ``/commit 40`` on Telegram is the same intent.

Who may act on what is storage.roles' rule, and only storage.roles says who leads what:

* In a Telegram group the institution is the group's; only its leaders (and organisers) may
  use these, and anyone else is told politely who can. The audience is the group: lists are
  names only (and every text to a group passes redact_phones on its way to the outbox).
* In private (an SMS, a private chat) a leader works on the institutions they lead: all of
  them, or the one the words name. Naming one they do not lead is asked about again, listing
  the ones they do: nothing says whether the other exists. A write (COMMIT, COUNT 37) needs
  exactly one.

Which action: the one whose short name the words include, else the only one coming up (for a
headcount: under way); with several, the short names are listed.
"""

from __future__ import annotations

from typing import Any

from bot.handlers.base import Context, unknown_caller
from bot.handlers.grammar import Chase, Commit, Count, Turnout, Usage
from config.text import words
from scheduler.actions import commit as commit_to
from scheduler.actions import record_headcount
from storage import actions
from storage.chase import not_replied
from storage.models import Action, Headcount, Institution
from storage.roles import Roles, institutions_led, leader_names, meant_institutions
from storage.rollup import RollupRow, action_rollup
from storage.telegram import latest_headcounts

MAX_NAMES = 150  # names in one chase list
MAX_LISTED = 20  # institutions named when asking which


async def scope(ctx: Context, *, refusal: str) -> tuple[Roles, list[Institution]] | None:
    """The caller's roles and the institutions a command may act on here (in a group: the
    group's; in private: every one they lead), or None once the caller has been told why
    (``refusal``: what a known person who leads nothing is told in private)."""
    if ctx.person is None:
        unknown_caller(ctx)
        return None
    roles = await ctx.roles()
    if ctx.group is not None:
        inst = ctx.group.institution
        assert inst is not None  # the router answers unlinked groups
        if not roles.can_lead(inst.id):
            await _leaders_only(ctx, inst)
            return None
        return roles, [inst]
    if not roles.leader_anywhere:
        ctx.keep_for_organiser()  # perhaps not a command at all ("turnout was great")
        ctx.reply(refusal)
        return None
    return roles, await institutions_led(ctx.session, roles)


async def _leaders_only(ctx: Context, inst: Institution) -> None:
    names = await leader_names(ctx.session, inst.id)
    if names:
        ctx.reply("tg_leaders_only", institution=inst.name, leaders=", ".join(names[:10]))
    else:
        ctx.reply("tg_leaders_only_none", institution=inst.name)


async def pick_action(
    ctx: Context,
    hint: str,
    *,
    command: str,
    example_args: str = "",
    candidates: list[Action] | None = None,
    none: str = "no_action",
) -> tuple[Action | None, str]:
    """The action a command is about: the one whose short name ``hint`` includes, or the only
    candidate (by default: every action coming up). Otherwise says which short names there are
    (or ``none``) and returns None. Also returns the rest of the hint (an institution's name)."""
    if candidates is None:
        candidates = await actions.upcoming(ctx.session, ctx.now)
    said = hint.split()
    named = [(a, rest) for a in candidates if (rest := _without(said, words(a.slug))) is not None]
    if len(named) == 1:
        return named[0]
    if not candidates:
        ctx.reply(none)
        return None, hint
    if len(candidates) == 1 and not named:
        return candidates[0], hint
    example = " ".join(p for p in (ctx.command(command), example_args, candidates[0].slug) if p)
    ctx.reply("which_action", example=example, slugs=", ".join(a.slug for a in candidates))
    return None, hint


def _without(said: list[str], slug: list[str]) -> str | None:
    """``said`` less the words of ``slug`` (where they run together in it), or None."""
    for start in range(len(said) - len(slug) + 1):
        if slug and said[start : start + len(slug)] == slug:
            return " ".join(said[:start] + said[start + len(slug) :])
    return None


def _which(
    ctx: Context, choices: list[Institution], *, command: str, example_args: str = ""
) -> None:
    first = choices[0].name if choices else ""
    example = " ".join(p for p in (ctx.command(command), example_args, first) if p)
    ctx.reply(
        "which_institution",
        institutions=", ".join(i.name for i in choices[:MAX_LISTED]),
        example=example,
    )


def _meant(
    ctx: Context, roles: Roles, insts: list[Institution], hint: str, *, command: str
) -> list[Institution]:
    """The institutions a command that shows something is for: the group's, or in private the
    ones the leader means (storage.roles.meant_institutions); none (and asked which) when the
    words name none of theirs."""
    if ctx.group is not None:
        return insts
    chosen = meant_institutions(roles, insts, hint)
    if not chosen:
        _which(ctx, meant_institutions(roles, insts, "") or insts, command=command)
    return chosen


def _one(
    ctx: Context,
    roles: Roles,
    insts: list[Institution],
    hint: str,
    *,
    command: str,
    number: int,
) -> Institution | None:
    """The one institution a command that writes (COMMIT, COUNT 37) is for: the group's, or in
    private the one the leader leads or names (else they are asked which)."""
    if ctx.group is not None:
        return insts[0]
    chosen = meant_institutions(roles, insts, hint)
    if len(chosen) == 1:
        return chosen[0]
    choices = chosen or meant_institutions(roles, insts, "") or insts
    if command == "commit":
        ctx.reply(
            "commit_which",
            institutions=", ".join(i.name for i in choices[:MAX_LISTED]),
            number=number,
            example=choices[0].name.split()[0],
        )
    else:
        _which(ctx, choices, command=command, example_args=str(number))
    return None


def numbers(ctx: Context, row: RollupRow, head: Headcount | None) -> dict[str, Any]:
    """Placeholders for one institution's numbers (count / tg_turnout, tg_card)."""
    if row.committed is None:
        gap = ctx.text("tg_gap_none")
    elif row.gap is not None and row.gap > 0:
        gap = ctx.text("tg_gap_short", gap=row.gap, committed=row.committed)
    else:
        gap = ctx.text("tg_gap_met", confirmed=row.confirmed, committed=row.committed)
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
        "headcount": "" if head is None else ctx.text("tg_headcount_part", number=head.number),
        "gap": gap,
    }


# -- the commands ---------------------------------------------------------------------------


async def commit(ctx: Context, intent: Commit) -> None:
    """COMMIT 40 [action] [institution]: the institution's pledge for the action."""
    found = await scope(ctx, refusal="commit_not_leader")
    if found is None:
        return
    roles, insts = found
    action, rest = await pick_action(
        ctx, intent.hint, command="commit", example_args=str(intent.number), none="commit_no_action"
    )
    if action is None:
        return
    inst = _one(ctx, roles, insts, rest, command="commit", number=intent.number)
    if inst is None:
        return
    await commit_to(
        ctx.session,
        action_id=action.id,
        institution_id=inst.id,
        number=intent.number,
        set_by_id=ctx.me.id,
        channel=ctx.channel,
        now=ctx.now,
    )
    ctx.reply(
        "commit_set",
        institution=inst.name,
        number=intent.number,
        title=action.title,
        slug=action.slug,
    )


async def turnout(ctx: Context, intent: Turnout | Count) -> None:
    """TURNOUT / COUNT [action] [institution]: the numbers, one message per institution."""
    command = "turnout" if isinstance(intent, Turnout) else "count"
    found = await scope(ctx, refusal="count_not_leader")
    if found is None:
        return
    roles, insts = found
    action, rest = await pick_action(ctx, intent.hint, command=command)
    if action is None:
        return
    heads = await latest_headcounts(ctx.session, action.id)
    for inst in _meant(ctx, roles, insts, rest, command=command):
        rollup = await action_rollup(ctx.session, action, institution_id=inst.id)
        ctx.reply(
            "count",
            title=action.title,
            slug=action.slug,
            **numbers(ctx, rollup.row_for(inst.id), heads.get(inst.id)),
        )


async def count(ctx: Context, intent: Count) -> None:
    """COUNT 37 [action] [institution]: the headcount at the door, while an action is under way
    (from two hours before it starts); COUNT without a number is TURNOUT."""
    if intent.number is None:
        await turnout(ctx, intent)
        return
    found = await scope(ctx, refusal="count_not_leader")
    if found is None:
        return
    roles, insts = found
    running = await actions.in_progress(ctx.session, ctx.now)
    if not running:
        upcoming = await actions.upcoming(ctx.session, ctx.now)
        if upcoming:
            ctx.reply("count_not_yet", title=upcoming[0].title, when=ctx.when(upcoming[0]))
        else:
            ctx.reply("no_action")
        return
    action, rest = await pick_action(
        ctx, intent.hint, command="count", example_args=str(intent.number), candidates=running
    )
    if action is None:
        return
    inst = _one(ctx, roles, insts, rest, command="count", number=intent.number)
    if inst is None:
        return
    await record_headcount(
        ctx.session,
        action_id=action.id,
        institution_id=inst.id,
        number=intent.number,
        recorded_by_id=ctx.me.id,
        channel=ctx.channel,
        now=ctx.now,
    )
    rollup = await action_rollup(ctx.session, action, institution_id=inst.id)
    ctx.reply(
        "count_set",
        institution=inst.name,
        title=action.title,
        number=intent.number,
        attended=rollup.row_for(inst.id).attended,
    )


async def chase(ctx: Context, intent: Chase) -> None:
    """CHASE [action] [institution]: who was invited and has not replied, by name only."""
    found = await scope(ctx, refusal="not_leader")
    if found is None:
        return
    roles, insts = found
    action, rest = await pick_action(ctx, intent.hint, command="chase")
    if action is None:
        return
    for inst in _meant(ctx, roles, insts, rest, command="chase"):
        names = await not_replied(ctx.session, action.id, inst.id)
        if not names:
            ctx.reply("chase_none", institution=inst.name, title=action.title)
            continue
        shown = names[:MAX_NAMES]
        lines = "\n".join(shown)
        if len(names) > len(shown):
            lines += "\n" + ctx.text("chase_more", count=len(names) - len(shown))
        ctx.reply("chase", institution=inst.name, title=action.title, count=len(names), names=lines)


async def usage(ctx: Context, intent: Usage) -> None:
    """A leader's command without its number (``/commit``, ``/count -5``): how to give it."""
    refusal = "commit_not_leader" if intent.command == "commit" else "count_not_leader"
    if await scope(ctx, refusal=refusal) is not None:
        ctx.reply(f"{intent.command}_usage")
