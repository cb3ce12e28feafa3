"""Listening replies: answers to campaign questions, the consent step, and the leaders' LOG.

``intercept`` runs before the normal routes (bot.handlers.dispatch) and returns True when it
took the message. Precedence, for a person with a listening step awaiting their answer:

1. STOP, START, HELP and LANG always keep their own routes. STOP also stops every campaign
   waiting on the person, for good (nothing more is asked, no nudge).
2. ``LOG ...`` from a leader or organiser is their command (a face-to-face conversation or a
   follow-up), whatever is pending for them.
3. A YES / NO / MAYBE goes to the RSVP route when the person has an open invitation and either
   names its action ("YES assembly") or no consent question is pending. At the consent step a
   bare YES / NO is the consent answer, unless an invitation arrived after the consent
   question (a YES answers the latest question asked).
4. Free text, and a YES / NO-like text with no open invitation to answer ("No buses after 7"),
   is the answer to the pending question. HERE, COMMIT and COUNT keep their routes.

The next question (or the consent question) is the reply to an answer. A second text within
the campaign's ``join_seconds`` of an answer continues that answer (people split a long answer
over several texts; Twilio already joins the parts of one long SMS). A reply after the campaign
closed is kept in the organiser inbox and answered with ``listening_closed``.
"""

from __future__ import annotations

import re
from datetime import timedelta

import phonenumbers
from sqlalchemy import func, select

from bot.handlers.base import Context
from bot.handlers.grammar import Help, Intent, Lang, Other, Rsvp, Start, Stop
from config.phones import find_phone
from config.text import normalise
from storage import actions
from storage.listening import (
    ListeningError,
    append_to_answer,
    campaign_questions,
    follow_up_by,
    get_contact,
    is_open,
    latest_answer,
    log_conversation,
    pending_contact,
    record_answer,
    record_follow_up,
    set_consent,
    step_draft,
    stop_contacts,
)
from storage.models import ListeningCampaign, ListeningContact, Person
from storage.people import new_person, person_by_phone
from storage.roles import Roles, roles_of, sees, sees_in_listening


async def intercept(ctx: Context, intent: Intent) -> bool:
    """Handle ``intent`` if it belongs to listening; False lets the normal routes run."""
    if isinstance(intent, Stop):
        await stop_contacts(ctx.session, ctx.person.id)
        return False
    if ctx.person.opted_out or isinstance(intent, Start | Help | Lang):
        return False
    if isinstance(intent, Other) and LOG.match(intent.text):
        roles = await roles_of(ctx.session, ctx.person)
        if roles.leader_anywhere:
            await log_command(ctx, intent.text, roles)
            return True
    if not isinstance(intent, Rsvp | Other):
        return False
    found = await pending_contact(ctx.session, ctx.person.id, ctx.now)
    if found is None:
        return False
    contact, campaign = found
    questions = await campaign_questions(ctx.session, campaign.id)
    consent_step = contact.step >= len(questions)
    if isinstance(intent, Rsvp) and await _means_rsvp(ctx, intent, contact, consent_step):
        return False
    if not is_open(campaign, ctx.now):
        # Kept (the message is stored, and lands in the inbox), answered clearly, once.
        contact.status = "expired"
        ctx.inbound.inbox_status = "open"
        ctx.reply("listening_closed")
        return True
    if consent_step and isinstance(intent, Rsvp):
        await _consent(ctx, contact, intent.response)
        return True
    body = ctx.inbound.body
    contact.channel = ctx.channel
    if await _continues_last_answer(ctx, contact, campaign, body):
        return True
    # At the consent step, more to say instead of YES / NO is kept with the last answers.
    question = questions[-1] if consent_step else questions[contact.step]
    await record_answer(
        ctx.session,
        campaign_id=campaign.id,
        person=ctx.person,
        body=body,
        source=ctx.channel,
        now=ctx.now,
        question_id=question.id,
        inbound_id=ctx.inbound.id,
    )
    if consent_step:
        who = await follow_up_by(ctx.session, ctx.person, ctx.alliance)
        ctx.reply("listening_consent_retry", who=who)
        return True
    contact.step += 1
    contact.asked_at = ctx.now
    draft = await step_draft(
        ctx.session, ctx.person, contact, ctx.alliance, template="listening_next"
    )
    ctx.reply(draft.template, **draft.params)
    return True


async def _means_rsvp(
    ctx: Context, intent: Rsvp, contact: ListeningContact, consent_step: bool
) -> bool:
    open_ = await actions.open_invitations(ctx.session, ctx.person.id, ctx.now)
    if not open_:
        return False
    if intent.action_hint:
        return any(actions.matches(action, intent.action_hint) for _, action in open_)
    if not consent_step:
        return True
    latest = max(invitation.invited_at for invitation, _ in open_)
    return contact.asked_at is None or latest > contact.asked_at


