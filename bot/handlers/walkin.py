"""A walk-in's short exchange. Someone who texts HERE from a number we did not know (or a
Telegram account new to us) is checked in, then asked two questions, each answered with a
text: "what is your name?" and "which group are you with?". The name goes on their record; a
group named (storage.institutions matches it, forgiving spelling) makes them a member, so they
count with it; "none" (or "dim", "brak", "no") is an answer too. An answer we cannot use is
asked again once, then the text is kept in the organiser inbox and the exchange ends.

The waiting question is a row (storage/walkins.py) that the router reads with everything else
open for the person (storage.conversation.open_state): while it waits, their next words are
its answer (bot/handlers/router.py, rule 6).
"""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Intent, Rsvp
from config.phones import redact_phones
from storage import walkins
from storage.audit import Actor, record
from storage.institutions import find_institution
from storage.models import Action

# "None" in every language we speak, and the plain answers people give.
NONE_WORDS = frozenset(
    {"none", "no", "nothing", "n/a", "na", "no group", "dim", "dim un", "brak", "zaden", "nie"}
)
MAX_NAME = 80
TRIES = 2  # unusable answers before we stop asking


async def start(ctx: Context, action: Action) -> None:
    """After a check-in: ask what we do not know yet (nothing, if we know their name)."""
    me = ctx.me
    if me.name.strip():
        return
    await walkins.ask(ctx.session, me.id, action.id, "name", ctx.now)
    ctx.reply("walkin_name")


def _said(ctx: Context) -> str:
    body = ctx.inbound.body if ctx.inbound is not None else ""
    return " ".join(body.split())


async def answer(ctx: Context, intent: Intent) -> None:
    pending = ctx.open.pending
    assert pending is not None, "the router sends only a pending question's answer here"
    me, said = ctx.me, _said(ctx)
    if pending.step == "name":
        name = said.strip(" .!,")
        # A YES / NO / MAYBE is not a name (it may be meant for something else).
        unusable = isinstance(intent, Rsvp) or len(name) > MAX_NAME
        if not name or unusable or redact_phones(name) != name:
            await _unusable(ctx, "walkin_name")
            return
        me.name = name
        await walkins.ask(ctx.session, me.id, pending.action_id, "group", ctx.now)
        ctx.reply("walkin_group", name=ctx.first_name)
        return
    if said.lower().strip(" .!") in NONE_WORDS:
        await walkins.forget(ctx.session, me.id)
        ctx.reply("walkin_done_none", name=ctx.first_name)
        return
    match = await find_institution(ctx.session, said, include_former=False)
    if match.found is None:
        await _unusable(ctx, "walkin_group_again")
        return
    await walkins.join(ctx.session, me.id, match.found.id, ctx.now)
    await walkins.forget(ctx.session, me.id)
    await record(
        ctx.session,
        Actor.of(me, ctx.channel),
        "walkin_joined",
        "person",
        me.id,
        at=ctx.now,
        details={"institution": match.found.id, "action": pending.action_id},
    )
    ctx.reply("walkin_done", name=ctx.first_name, institution=match.found.name)


async def _unusable(ctx: Context, again: str) -> None:
    """Ask once more; after that, keep the text for an organiser and stop asking."""
    pending = ctx.open.pending
    assert pending is not None
    pending.tries += 1
    if pending.tries < TRIES:
        ctx.reply(again)
        return
    await walkins.forget(ctx.session, ctx.me.id)
    ctx.keep_for_organiser()
    ctx.reply("inbox_ack")
