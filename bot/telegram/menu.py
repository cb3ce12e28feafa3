"""The bot's command menus (setMyCommands), per chat type and language: what a person sees
when they type "/". Descriptions are templates (tg_cmd_*) like every other text."""

from __future__ import annotations

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats

from config.messages import render

PRIVATE = [
    ("start", "tg_cmd_start"),
    ("rsvp", "tg_cmd_rsvp"),
    ("yes", "tg_cmd_yes"),
    ("no", "tg_cmd_no"),
    ("maybe", "tg_cmd_maybe"),
    ("here", "tg_cmd_here"),
    ("help", "tg_cmd_help"),
    ("privacy", "tg_cmd_privacy"),
    ("lang", "tg_cmd_lang"),
    ("stop", "tg_cmd_stop"),
    ("link", "tg_cmd_link"),
    ("turnout", "tg_cmd_turnout"),
    ("chase", "tg_cmd_chase"),
    ("commit", "tg_cmd_commit"),
    ("count", "tg_cmd_count"),
    ("actions", "tg_cmd_actions"),
    ("digest", "tg_cmd_digest"),
    ("linkcode", "tg_cmd_linkcode"),
]
GROUPS = [
    ("rsvp", "tg_cmd_rsvp_group"),
    ("turnout", "tg_cmd_turnout"),
    ("chase", "tg_cmd_chase"),
    ("commit", "tg_cmd_commit"),
    ("count", "tg_cmd_count"),
    ("link", "tg_cmd_link"),
    ("help", "tg_cmd_help"),
]
SCOPES = [(BotCommandScopeAllPrivateChats(), PRIVATE), (BotCommandScopeAllGroupChats(), GROUPS)]


def commands(menu: list[tuple[str, str]], language: str, alliance: str) -> list[BotCommand]:
    return [BotCommand(name, render(key, language, alliance=alliance)) for name, key in menu]
