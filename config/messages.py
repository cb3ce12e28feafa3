"""Message templates: data in ``config/messages/<lang>.toml``, rendered here.

``render("rsvp_yes", "cy", name="Ann", ...)`` returns the Welsh text, falling back to English for
an unknown language. A missing placeholder raises (a bug, caught by the template tests).
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from config.settings import LANGUAGES

MESSAGES_DIR = Path(__file__).resolve().parent / "messages"

# Templates that say who is texting, why, and how to stop: a person's first message is one of
# these, or is preceded by "intro" (see storage.outbox.enqueue).
INTRODUCES = frozenset({"intro", "welcome_unknown", "invite", "help", "stop_confirm"})
# Templates people outside the organising team receive by SMS: each must fit one GSM-7 segment.
RESIDENT_FACING = frozenset(
    {
        "intro",
        "welcome_unknown",
        "invite",
        "help",
        "rsvp_yes",
        "rsvp_yes_guests",
        "rsvp_maybe",
        "rsvp_no",
        "rsvp_closed",
        "rsvp_no_invitation",
        "rsvp_not_invited",
        "rsvp_card",
        "checkin_ok",
        "checkin_already",
        "checkin_none",
        "stop_confirm",
        "start_confirm",
        "lang_set",
        "lang_unknown",
        "inbox_ack",
        # Reminder ladder and action changes (scheduler/reminders.py, scheduler/actions.py).
        "still_coming",
        "still_maybe",
        "nudge",
        "day_of",
        "day_of_plain",
        "did_you_make_it",
        "followup_yes",
        "followup_no",
        "thanks_committed",
        "thanks_institution",
        "thanks",
        "action_moved",
        "action_cancelled",
        # Listening (bot/handlers/listening.py, scheduler/listening.py).
        "listening_question",
        "listening_next",
        "listening_nudge",
        "listening_consent",
        "listening_consent_retry",
        "listening_consent_yes",
        "listening_consent_no",
        "listening_closed",
        "listening_report",
        "listening_theme_invite",
        # The console's sign-in code (bot/web/auth.py): leaders get it by SMS too.
        "signin_code",
        # Assembly day and after (scheduler/leader_links.py, bot/handlers/walkin.py,
        # scheduler/promises.py). The full report-back carries the promises' words: not here.
        "leader_check",
        "walkin_name",
        "walkin_group",
        "walkin_group_again",
        "walkin_done",
        "walkin_done_none",
        "report_back_none",
    }
)


# The same message in Telegram's words, where they differ from an SMS's: a command is written
# with a slash (/count, not COUNT), the numbers are a small table, the action's short name is
# shown. A handler replies with the key on the left (what it means); a Telegram chat gets the
# template on the right (config.messages.channel_template). Keys not listed read the same in
# every channel. Group-only messages (there are no SMS groups) are Telegram's own templates.
TELEGRAM_WORDS = {
    "commit_set": "tg_commit_set",
    "commit_which": "tg_which_institution",
    "commit_no_action": "tg_no_action",
    "commit_not_leader": "tg_leaders_only_dm",
    "commit_usage": "tg_commit_usage",
    "count": "tg_turnout",
    "count_not_leader": "tg_leaders_only_dm",
    "count_set": "tg_count_set",
    "count_not_yet": "tg_count_not_yet",
    "count_usage": "tg_count_usage",
    "which_institution": "tg_which_institution",
    "which_action": "tg_which_action",
    "no_action": "tg_no_action",
    "chase": "tg_chase",
    "chase_more": "tg_chase_more",
    "chase_none": "tg_chase_none",
    "rsvp_card": "tg_rsvp_dm",
    "actions": "tg_actions",
    "action_line": "tg_action_line",
    "not_leader": "tg_leaders_only_dm",
    "organisers_only": "tg_organisers_only",
    "help_leader": "tg_help_leader",
    "help_organiser": "tg_help_organiser",
    "linkcode_usage": "tg_linkcode_usage",
    "linkcode_group": "tg_linkcode_group",
    "linkcode_person": "tg_linkcode_person",
    "linkcode_no_person": "tg_linkcode_no_person",
    "linkcode_no_institution": "tg_linkcode_no_institution",
    "linkcode_which_institution": "tg_linkcode_which_institution",
}
CHANNEL_WORDS = {"telegram": TELEGRAM_WORDS}


def channel_template(key: str, channel: str) -> str:
    """The template that says ``key`` in ``channel`` (:data:`TELEGRAM_WORDS`)."""
    return CHANNEL_WORDS.get(channel, {}).get(key, key)


@dataclass(frozen=True)
class Catalogue:
    language: str
    templates: dict[str, str]
    days: list[str]
    months: list[str]
    when: str
    language_name: str


@cache
def catalogue(language: str) -> Catalogue:
    if language not in LANGUAGES:
        language = "en"
    data = tomllib.loads((MESSAGES_DIR / f"{language}.toml").read_text(encoding="utf-8"))
    cal = data["calendar"]
    return Catalogue(
        language=language,
        templates=dict(data["templates"]),
        days=list(cal["days"]),
        months=list(cal["months"]),
        when=cal["when"],
        language_name=cal["language_name"],
    )


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def render(key: str, language: str, **params: Any) -> str:
    template = catalogue(language).templates.get(key)
    if template is None:
        template = catalogue("en").templates[key]
    return template.format(**params)


def format_when(moment: datetime, language: str, timezone: str) -> str:
    """A short local date and time in the person's language and time zone."""
    cat = catalogue(language)
    local = moment.astimezone(ZoneInfo(timezone))
    return cat.when.format(
        day=cat.days[local.weekday()],
        date=local.day,
        month=cat.months[local.month - 1],
        time=local.strftime("%H:%M"),
    )
