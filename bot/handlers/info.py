"""HELP, PRIVACY and LANG. PRIVACY texts back the alliance's privacy notice
(TURNOUT_PRIVACY_NOTICE; a short default naming what is kept and how to ask for it).

HELP says who is texting, why and how to stop; a leader or an organiser also
hears the words they have (by SMS: COMMIT 40, COUNT ...; on Telegram: /commit 40, /count ...).
In a Telegram group, HELP (and /start) is the group's help: what its leaders can do there."""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Help, Intent, Lang, Privacy
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
    if ctx.group is not None:
        assert ctx.group.institution is not None  # the router answers unlinked groups
        ctx.reply("tg_group_help", institution=ctx.group.institution.name)
        return
    ctx.reply("help")
    roles = await ctx.roles()
    if roles.organiser:
        ctx.reply("help_organiser")
    elif roles.leader_anywhere:
        ctx.reply("help_leader")


async def privacy(ctx: Context, _intent: Privacy) -> None:
    notice = ctx.settings.privacy_notice.strip()
    if notice:
        ctx.reply("privacy", notice=notice)
    else:
        ctx.reply("privacy_default")


async def unlinked_group(ctx: Context, _intent: Intent) -> None:
    """A group not linked to an institution yet: that, and how to link it; nothing else."""
    ctx.reply("tg_group_unlinked")


async def lang(ctx: Context, intent: Lang) -> None:
    code = ALIASES.get(intent.code)
    if code is None or code not in LANGUAGES:
        ctx.reply("lang_unknown")
        return
    ctx.me.language = code
    ctx.reply("lang_set")
