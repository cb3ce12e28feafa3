"""Reading a command's arguments: which action (by its short name, when more than one is coming
up), which institution (in a private chat with someone who leads several), a number."""

from __future__ import annotations

from sqlalchemy import select

from bot.telegram.turn import Turn
from storage import actions
from storage.models import Action, Institution
from storage.roles import Roles, institutions_led, meant_institutions

MAX_NUMBER = 100_000


def number(tokens: list[str]) -> tuple[int | None, list[str]]:
    """The first token if it is a whole number (``40``), and the other tokens."""
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if tokens and tokens[0].isdecimal() and len(tokens[0]) <= 6:
        value = int(tokens[0])
        if value <= MAX_NUMBER:
            return value, tokens[1:]
    return None, tokens


async def pick_action(
    turn: Turn,
    tokens: list[str],
    *,
    command: str,
    example_args: str = "",
    candidates: list[Action] | None = None,
) -> tuple[Action | None, list[str]]:
    """The action a command is about: the one named by its short name, or the only one coming
    up. Otherwise says which short names there are and returns None. Also returns the tokens
    that were not an action's name."""
    if candidates is None:
        candidates = await actions.upcoming(turn.session, turn.now)
    slugs = {a.slug.lower(): a for a in candidates}
    named = [slugs[t.lower()] for t in tokens if t.lower() in slugs]
    rest = [t for t in tokens if t.lower() not in slugs]
    if len(named) == 1:
        return named[0], rest
    if not candidates:
        turn.say("tg_no_action")
        return None, rest
    if len(candidates) == 1 and not named:
        return candidates[0], rest
    example = " ".join(part for part in (f"/{command}", example_args, candidates[0].slug) if part)
    turn.say("tg_which_action", example=example, slugs=", ".join(a.slug for a in candidates))
    return None, rest


async def pick_own_institutions(turn: Turn, roles: Roles, hint: str) -> list[Institution]:
    """In a private chat: the institutions a leader means (all they lead, or the one named;
    storage.roles.meant_institutions). A name they do not lead is asked about again, with the
    names they do."""
    led = await institutions_led(turn.session, roles)
    chosen = meant_institutions(roles, led, hint)
    if hint.strip() and not chosen:
        turn.say("tg_which_institution", institutions=", ".join(i.name for i in led[:20]))
    return chosen


async def institution(turn: Turn, institution_id: int) -> Institution:
    found = await turn.session.scalar(select(Institution).where(Institution.id == institution_id))
    assert found is not None
    return found