async def _consent(ctx: Context, contact: ListeningContact, response: str) -> None:
    who = await follow_up_by(ctx.session, ctx.person, ctx.alliance)
    if response == "maybe":
        ctx.reply("listening_consent", who=who)
        return
    set_consent(contact, "yes" if response == "yes" else "no", ctx.now)
    contact.status = "done"
    contact.channel = ctx.channel
    if contact.consent == "yes":
        ctx.reply("listening_consent_yes", who=who)
    else:
        ctx.reply("listening_consent_no")


async def _continues_last_answer(
    ctx: Context, contact: ListeningContact, campaign: ListeningCampaign, body: str
) -> bool:
    last = contact.last_answer_at
    if campaign.join_seconds <= 0 or last is None or contact.asked_at is None:
        return False
    if ctx.now - last > timedelta(seconds=campaign.join_seconds) or contact.asked_at < last:
        return False
    answer = await latest_answer(ctx.session, campaign.id, ctx.person.id)
    if answer is None or answer.source not in ("sms", "telegram"):
        return False
    await append_to_answer(ctx.session, answer, body, ctx.now)
    return True


# -- LOG: leaders and organisers record face-to-face listening and follow-ups ------------------

LOG = re.compile(r"^\s*log\b", re.IGNORECASE)
LOG_COMMAND = re.compile(
    r"""^\s*log\s+
    (?:(?P<kind>1:1|1-1|121|one[ -]to[ -]one|house(?:\s+meeting)?|doorstep|door|
        follow[ -]?up|followed[ -]?up)\s+)?
    (?P<who>[^:]*?)\s*:\s*(?P<notes>.+)$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
KINDS = {
    "1:1": "one_to_one",
    "1-1": "one_to_one",
    "121": "one_to_one",
    "one to one": "one_to_one",
    "house": "house_meeting",
    "house meeting": "house_meeting",
    "doorstep": "doorstep",
    "door": "doorstep",
}
CONSENT_WORDS = {"yes": "yes", "y": "yes", "ie": "yes", "tak": "yes", "no": "no", "n": "no"}
CONSENT_WORDS |= {"na": "no", "nie": "no"}


async def log_command(ctx: Context, text: str, roles: Roles) -> None:
    """``LOG DOORSTEP 07700 900123 YES: worried about the damp, kids keep getting ill``;
    ``LOG 121 Ann Patel: ...``; ``LOG FOLLOWUP Ann Patel: met for coffee``.

    Who may be named is storage.roles' rule: by name, the people of the sender's institutions
    (an organiser: anyone); by number, also the people the sender recorded themselves. A
    conversation with a number we do not know makes a new person, listened to face to face and
    never opted in to texts. A number the sender may not see is answered exactly as an unknown
    one: a conversation is recorded against that person (what they said belongs with them; the
    consent they gave themselves stands), a follow-up is "not found"."""
    match = LOG_COMMAND.match(text)
    if match is None or not match.group("who").strip():
        ctx.reply("listening_log_help")
        return
    kind_word = " ".join((match.group("kind") or "doorstep").lower().replace("-", " ").split())
    follow_up = kind_word.replace(" ", "").startswith(("followup", "followedup"))
    who_words = match.group("who").split()
    consent = None
    if not follow_up and who_words and who_words[-1].lower() in CONSENT_WORDS:
        consent = CONSENT_WORDS[who_words.pop().lower()]
    who = " ".join(who_words)
    notes = match.group("notes").strip()
    if follow_up:
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
    if consent is not None and not await _in_sight(ctx, roles, person, campaign):
        contact = await get_contact(ctx.session, campaign.id, person.id)
        if contact is not None and contact.consent is not None:
            consent = None  # their own answer stands: the sender may not see them
    try:
        await log_conversation(
            ctx.session,
            campaign=campaign,
            person=person,
            notes=notes,
            kind=KINDS.get(kind_word, "doorstep"),
            now=ctx.now,
            recorded_by_id=ctx.person.id,
            consent=consent,
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
        by=ctx.person,
        note=notes,
        channel=ctx.channel,
    )
    ctx.reply("listening_followup_ok", name=who, campaign=campaign.title)


async def _met(ctx: Context, who: str, roles: Roles) -> Person | None:
    """The person a conversation was with: by number (anyone; a new person for a number we
    do not know), or by name among the people the sender may see."""
    found = find_phone(who, _region(ctx.person))
    if found is None:
        return await _by_name(ctx, who, roles)
    phone, start, end = found
    person = await person_by_phone(ctx.session, phone)
    if person is None:
        person = new_person(
            phone=phone,
            name=" ".join((who[:start] + who[end:]).split()),
            language=ctx.person.language,
            timezone=ctx.person.timezone,
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
    found = find_phone(who, _region(ctx.person))
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
