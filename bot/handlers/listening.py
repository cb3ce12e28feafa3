"""Listening: answers to campaign questions, the consent step, and the leaders' LOG.

The router decides when a text belongs here (bot/handlers/router.py has the whole precedence):
a listening step is waiting for the person (Context.open.listening, read once by the router)
and the text is not an RSVP to an open invitation. Then:

* the campaign has closed: the text is kept in the organiser inbox and answered with
  ``listening_closed`` (:func:`closed`);
* at the consent step, YES / NO / MAYBE is the consent (:func:`consent`);
* anything else is the answer to the question (:func:`answer`), and the next question (or the
  consent question) is the reply. A second text within the campaign's ``join_seconds`` of an
  answer continues that answer (people split a long answer over several texts; Twilio already
  joins the parts of one long SMS). More to say at the consent step is kept with the answers
  and consent is asked again.

``LOG`` (:func:`log`) is a leader's or an organiser's command, whatever is pending for them.
"""

from __future__ import annotations

from datetime import timedelta

import phonenumbers
from sqlalchemy import func, select

from bot.handlers.base import Context
from bot.handlers.grammar import Intent, Log, Rsvp
from config.phones import find_phone
from config.text import normalise
from storage.conversation import ListeningStep
from storage.listening import (
    ListeningError,
    append_to_answer,
    campaign_questions,
    follow_up_by,
    get_contact,
    is_open,
    latest_answer,
    log_conversation,
    record_answer,
    record_follow_up,
    set_consent,
    step_draft,
)
from storage.models import ListeningCampaign, ListeningContact, Person
from storage.people import new_person, person_by_phone
from storage.roles import Roles, sees, sees_in_listening


def _step(ctx: Context) -> ListeningStep:
    step = ctx.open.listening
    assert step is not None, "the router sends a text here only while a step is waiting"
    return step


async def closed(ctx: Context, _intent: Intent) -> None:
    """A reply after the campaign closed: kept (it lands in the inbox), answered clearly, once."""
    _step(ctx).contact.status = "expired"
    ctx.keep_for_organiser()
    ctx.reply("listening_closed")


async def consent(ctx: Context, intent: Rsvp) -> None:
    contact = _step(ctx).contact
    who = await follow_up_by(ctx.session, ctx.me, ctx.alliance)
    if intent.response == "maybe":
        ctx.reply("listening_consent", who=who)
        return
    set_consent(contact, "yes" if intent.response == "yes" else "no", ctx.now)
    contact.status = "done"
    contact.channel = ctx.channel
    if contact.consent == "yes":
        ctx.reply("listening_consent_yes", who=who)
    else:
        ctx.reply("listening_consent_no")


async def answer(ctx: Context, _intent: Intent) -> None:
    step = _step(ctx)
    contact, campaign = step.contact, step.campaign
    assert ctx.inbound is not None  # an answer is a stored message
    body = ctx.inbound.body
    contact.channel = ctx.channel
    if await _continues_last_answer(ctx, contact, campaign, body):
        return
    questions = await campaign_questions(ctx.session, campaign.id)
    # At the consent step, more to say instead of YES / NO is kept with the last answers.
    question = questions[-1] if step.asking_consent else questions[contact.step]
    await record_answer(
        ctx.session,
        campaign_id=campaign.id,
        person=ctx.me,
        body=body,
        source=ctx.channel,
        now=ctx.now,
        question_id=question.id,
        inbound_id=ctx.inbound.id,
        contact=contact,
    )
    if step.asking_consent:
        who = await follow_up_by(ctx.session, ctx.me, ctx.alliance)
        ctx.reply("listening_consent_retry", who=who)
        return
    contact.step += 1
    contact.asked_at = ctx.now
    draft = await step_draft(
        ctx.session, ctx.me, contact, ctx.alliance, template="listening_next", questions=questions
    )
    ctx.reply(draft.template, **draft.params)


async def _continues_last_answer(
    ctx: Context, contact: ListeningContact, campaign: ListeningCampaign, body: str
) -> bool:
    last = contact.last_answer_at
    if campaign.join_seconds <= 0 or last is None or contact.asked_at is None:
        return False
    if ctx.now - last > timedelta(seconds=campaign.join_seconds) or contact.asked_at < last:
        return False
    answer = await latest_answer(ctx.session, campaign.id, ctx.me.id)
    if answer is None or answer.source not in ("sms", "telegram"):
        return False
    await append_to_answer(ctx.session, answer, body, ctx.now)
    return True


# -- LOG: leaders and organisers record face-to-face listening and follow-ups ------------------


