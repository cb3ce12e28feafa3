"""HELP and LANG."""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Help, Lang
from config.settings import LANGUAGES

ALIASES = {
    "en": "en",
    "eng": "en",
    "english": "en",
    "saesneg": "en",
    "cy": "cy",
    "welsh": "cy",
    "cymraeg": "cy",
    "pl": "pl",
    "polish": "pl",
    "polski": "pl",
}


async def help_(ctx: Context, _intent: Help) -> None:
    ctx.reply("help")


async def lang(ctx: Context, intent: Lang) -> None:
    code = ALIASES.get(intent.code)
    if code is None or code not in LANGUAGES:
        ctx.reply("lang_unknown")
        return
    ctx.person.language = code
    ctx.reply("lang_set")
