"""Dedupe keys: the unique ``outbox.dedupe_key`` of every message, one small function per kind.

Writing a row whose key exists is a no-op (storage/outbox.py), so the key *is* the rule for
what may be sent only once: a retried webhook, a second planning run, a restarted or second
worker finds the key taken. Every key is made here, never spelled out elsewhere, so two writers
of the same message cannot drift apart (an invitation from ``turnout invite`` and one from a
listening theme share :func:`invite`). Changing a format here changes what counts as "already
sent" for rows written before: keep old formats working or migrate them.

The families:

* ``reply:<inbound>:<n>``: the n-th reply to an inbound text (SMS, Telegram);
* ``tg:<update>:<n>``, ``tg:<update>:answer``: replies to a Telegram update, its callback answer;
* ``<key>:intro``: who is texting, before a person's first message;
* ``invite:<action>:<person>`` (``...:r<revision>``: sent again after a change);
* ``reminder:<step>:<action>:r<revision>:<person>``: a step of the reminder ladder;
* ``moved:<action>:r<revision>:<person>``, ``cancelled:...``: the notice of a change;
* ``digest:<day>:<person>`` (``...:chart:<action>``): an organiser's digest, and its charts;
* ``nudge:<day>:<institution>:<person>``: a leader's daily nudge;
* ``listen:<campaign>:<person>:q0`` / ``...:nudge``: a campaign's first question, its one nudge;
* ``listen-report:<campaign>:<person>:<round>``: a campaign's report-back;
* ``signin:<code>``: a console sign-in code;
* ``check:<day>:<action>:<person>``: a leader's "are you coming?" nudge from their link page,
  at most one a day per person and action, whichever leader asks;
* ``report-back:<action>:<person>``: after an action, how many came and what was promised.
* ``inbox-reply:<inbound>:<digest>``: a reply written in the console's inbox.
"""

from __future__ import annotations

import hashlib
from datetime import date


def reply(inbound_id: int, n: int) -> str:
    """The ``n``-th reply (from 0) to a stored inbound text."""
    return f"reply:{inbound_id}:{n}"


def telegram_reply(update_id: int, n: int) -> str:
    """The ``n``-th reply (from 0) to a Telegram update."""
    return f"tg:{update_id}:{n}"


def telegram_answer(update_id: int) -> str:
    """The callback answer to a Telegram update (given inline, in the webhook's response)."""
    return f"tg:{update_id}:answer"


def intro(key: str) -> str:
    """The introduction written before the message ``key`` to someone never introduced."""
    return f"{key}:intro"


def invite(action_id: int, person_id: int) -> str:
    """The invitation to an action: one per person, whoever invites (``turnout invite``, a
    listening theme)."""
    return f"invite:{action_id}:{person_id}"


def invite_prefix(action_id: int) -> str:
    """What every invitation key of an action starts with (re-sent ones included)."""
    return f"invite:{action_id}:"


def reinvite(action_id: int, revision: int, person_id: int) -> str:
    """An invitation not yet sent when the action changed, sent again with the new details."""
    return f"{invite(action_id, person_id)}:r{revision}"


def reminder_prefix(step: str, action_id: int, revision: int) -> str:
    """What the keys of one ladder step of one revision of an action start with; the person's
    id follows (the planner's anti-join appends it in SQL)."""
    return f"reminder:{step}:{action_id}:r{revision}:"


def reminder(step: str, action_id: int, revision: int, person_id: int) -> str:
    """A step of the reminder ladder (scheduler/reminders.py), per revision of the action."""
    return f"{reminder_prefix(step, action_id, revision)}{person_id}"


def moved(action_id: int, revision: int, person_id: int) -> str:
    """The notice that an action moved (time or place), once per change."""
    return f"moved:{action_id}:r{revision}:{person_id}"


def cancelled(action_id: int, revision: int, person_id: int) -> str:
    """The notice that an action is called off."""
    return f"cancelled:{action_id}:r{revision}:{person_id}"


def digest(day: date, person_id: int) -> str:
    """An organiser's daily digest for their local ``day``."""
    return f"digest:{day.isoformat()}:{person_id}"


def digest_chart(digest_key: str, action_id: int) -> str:
    """The chart of one action that follows the digest ``digest_key`` on Telegram."""
    return f"{digest_key}:chart:{action_id}"


def leader_nudge(day: date, institution_id: int, person_id: int) -> str:
    """A leader's daily nudge about one institution they lead."""
    return f"nudge:{day.isoformat()}:{institution_id}:{person_id}"


def listening_prefix(campaign_id: int) -> str:
    """What the keys of a campaign's questions and nudges start with."""
    return f"listen:{campaign_id}:"


def listening_first(campaign_id: int, person_id: int) -> str:
    """A campaign's first question to a person (the later ones are replies to their answers)."""
    return f"{listening_prefix(campaign_id)}{person_id}:q0"


def listening_nudge(campaign_id: int, person_id: int) -> str:
    """The one nudge a person gets in a campaign."""
    return f"{listening_prefix(campaign_id)}{person_id}:nudge"


def listening_report(campaign_id: int, person_id: int, round_: int) -> str:
    """A campaign's "here is what we heard" message, per round."""
    return f"listen-report:{campaign_id}:{person_id}:{round_}"


def sign_in_code(code_id: int) -> str:
    """A console sign-in code, sent to the person's own channel."""
    return f"signin:{code_id}"


def chase_nudge(day: date, action_id: int, person_id: int) -> str:
    """A leader's "are you coming?" from their link page: one a day per person and action
    (``day``: the person's local day), whichever leader presses the button."""
    return f"check:{day.isoformat()}:{action_id}:{person_id}"


def report_back(action_id: int, person_id: int) -> str:
    """After an action, to each person who came: how many came and what was promised. Once."""
    return f"report-back:{action_id}:{person_id}"


def inbox_reply(inbound_id: int, body: str) -> str:
    """A reply written in the console's inbox to the stored text ``inbound_id``: the same
    words to the same text once (a form sent twice), different words a new message."""
    digest = hashlib.sha256(" ".join(body.split()).encode()).hexdigest()[:16]
    return f"inbox-reply:{inbound_id}:{digest}"
