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
    }
)


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
