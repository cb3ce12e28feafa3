"""Organisers (and leaders, where said), in private, in every channel: DIGEST (today's numbers
across every institution: a table and a chart per action where the channel shows them, the
compact SMS digest where it does not), ACTIONS (what is coming up, with the short names the
other commands take) and LINKCODE (one-time Telegram link codes: an institution's name for its
group, a phone number for a person). The digest and the codes never go to a group."""

from __future__ import annotations

from bot.handlers.base import Attachment, Context, unknown_caller
from bot.handlers.grammar import Actions, Digest, Intent, LinkCode
from config.messages import format_when
from config.phones import BadPhone, mask_phone, normalise_phone
from scheduler.digest.build import build_digest, local_day
from scheduler.digest.chart import render_chart
from scheduler.digest.render import render_sms, render_text, short_day
from storage import actions
from storage.institutions import find_institution
from storage.people import person_by_phone
from storage.roles import may_see
from storage.telegram import DEFAULT_CODE_TTL, create_link_code

MAX_ACTIONS = 20
# A number with this many digits is a person's phone, not an institution's name.
PHONE_DIGITS = 6


async def private_only(ctx: Context, _intent: Intent) -> None:
    """DIGEST or LINKCODE in a group: it shows every institution, or gives a code away."""
    ctx.reply("tg_private_only")


async def digest(ctx: Context, _intent: Digest) -> None:
    if ctx.person is None:
        unknown_caller(ctx)
        return
    if not (await ctx.roles()).organiser:
        ctx.reply("organisers_only")
        return
    built = await build_digest(ctx.session, ctx.settings, ctx.now)
    day = local_day(ctx.now, ctx.settings.default_timezone)
    date = short_day(day)
    if not ctx.rich:
        ctx.reply("digest", date=date, body=render_sms(built))
        return
    # A fixed-width table: the Telegram channel sends "digest" rows as <pre>.
    ctx.reply("digest", date=date, body=render_text(built))
    for item in built.actions:
        if not any(r.committed or r.confirmed for r in item.rollup.rows):
            continue
        ctx.reply(
            "digest_chart",
            attachment=Attachment(
                filename=f"turnout-{item.action.slug}-{day.isoformat()}.png",
                content_type="image/png",
                data=render_chart(item),
            ),
            title=item.action.title,
            date=date,
        )


async def list_actions(ctx: Context, _intent: Actions) -> None:
    if ctx.person is None:
        unknown_caller(ctx)
        return
    if not (await ctx.roles()).leader_anywhere:
        ctx.reply("not_leader")
        return
    upcoming = await actions.upcoming(ctx.session, ctx.now)
    if not upcoming:
        ctx.reply("no_action")
        return
    lines = [
        ctx.text("action_line", slug=a.slug, title=a.title, when=ctx.when(a), place=a.place)
        for a in upcoming[:MAX_ACTIONS]
    ]
    ctx.reply("actions", lines="\n".join(lines))


async def link_code(ctx: Context, intent: LinkCode) -> None:
    """``LINKCODE St Mary`` (organisers: a code for the institution's group) or ``LINKCODE
    07700 900123`` (a code for that person; a leader only for their own people: anyone else
    gets the answer an unknown number gets)."""
    if ctx.person is None:
        unknown_caller(ctx)
        return
    roles = await ctx.roles()
    if not roles.leader_anywhere:
        ctx.reply("not_leader")
        return
    arg = intent.arg.strip()
    if not arg:
        ctx.reply("linkcode_usage")
        return
    expires = format_when(ctx.now + DEFAULT_CODE_TTL, ctx.language, ctx.timezone)
    if sum(ch.isdigit() for ch in arg) >= PHONE_DIGITS:
        try:
            phone = normalise_phone(arg, ctx.settings.default_region)
        except BadPhone:
            ctx.reply("linkcode_no_person")
            return
        person = await person_by_phone(ctx.session, phone)
        if person is None or not await may_see(ctx.session, roles, person):
            ctx.reply("linkcode_no_person")
            return
        code, _ = await create_link_code(
            ctx.session, kind="person", person_id=person.id, created_by_id=ctx.me.id, now=ctx.now
        )
        ctx.reply(
            "linkcode_person",
            name=person.name or mask_phone(person.phone),
            code=code,
            expires=expires,
            link=ctx.link(code),
        )
        return
    if not roles.organiser:
        ctx.reply("organisers_only")
        return
    match = await find_institution(ctx.session, arg, include_former=False)
    inst = match.found
    if inst is None:
        if match.candidates:
            ctx.reply("linkcode_which_institution", name=arg, names=match.names())
        else:
            ctx.reply("linkcode_no_institution", name=arg)
        return
    code, _ = await create_link_code(
        ctx.session,
        kind="group",
        institution_id=inst.id,
        created_by_id=ctx.me.id,
        now=ctx.now,
        ttl=DEFAULT_CODE_TTL,
    )
    ctx.reply("linkcode_group", institution=inst.name, code=code, expires=expires)
