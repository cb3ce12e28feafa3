"""The one routing decision per message: which handler answers an intent, for whom, where.

:func:`route` gathers the facts once (for LOG, who leads what: storage.roles; for a YES / NO /
MAYBE, free text, a tap or RSVP in private, what is open for the person: one read,
storage.conversation.open_state), asks :func:`choose`, and runs the one handler it names; the
handler finds the state on ``ctx.open`` and never asks for it again. :func:`choose` is pure: the
whole precedence is here, in this order (the first rule that applies decides):

1. **A Telegram group** is for its institution's leaders: COMMIT, TURNOUT, COUNT, CHASE, RSVP
   (a card), ACTIONS, HELP and a command's usage are answered there; DIGEST and LINKCODE are
   refused (private only: they show every institution, or give a code away); a tap on a card
   is that person's RSVP (rule 5); anything else said in a group is not for us. A group not
   linked yet gets that explanation and nothing else.
2. **Someone who opted out** is heard only for STOP and START (and their taps on a button): what
   else they write is kept in the organiser inbox, unanswered.
3. **STOP, START, HELP, PRIVACY, LANG, HERE**, and every leader's and organiser's command have
   their own handler, whatever is pending for the person (STOP also stops their listening
   campaigns).
4. **LOG** from someone who leads or organises is their command; from anyone else it is just a
   message (rule 6).
5. **A tap on an RSVP button** answers the action on the button.
6. **YES / NO / MAYBE and free text**, by what is open for the person:

   a. A walk-in's question waits for them ("what is your name?", "which group are you
      with?"): their words (free text, or a YES / NO / MAYBE that is not a tap) answer it ->
      ``walkin.answer``.
   b. A listening step waits for them (a question, or the consent question). A YES / NO /
      MAYBE is still an RSVP when they have an open invitation and the text names its action
      ("YES assembly"), or no consent question is pending, or an invitation came after the
      consent question was asked (a YES answers the latest question asked). Otherwise: the
      campaign has closed -> ``listening.closed``; at the consent step a YES / NO / MAYBE ->
      ``listening.consent``; anything else is the answer -> ``listening.answer``.
   c. A YES or NO when "did you make it?" is the last thing we asked them, within
      scheduler.reminders.FOLLOWUP_WINDOW -> ``followup.answer`` (YES counts them as there).
   d. Any other YES / NO / MAYBE -> ``rsvp.answer`` (their open invitation, or why not).
   e. Free text -> ``inbox.handle`` (kept for an organiser, acknowledged).

``tests/test_router.py`` holds this as a table: each open-state combination and the handler
chosen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.handlers import (
    audit_trail,
    checkin,
    consent,
    followup,
    inbox,
    info,
    leader,
    listening,
    organiser,
    rsvp,
    walkin,
)
from bot.handlers.base import Context, Group
from bot.handlers.grammar import (
    Actions,
    Chase,
    CheckIn,
    Commit,
    Count,
    Digest,
    Help,
    Intent,
    Lang,
    LinkCode,
    Log,
    Other,
    Privacy,
    Rsvp,
    RsvpCard,
    Start,
    Stop,
    Turnout,
    Usage,
)
from scheduler.reminders import ASKING_TEMPLATES, FOLLOWUP_TEMPLATE, FOLLOWUP_WINDOW
from storage import actions
from storage.conversation import NOTHING_OPEN, OpenState, open_state
from storage.listening import is_open

Handler = Callable[[Context, Any], Awaitable[None]]

# Each intent's own handler (rule 3, and the default of rules 5 and 6).
ROUTES: dict[type, Handler] = {
    Rsvp: rsvp.answer,
    CheckIn: checkin.handle,
    Stop: consent.stop,
    Start: consent.start,
    Help: info.help_,
    Privacy: info.privacy,
    Lang: info.lang,
    Commit: leader.commit,
    Count: leader.count,
    Turnout: leader.turnout,
    Chase: leader.chase,
    RsvpCard: rsvp.card,
    Usage: leader.usage,
    Digest: organiser.digest,
    Actions: organiser.list_actions,
    LinkCode: organiser.link_code,
    Log: listening.log,
    Other: inbox.handle,
}
# Rule 1: what a group is for, and what is refused there.
GROUP_INTENTS = (Commit, Count, Turnout, Chase, RsvpCard, Actions, Help, Usage)
PRIVATE_ONLY = (Digest, LinkCode)
# Rule 3: answered whatever is pending for the person (RSVP in private shows their open
# invitations: it reads the open state first).
OWN_ROUTE = (
    Stop,
    Start,
    Help,
    Privacy,
    Lang,
    CheckIn,
    Commit,
    Count,
    Turnout,
    Chase,
    Actions,
    Usage,
    *PRIVATE_ONLY,
)


async def _read_state(_ctx: Context, _intent: Any) -> None:
    """Not a handler: :func:`choose`'s answer when it needs what is open for the person."""
    raise AssertionError("route() reads the open state and chooses again")