async def log(ctx: Context, intent: Log) -> None:
    """``LOG DOORSTEP 07700 900123 YES: worried about the damp, kids keep getting ill``;
    ``LOG 121 Ann Patel: ...``; ``LOG FOLLOWUP Ann Patel: met for coffee`` (the grammar reads
    the kind, who, the consent word and the notes).

    Who may be named is storage.roles' rule: by name, the people of the sender's institutions
    (an organiser: anyone); by number, also the people the sender recorded themselves. A
    conversation with a number we do not know makes a new person, listened to face to face and
    never opted in to texts. A number the sender may not see is answered exactly as an unknown
    one: a conversation is recorded against that person (what they said belongs with them; the
    consent they gave themselves stands), a follow-up is "not found"."""
    if not intent.complete:
        ctx.reply("listening_log_help")
        return
    roles = await ctx.roles()
    who, notes, consent_ = intent.who, intent.notes, intent.consent
    if intent.follow_up:
        await _log_follow_up(ctx, who, notes, roles)
        return
    campaign = await _open_campaign(ctx)
    if campaign is None:
        ctx.reply("listening_log_no_campaign")
        return
    person = await _met(ctx, who, roles)
    if person is None:
        ctx.reply("listening_log_who", who=who or "-")
        return
    if consent_ is not None and not await _in_sight(ctx, roles, person, campaign):
        contact = await get_contact(ctx.session, campaign.id, person.id)
        if contact is not None and contact.consent is not None:
            consent_ = None  # their own answer stands: the sender may not see them
    try:
        await log_conversation(
            ctx.session,
            campaign=campaign,
            person=person,
            notes=notes,
            kind=intent.kind,
            now=ctx.now,
            recorded_by_id=ctx.me.id,
            consent=consent_,
        )
    except ListeningError:
        ctx.reply("listening_log_who", who=who)
        return
    # The reply repeats what the leader typed: it never reveals a stored name or number.
    ctx.reply("listening_log_ok", name=who, campaign=campaign.title)


async def _log_follow_up(ctx: Context, who: str, notes: str, roles: Roles) -> None:
    person = await _named(ctx, who, roles)
    campaign = None if person is None else await _listened_in(ctx, person, roles)
    if person is None or campaign is None:
        # Unknown, out of the sender's sight, or never listened to: one answer for all three.
        ctx.reply("listening_log_who", who=who or "-")
        return
    await record_follow_up(
        ctx.session,
        campaign=campaign,
        person=person,
        now=ctx.now,
        by=ctx.me,
        note=notes,
        channel=ctx.channel,
    )
    ctx.reply("listening_followup_ok", name=who, campaign=campaign.title)


async def _met(ctx: Context, who: str, roles: Roles) -> Person | None:
    """The person a conversation was with: by number (anyone; a new person for a number we
    do not know), or by name among the people the sender may see."""
    found = find_phone(who, _region(ctx.me))
    if found is None:
        return await _by_name(ctx, who, roles)
    phone, start, end = found
    person = await person_by_phone(ctx.session, phone)
    if person is None:
        person = new_person(
            phone=phone,
            name=" ".join((who[:start] + who[end:]).split()),
            language=ctx.me.language,
            timezone=ctx.me.timezone,
            # Met at the door: listened to, never asked to receive texts.
            consent="unknown",
            consent_source="face_to_face",
            now=ctx.now,
        )
        ctx.session.add(person)
        await ctx.session.flush()
    return person


async def _named(ctx: Context, who: str, roles: Roles) -> Person | None:
    """An existing person the sender may name: by number (storage.roles.sees_in_listening:
    checked per campaign by _listened_in), or by name (storage.roles.sees)."""
    found = find_phone(who, _region(ctx.me))
    if found is None:
        return await _by_name(ctx, who, roles)
    return await person_by_phone(ctx.session, found[0])


async def _by_name(ctx: Context, who: str, roles: Roles) -> Person | None:
    """The one person the sender may see whose name is ``who`` (or starts with it)."""
    wanted = normalise(who)
    if not wanted:
        return None
    query = select(Person).where(sees(roles, Person.id))
    if roles.organiser:
        query = query.where(func.lower(Person.name).contains(who.split()[0].lower()))
    candidates = [
        p
        for p in await ctx.session.scalars(query.limit(5000))
        if normalise(p.name) == wanted or normalise(p.name).startswith(wanted + " ")
    ]
    return candidates[0] if len(candidates) == 1 else None


async def _in_sight(
    ctx: Context, roles: Roles, person: Person, campaign: ListeningCampaign
) -> bool:
    return bool(await ctx.session.scalar(select(sees_in_listening(roles, person.id, campaign.id))))


def _region(person: Person) -> str:
    if person.phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(person.phone))
        except phonenumbers.NumberParseException:
            region = None
        if region:
            return str(region)
    return "GB"


async def _open_campaign(ctx: Context) -> ListeningCampaign | None:
    campaigns = await ctx.session.scalars(
        select(ListeningCampaign)
        .where(ListeningCampaign.status == "open")
        .order_by(ListeningCampaign.starts_at.desc(), ListeningCampaign.id.desc())
    )
    return next((c for c in campaigns if is_open(c, ctx.now)), None)


async def _listened_in(ctx: Context, person: Person, roles: Roles) -> ListeningCampaign | None:
    """The latest campaign the person was listened to in, among those where the sender may
    see them (their institution's person: any; someone they recorded: where they did)."""
    contact = ListeningContact
    result: ListeningCampaign | None = await ctx.session.scalar(
        select(ListeningCampaign)
        .join(contact, contact.campaign_id == ListeningCampaign.id)
        .where(contact.person_id == person.id)
        .where(contact.first_answer_at.is_not(None))
        .where(sees_in_listening(roles, contact.person_id, contact.campaign_id))
        .order_by(contact.first_answer_at.desc())
        .limit(1)
    )
    return result
