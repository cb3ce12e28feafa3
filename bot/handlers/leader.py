"""A leader's COMMIT 40 and COUNT, for their own institution and the next action. Which
institutions a leader (or an organiser) may act on is storage.roles' rule, as on Telegram."""

from __future__ import annotations

from bot.handlers.base import Context
from bot.handlers.grammar import Commit, Count
from scheduler.actions import commit as commit_to
from storage import actions
from storage.models import Institution
from storage.roles import Roles, institutions_led, meant_institutions, roles_of
from storage.rollup import action_rollup


async def _own(ctx: Context) -> tuple[Roles, list[Institution]]:
    """The sender's roles and the institutions they may act on (none: not a leader)."""
    roles = await roles_of(ctx.session, ctx.person)
    if not roles.leader_anywhere:
        return roles, []
    return roles, await institutions_led(ctx.session, roles)


async def commit(ctx: Context, intent: Commit) -> None:
    roles, led = await _own(ctx)
    if not led:
        ctx.reply("commit_not_leader")
        return
    upcoming = await actions.upcoming(ctx.session, ctx.now)
    if not upcoming:
        ctx.reply("commit_no_action")
        return
    chosen = meant_institutions(roles, led, intent.institution_hint)
    if len(chosen) != 1:
        choices = meant_institutions(roles, led, "") or led
        ctx.reply(
            "commit_which",
            institutions=", ".join(i.name for i in choices),
            number=intent.number,
            example=choices[0].name.split()[0],
        )
        return
    institution = chosen[0]
    action = actions.pick(upcoming, "")
    assert action is not None
    await commit_to(
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
    roles, led = await _own(ctx)
    if not led:
        ctx.reply("count_not_leader")
        return
    upcoming = await actions.upcoming(ctx.session, ctx.now)
    if not upcoming:
        ctx.reply("commit_no_action")
        return
    chosen = meant_institutions(roles, led, intent.institution_hint)
    institution = (chosen or meant_institutions(roles, led, "") or led)[0]
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
