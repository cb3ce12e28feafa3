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
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict
from sqlalchemy import select
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.app_keys import CLOCK, DB, PIPELINE, SETTINGS
from bot.channels.twilio_sms import PERMANENT
from bot.inbound import IncomingText
from storage.models import DeliveryEvent, OutboxMessage, Person
from storage.outbox import STATUS_RANK
from storage.people import BadPhone, apply_delivery_effect, normalise_phone

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
FORM = "application/x-www-form-urlencoded"
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


async def _authenticated_form(request: web.Request) -> MultiDict[str] | web.Response:
    """The form Twilio posted, or the response to give (400 malformed, 403 bad signature)."""
    if request.content_type != FORM:
        return _text(400, f"expected {FORM}")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _text(400, "request body too large")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return _text(400, "request body too large")
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return _text(400, "request body is not valid UTF-8 form data")
    form: MultiDict[str] = MultiDict(pairs)
    settings = request.app[SETTINGS]
    url = settings.public_url + request.path_qs
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(settings.webhook_auth_token.get())
    if not signature or not validator.validate(url, form, signature):
        log.warning("twilio webhook %s: bad or missing signature", request.path)
        return _text(403, "invalid signature")
    return form


async def sms(request: web.Request) -> web.Response:
    form = await _authenticated_form(request)
    if isinstance(form, web.Response):
        return form
    missing = [f for f in ("MessageSid", "From", "To") if not form.get(f)]
    if "Body" not in form:
        missing.append("Body")
    if missing:
        return _text(400, "missing " + ", ".join(missing))
    sid = form["MessageSid"]
    if len(sid) > 64:
        return _text(400, "MessageSid too long")
    settings = request.app[SETTINGS]
    try:
        sender = normalise_phone(form["From"], settings.default_region)
    except BadPhone:
        return _text(400, "From is not a phone number")
    # Multi-part SMS arrive joined by Twilio; NumSegments tells how many parts it was.
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
    if isinstance(form, web.Response):
        return form
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not raw_status:
        return _text(400, "missing MessageSid or MessageStatus")
    new_status = TWILIO_STATUS.get(raw_status)
    if new_status is None:
        return _text(400, f"unknown MessageStatus {raw_status!r}")
    outbox_id: int | None = None
    if "outbox" in request.query:
        try:
            outbox_id = int(request.query["outbox"])
        except ValueError:
            return _text(400, "outbox must be a number")
    error_code = (form.get("ErrorCode") or "").strip() or None
    if error_code is not None and not error_code.isdigit():
        return _text(400, "ErrorCode must be a number")

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
                    apply_delivery_effect(person, PERMANENT[int(error_code)], now)
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
