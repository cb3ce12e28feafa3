"""What messages mean. One module per feature; this table wires intents to handlers.

Every handler has the signature ``async def handle(ctx: Context, intent) -> None`` and answers
through ``ctx.reply(template, **params)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.handlers import checkin, consent, inbox, info, leader, listening, rsvp
from bot.handlers.base import Context
from bot.handlers.grammar import (
    CheckIn,
    Commit,
    Count,
    Help,
    Intent,
    Lang,
    Other,
    Rsvp,
    Start,
    Stop,
    parse,
)

Handler = Callable[[Context, Any], Awaitable[None]]

ROUTES: dict[type, Handler] = {
    Rsvp: rsvp.handle,
    CheckIn: checkin.handle,
    Stop: consent.stop,
    Start: consent.start,
    Help: info.help_,
    Lang: info.lang,
    Commit: leader.commit,
    Count: leader.count,
    Other: inbox.handle,
}


def intent_name(intent: Intent) -> str:
    return type(intent).__name__.lower()


async def dispatch(ctx: Context, intent: Intent) -> None:
    """Run the handler for ``intent``. A person who opted out hears nothing back except to
    START; what they sent is still kept (and lands in the inbox).

    Listening goes first (bot.handlers.listening.intercept, which documents the rule in full):
    STOP / START / HELP / LANG keep their routes (STOP also stops any campaign for the person);
    while a listening question awaits the person's answer, free text is that answer and, at the
    consent step, YES / NO is the consent; a YES / NO to an open invitation stays an RSVP when
    no consent question is pending (or the invitation is newer, or the text names the action).
    """
    if ctx.person.opted_out and not isinstance(intent, Start | Stop):
        ctx.inbound.inbox_status = "open"
        return
    if await listening.intercept(ctx, intent):
        return
    await ROUTES[type(intent)](ctx, intent)


__all__ = ["ROUTES", "Context", "dispatch", "intent_name", "parse"]
