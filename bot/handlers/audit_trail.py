"""What a leader or an organiser does through a conversation (SMS or Telegram, private or a
group) goes in the audit log (storage/audit.py): who, which command, where, and how it ended
(the replies' templates: ``commit_set``, ``commit_not_leader``...). The router calls
:func:`note` after the one handler has run, in the same transaction.

Pledges, headcounts, link codes, logged conversations and RSVP cards are changes; CHASE and
DIGEST read who has not answered and everyone's numbers: those reads are recorded too.
"""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Chase, Commit, Count, Digest, Intent, LinkCode, Log, RsvpCard
from storage import audit

AUDITED = (Commit, Count, Chase, Digest, LinkCode, Log, RsvpCard)


def _action(intent: Intent) -> str | None:
    if isinstance(intent, Count):
        return "headcount" if intent.number is not None else None  # the numbers: not personal
    if isinstance(intent, RsvpCard):
        return "rsvp_card"
    if isinstance(intent, AUDITED):
        return type(intent).__name__.lower()
    return None


async def note(ctx: Context, intent: Intent) -> None:
    action = _action(intent)
    if action is None or ctx.person is None:
        return
    if isinstance(intent, RsvpCard) and ctx.group is None:
        return  # their own invitations again, in private: not a leader's act
    institution = ctx.group.institution if ctx.group is not None else None
    outcomes = [reply.template[:64] for reply in ctx.replies][:5]
    await audit.record(
        ctx.session,
        audit.Actor.of(ctx.person, ctx.channel),
        f"{ctx.channel}_{action}",
        "institution" if institution is not None else "command",
        institution.id if institution is not None else None,
        at=ctx.now,
        details={"group": ctx.group is not None, "outcome": outcomes},
    )
