"""Twilio webhooks: inbound SMS and delivery status callbacks.

The signature is checked with the twilio library's RequestValidator against the public URL
Twilio called (TURNOUT_PUBLIC_URL + path + query string, verbatim) over every parameter
received. In the sandbox (no Twilio credentials) the same check runs with the sandbox token, so
the sandbox exercises the real path.

Inbound replies are answered inline as TwiML ``<Message>`` elements; each carries an ``action``
URL pointing back at the status webhook with its outbox id, so the delivery status of replies is
tracked like any other message.
"""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import MultiDict
from sqlalchemy import select
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.app_keys import CLOCK, DB, PIPELINE, SETTINGS
from bot.inbound import IncomingText
from bot.webhooks.edge import INT32, ascii_int, identifier, read_form, refuse, single
from config.phones import BadPhone, normalise_phone
from scheduler.delivery.channels.twilio_sms import PERMANENT
from storage.models import DeliveryEvent, OutboxMessage, Person
from storage.outbox import STATUS_RANK
from storage.people import apply_delivery_effect

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Twilio's status words mapped onto our outbox statuses.
TWILIO_STATUS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "cancelled",
}


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")


async def _authenticated_form(request: web.Request) -> MultiDict[str]:
    """The whole form Twilio posted, its signature checked; else a 400 (malformed) or 403 (bad
    signature) is raised."""
    form = await read_form(request, MAX_BODY_BYTES)
    settings = request.app[SETTINGS]
    url = settings.public_url + request.path_qs
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(settings.webhook_auth_token.get())
    if not signature or not validator.validate(url, form, signature):
        log.warning("twilio webhook %s: bad or missing signature", request.path)
        raise web.HTTPForbidden(text="invalid signature\n")
    return form


async def sms(request: web.Request) -> web.Response:
    form = await _authenticated_form(request)
    fields = {name: single(form, name) for name in ("MessageSid", "From", "To", "Body")}
    missing = [name for name, value in fields.items() if not value and name != "Body"]
    if fields["Body"] is None:
        missing.append("Body")
    if missing:
        refuse("missing " + ", ".join(missing))
    sid = identifier(form["MessageSid"], "MessageSid")
    settings = request.app[SETTINGS]
    try:
        sender = normalise_phone(form["From"], settings.default_region)
    except BadPhone:
        refuse("From is not a phone number")
    # Multi-part SMS arrive joined by Twilio; NumSegments tells how many parts it was. ``To``
    # and ``Body`` are recorded as sent (the columns clamp and normalise them).
    message = IncomingText(
        channel="sms",
        provider=settings.sms_provider,
        provider_id=sid,
        sender=sender,
        body=form["Body"],
        recipient=form["To"],
    )
    result = await request.app[PIPELINE].receive(message, inline_provider="twiml")
    twiml = MessagingResponse()
    for reply in result.replies:
        if reply.provider == "twiml":
            twiml.message(
                reply.body,
                action=f"{settings.public_url}/webhooks/twilio/status?outbox={reply.id}",
            )
    return web.Response(text=str(twiml), content_type="application/xml")


async def status(request: web.Request) -> web.Response:
    form = await _authenticated_form(request)
    sid = single(form, "MessageSid") or single(form, "SmsSid")
    raw_status = (single(form, "MessageStatus") or single(form, "SmsStatus") or "").lower()
    if not sid or not raw_status:
        refuse("missing MessageSid or MessageStatus")
    sid = identifier(sid, "MessageSid")
    new_status = TWILIO_STATUS.get(raw_status)
    if new_status is None:
        refuse(f"unknown MessageStatus {raw_status[:32]!r}")
    outbox_id: int | None = None
    if "outbox" in request.query:
        # Our own outbox id, put in the callback URL by sms(): a 32-bit key.
        outbox_id = ascii_int(request.query.getone("outbox"), (1, INT32[1]))
        if outbox_id is None or len(request.query.getall("outbox")) > 1:
            refuse("outbox must be a number")
    error_code = (single(form, "ErrorCode") or "").strip() or None
    if error_code is not None and ascii_int(error_code, (0, INT32[1])) is None:
        refuse("ErrorCode must be a number")

    now = request.app[CLOCK].now()
    async with request.app[DB].session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.provider_id == sid))
        if row is None and outbox_id is not None:
            row = await session.get(OutboxMessage, outbox_id)
            if row is not None and row.provider_id not in (None, sid):
                row = None
        if row is None:
            # Valid but not ours (or not yet known): acknowledge so Twilio stops retrying.
            return _text(200, "unknown message")
        row.provider_id = sid
        session.add(
            DeliveryEvent(
                outbox_id=row.id,
                kind="callback",
                status=new_status,
                error_code=error_code,
                provider_id=sid,
                at=now,
            )
        )
        if STATUS_RANK[new_status] > STATUS_RANK[row.status]:
            row.status = new_status
            row.updated_at = now
        if error_code is not None:
            row.error_code = error_code
            if int(error_code) in PERMANENT and row.person_id is not None:
                person = await session.get(Person, row.person_id)
                if person is not None:
                    apply_delivery_effect(session, person, PERMANENT[int(error_code)], now)
                    log.info(
                        "person %s: error %s from carrier",
                        person.id,
                        error_code,
                        extra={"outbox_id": row.id, "person_id": person.id},
                    )
    return _text(200, "ok")


def routes() -> list[web.RouteDef]:
    return [
        web.post("/webhooks/twilio/sms", sms),
        web.post("/webhooks/twilio/status", status),
    ]
