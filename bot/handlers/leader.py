"""A leader's COMMIT 40 and COUNT, for their own institution and the next action."""

from __future__ import annotations

from bot.handlers import actions
from bot.handlers.base import Context
from bot.handlers.grammar import Commit, Count
from storage.commitments import led_institutions, set_commitment
from storage.institutions import match_institution
from storage.rollup import action_rollup


async def commit(ctx: Context, intent: Commit) -> None:
    led = await led_institutions(ctx.session, ctx.person.id)
    if not led:
        ctx.reply("commit_not_leader")
        return
    upcoming = await actions.upcoming(ctx.session, ctx.now)
    if not upcoming:
        ctx.reply("commit_no_action")
        return
    institution = match_institution(led, intent.institution_hint).found
    if institution is None:
        ctx.reply(
            "commit_which",
            institutions=", ".join(i.name for i in led),
            number=intent.number,
            example=led[0].name.split()[0],
        )
        return
    action = actions.pick(upcoming, "")
    assert action is not None
    await set_commitment(
        ctx.session,
        action_id=action.id,
        institution_id=institution.id,
        number=intent.number,
        set_by_id=ctx.person.id,
        channel=ctx.channel,
        now=ctx.now,
    )
    ctx.reply("commit_set", institution=institution.name, number=intent.number, title=action.title)


async def count(ctx: Context, intent: Count) -> None:
    led = await led_institutions(ctx.session, ctx.person.id)
    if not led:
        ctx.reply("count_not_leader")
        return
    upcoming = await actions.upcoming(ctx.session, ctx.now)
    if not upcoming:
        ctx.reply("commit_no_action")
        return
    institution = match_institution(led, intent.institution_hint).found or led[0]
    action = upcoming[0]
    rollup = await action_rollup(ctx.session, action, institution_id=institution.id)
    row = rollup.row_for(institution.id)
    ctx.reply(
        "count",
        institution=institution.name,
        title=action.title,
        committed="-" if row.committed is None else row.committed,
        yes=row.yes,
        guests=row.guests,
        maybe=row.maybe,
        no=row.no,
        waiting=row.not_replied,
        attended=row.attended,
    )
