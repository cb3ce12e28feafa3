"""The conversation engine: what people say, in every channel, and what it means.

Every channel turns what a person sent into the same typed intents (``grammar.parse``: an SMS,
a Telegram message or command; a tap on a button is an ``Rsvp``); one router decides which
handler answers (``router.route``, the precedence in its docstring); the handlers (one module
per feature: rsvp, checkin, consent, info, leader, organiser, listening, followup, inbox) are
channel-agnostic and answer with neutral replies (``base.Reply``) that the channel renders.
"""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import parse
from bot.handlers.router import ROUTES, choose, intent_name, route

__all__ = ["ROUTES", "Context", "choose", "intent_name", "parse", "route"]