READ_STATE: Handler = _read_state


def choose(
    intent: Intent,
    *,
    group: Group | None,
    opted_out: bool,
    leads: bool,
    state: OpenState | None,
    now: datetime,
) -> Handler:
    """The handler for ``intent`` (the precedence in the module docstring), or READ_STATE when
    the answer depends on what is open for the person and ``state`` has not been read."""
    tap = isinstance(intent, Rsvp) and intent.button is not None
    # 1. A group.
    if group is not None and not tap:
        if isinstance(intent, PRIVATE_ONLY):
            return organiser.private_only
        if not isinstance(intent, GROUP_INTENTS):
            return inbox.ignore
        if group.institution is None:
            return info.unlinked_group
        return ROUTES[type(intent)]
    # 2. Opted out.
    if opted_out and not tap and not isinstance(intent, Stop | Start):
        return inbox.keep
    # 3. Their own handler.
    if isinstance(intent, OWN_ROUTE):
        return ROUTES[type(intent)]
    # 4. LOG.
    if isinstance(intent, Log) and leads:
        return ROUTES[Log]
    # 5, 6: what is open for the person decides.
    if state is None:
        return READ_STATE
    if tap or isinstance(intent, RsvpCard):
        return ROUTES[type(intent)]
    answer = intent if isinstance(intent, Rsvp) else None
    if state.pending is not None and isinstance(intent, Rsvp | Other):
        return walkin.answer
    step = state.listening
    if step is not None and not (answer is not None and _means_rsvp(answer, state)):
        if not is_open(step.campaign, now):
            return listening.closed
        if step.asking_consent and answer is not None:
            return listening.consent
        return listening.answer
    if answer is None:
        return ROUTES[Other]
    asked = state.last_question
    if (
        answer.response in ("yes", "no")
        and asked is not None
        and asked.is_recent(FOLLOWUP_TEMPLATE, now, FOLLOWUP_WINDOW)
    ):
        return followup.answer
    return ROUTES[Rsvp]


def _means_rsvp(answer: Rsvp, state: OpenState) -> bool:
    """While a listening step waits: is this YES / NO / MAYBE an RSVP (rule 6a)?"""
    if not state.invitations:
        return False
    if answer.action_hint:
        return any(actions.matches(action, answer.action_hint) for _, action in state.invitations)
    step = state.listening
    if step is None or not step.asking_consent:
        return True
    latest = state.latest_invited_at
    return step.contact.asked_at is None or (latest is not None and latest > step.contact.asked_at)


async def route(ctx: Context, intent: Intent) -> None:
    """Decide (:func:`choose`, reading what it needs once) and run the one handler."""
    person = ctx.person
    leads = isinstance(intent, Log) and (await ctx.roles()).leader_anywhere

    def decide() -> Handler:
        return choose(
            intent,
            group=ctx.group,
            opted_out=person is not None and person.opted_out,
            leads=leads,
            state=ctx.state,
            now=ctx.now,
        )

    handler = decide()
    if handler is READ_STATE:
        ctx.state = (
            NOTHING_OPEN
            if person is None
            else await open_state(ctx.session, person.id, ctx.now, asking=ASKING_TEMPLATES)
        )
        handler = decide()
    await handler(ctx, intent)
    await audit_trail.note(ctx, intent)


def intent_name(intent: Intent) -> str:
    return type(intent).__name__.lower()
