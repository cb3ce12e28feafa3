"""Talking to the bot from a terminal: ``turnout text`` (be any phone number), ``turnout outbox``
(what was sent, or would have been in the sandbox) and ``turnout inbox`` (texts for an
organiser)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode
from xml.etree import ElementTree

import aiohttp
import click
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.phones import BadPhone, mask_phone, normalise_phone
from config.settings import Settings
from scheduler.waiting import why_waiting
from storage.db import Database
from storage.models import InboundMessage, OutboxMessage, Person

SMS_PATH = "/webhooks/twilio/sms"


def _signed_form(settings: Settings, phone: str, body: str) -> tuple[dict[str, str], str]:
    sid = "SM" + uuid.uuid4().hex
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": phone,
        "To": settings.twilio_from or "+447700900000",
        "Body": body,
        "NumSegments": "1",
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    validator = RequestValidator(settings.webhook_auth_token.get())
    return form, str(validator.compute_signature(settings.public_url + SMS_PATH, form))


async def _post(url: str, form: dict[str, str], signature: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp,
    ):
        text = await resp.text()
        if resp.status != 200:
            raise click.ClickException(f"the server answered {resp.status}: {text.strip()}")
        return text


@cli.command()
@click.argument("phone")
@click.argument("message", nargs=-1, required=True)
@pass_runtime
@run
async def text(rt: Runtime, phone: str, message: tuple[str, ...]) -> None:
    """Text the bot as PHONE (sandbox): e.g. turnout text 07700900001 YES 2

    Goes through the real webhook, signed like Twilio signs it: to the running server if there
    is one (TURNOUT_HOST/TURNOUT_PORT), else to the app started just for this message.
    """
    settings = rt.settings
    try:
        e164 = normalise_phone(phone, settings.default_region)
    except BadPhone as exc:
        raise click.ClickException(f"{phone}: {exc}") from None
    form, signature = _signed_form(settings, e164, " ".join(message))
    try:
        twiml = await _post(f"http://{settings.host}:{settings.port}{SMS_PATH}", form, signature)
    except aiohttp.ClientConnectionError:
        async with rt.app_on_loopback() as base:
            twiml = await _post(base + SMS_PATH, form, signature)
    # Our own server's TwiML, not untrusted input.
    replies = [m.text or "" for m in ElementTree.fromstring(twiml).iter("Message")]  # noqa: S314
    if not replies:
        click.echo("(no reply)")
    for reply in replies:
        click.echo(f"turnout -> {e164}: {reply}")


@cli.command()
@click.option("--limit", default=20, show_default=True, help="How many of the latest messages.")
@click.option("--phone", help="Only messages to this number.")
@pass_runtime
@run
async def outbox(rt: Runtime, limit: int, phone: str | None) -> None:
    """Messages sent (or queued), newest last: status, why a queued one waits ("held until
    09:00, quiet hours", "retry 2 at 10:41 (Twilio 20429)", "due 18:30", "waiting for a send
    slot", in the person's local time), errors."""
    settings = rt.settings
    now = rt.clock.now()

    async def body(db: Database) -> None:
        query = (
            select(OutboxMessage, Person)
            .outerjoin(Person, Person.id == OutboxMessage.person_id)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
        if phone:
            query = query.where(
                OutboxMessage.to_address == normalise_phone(phone, settings.default_region)
            )
        async with db.session() as session:
            rows = list((await session.execute(query)).all())
        rows.reverse()
        click.echo(
            table(
                ["id", "to", "status", "waiting", "kind", "template", "error", "text"],
                [
                    [
                        r.id,
                        r.to_address if phone or r.channel != "sms" else mask_phone(r.to_address),
                        r.status,
                        why_waiting(r, person, now, settings),
                        r.kind,
                        r.template,
                        r.error_code or "",
                        r.body[:70],
                    ]
                    for r, person in rows
                ],
            )
        )

    await rt.with_db(body)


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include messages already dealt with.")
@pass_runtime
@run
async def inbox(rt: Runtime, show_all: bool) -> None:
    """Texts that were not a command (and any that failed): for an organiser to read."""

    async def body(db: Database) -> None:
        query = (
            select(InboundMessage, Person.name)
            .outerjoin(Person, Person.id == InboundMessage.person_id)
            .order_by(InboundMessage.id)
        )
        if not show_all:
            query = query.where(InboundMessage.inbox_status == "open")
        async with db.session() as session:
            rows = (await session.execute(query)).all()
        click.echo(
            table(
                ["id", "received", "from", "name", "text"],
                [
                    [
                        m.id,
                        m.received_at.strftime("%Y-%m-%d %H:%M"),
                        mask_phone(m.sender) if m.channel == "sms" else m.sender,
                        name or "",
                        m.body[:80],
                    ]
                    for m, name in rows
                ],
            )
        )

    await rt.with_db(body)
