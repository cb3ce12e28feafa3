"""No phone number and no secret in any log, at any level; one event a line, text or JSON.

The leak test runs one whole flow at DEBUG (inbound SMS through the signed webhook, invitations,
the sender against a flaky fake Twilio API, a reconcile lookup, status callbacks with error
codes, Telegram updates through the fake Bot API, SQL errors) and reads the RAW records of every
logger with pytest's caplog, which sits beside turnout's own handler: so it proves the sources
are clean, not only that turnout's formatter hides what slips through.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import phonenumbers
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from config.clock import FakeClock
from config.logs import LIBRARY_CAPS, TurnoutHandler, setup_logging
from config.settings import Secret, Settings
from scheduler.actions import get_action, invite
from scheduler.delivery.channels.twilio_sms import TwilioSms
from storage.db import Database
from storage.models import OutboxMessage, Person
from tests import factories as f
from tests.fakes.telegram_api import BOT_TOKEN
from tests.fakes.telegram_updates import SECRET, Harness, group, harness, private, user
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, Failure, FakeTwilioApi
from tests.test_sender import CALLBACK, FROM, make_sender, make_settings
from tests.twilio_signing import encode, inbound_form, sign

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Everyone's number in the flow (Ofcom's drama range), and the sender's own.
OLU, GRACE, ANN, CARA, DEV, BOB = 111, 222, 123, 789, 321, 654
NUMBERS = [f.phone(n) for n in (OLU, GRACE, ANN, CARA, DEV, BOB)] + [FROM]


def forms_of(e164: str) -> set[str]:
    """Every way a log could spell the number: E.164, digits only, national with and without
    spaces, international with spaces, the national significant number."""
    number = phonenumbers.parse(e164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    spaced = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return {
        e164,
        e164.lstrip("+"),
        national,
        national.replace(" ", ""),
        spaced,
        str(number.national_number),
    }


@pytest.fixture
def pristine_logging() -> Iterator[None]:
    """Logging as a fresh process has it (no library logger capped yet: the caps under test
    must be the ones turnout sets), restored afterwards for the other tests."""
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    loggers = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = {logger.name: logger.level for logger in loggers}
    for name in LIBRARY_CAPS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for handler in [h for h in root.handlers if isinstance(h, TurnoutHandler)]:
        root.removeHandler(handler)
    root.setLevel(saved_root[0])
    for name in LIBRARY_CAPS:
        logging.getLogger(name).setLevel(saved.get(name, logging.NOTSET))


def raw_text(records: list[logging.LogRecord]) -> str:
    """Everything a record carries: its message, arguments, extra fields and traceback."""
    chunks = []
    for record in records:
        chunks.append(record.getMessage())
        chunks.extend(str(value) for value in record.__dict__.values())
        if record.exc_info:
            chunks.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(chunks)


def signed(settings: Settings, path: str, form: dict[str, str]) -> dict[str, str]:
    url = settings.public_url + path
    return {**FORM, "X-Twilio-Signature": sign(AUTH_TOKEN, url, form)}


async def text_in(tg: Harness, sid: str, n: int, body: str) -> None:
    form = inbound_form(sid, f.phone(n), body, to=FROM)
    path = "/webhooks/twilio/sms"
    resp = await tg.client.post(path, data=encode(form), headers=signed(tg.settings, path, form))
    assert resp.status == 200, await resp.text()


async def status_callback(
    tg: Harness, row: OutboxMessage, status: str, error_code: str | None = None
) -> None:
    sid = row.provider_id or f"SM{row.id:032x}"
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": row.to_address,
        "From": FROM,
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    path = f"/webhooks/twilio/status?outbox={row.id}"
    resp = await tg.client.post(path, data=encode(form), headers=signed(tg.settings, path, form))
    assert resp.status == 200, await resp.text()


async def run_whole_flow(tg: Harness, db: Database, clock: FakeClock, api: FakeTwilioApi) -> None:
    settings = tg.settings
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        await f.action(s, now, starts_in=timedelta(days=5))
        olu = await f.person(s, "Olu Adeyemi", OLU, now, institution=mary, role="organiser")
        olu.telegram_user_id = 9001
        grace = await f.person(s, "Grace Okafor", GRACE, now, institution=mary, role="leader")
        grace.telegram_user_id = 9002
        for name, n in (("Ann Patel", ANN), ("Cara Jones", CARA), ("Dev Shah", DEV)):
            await f.person(s, name, n, now, institution=mary)

    # Inbound SMS through the signed webhook: a new number, a known one, and a forged request.
    await text_in(tg, "SM" + "b" * 32, BOB, "YES")
    await text_in(tg, "SM" + "a" * 32, ANN, "HELP")
    forged = inbound_form("SM" + "c" * 32, f.phone(CARA), "YES", to=FROM)
    resp = await tg.client.post(
        "/webhooks/twilio/sms",
        data=encode(forged),
        headers={**FORM, "X-Twilio-Signature": "forged"},
    )
    assert resp.status == 403

    # Invitations, then the sender against a flaky Twilio: 429, 500, a timeout after the message
    # was created (reconciled with a lookup by number), and a number Twilio rejects.
    async with db.session() as s:
        report = await invite(s, await get_action(s, "assembly"), settings=settings, now=now)
    assert report.queued >= 5
    api.fail_next(Failure("429"))
    api.fail_next(Failure("500"))
    api.fail_next(Failure("timeout", creates=True, delay=0.3))
    api.permanent[f.phone(DEV)] = 21211
    channel = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, CALLBACK, api_url=api.url, timeout=0.1)
    sender = make_sender(db, {"sms": channel}, clock, settings)
    try:
        for _ in range(10):
            await sender.send_due()
            clock.advance(seconds=settings.send_lease_seconds + settings.reconcile_after_seconds)
            await sender.reconcile()
    finally:
        await channel.close()
    assert {p.status for p in api.posts()} >= {0, 201, 400, 429, 500}
    assert any(r.method == "GET" for r in api.requests), "no reconcile lookup happened"
    assert sender.stats["reconciled"] == 1

    # Status callbacks for every SMS that went out, with carrier error codes on two of them.
    async with db.session() as s:
        sent = list(
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.channel == "sms", OutboxMessage.status == "sent")
                .order_by(OutboxMessage.id)
            )
        )
    assert len(sent) >= 5
    await status_callback(tg, sent[0], "undelivered", "30003")
    await status_callback(tg, sent[1], "failed", "21610")
    for row in sent[2:]:
        await status_callback(tg, row, "delivered")

    # Telegram: an organiser's code, a group linked, a commitment, a contact shared (with its
    # number), a code made for a number typed in a command, a card, the chase list.
    olu_u, grace_u, cara_u = user(9001, "Olu"), user(9002, "Grace"), user(7003, "Cara")
    team = group(-5001, "St Mary's turnout team")
    await tg.send(tg.updates.text(olu_u, private(olu_u), "/linkcode St Mary"))
    await tg.drain()
    code = re.findall(r"/link (\w+)", tg.texts(9001)[-1])[0]
    await tg.send(tg.updates.text(grace_u, team, f"/link@turnout_test_bot {code}"))
    await tg.send(tg.updates.text(grace_u, team, "/commit 40"))
    await tg.send(tg.updates.contact(cara_u, f.phone(CARA).lstrip("+"), contact_user_id=7003))
    await tg.send(tg.updates.text(cara_u, private(cara_u), "MAYBE"))
    national = phonenumbers.format_number(
        phonenumbers.parse(f.phone(BOB)), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    await tg.send(tg.updates.text(grace_u, private(grace_u), f"/linkcode {national}"))
    await tg.send(tg.updates.text(grace_u, team, "/rsvp"))
    await tg.send(tg.updates.text(grace_u, team, "/chase"))
    assert await tg.drain() >= 5
    async with db.session() as s:
        linked = await s.scalar(
            select(Person.telegram_user_id).where(Person.phone == f.phone(CARA))
        )
    assert linked == 7003

    # SQL errors with a number in their parameters (and, on PostgreSQL, in the server's DETAIL).
    log = logging.getLogger("storage.test")
    with pytest.raises(IntegrityError) as duplicate:
        async with db.session() as s:
            s.add(
                Person(
                    name="Twin",
                    phone=f.phone(ANN),
                    consent_at=now,
                    created_at=now,
                )
            )
    log.error("insert failed", exc_info=duplicate.value)
    with pytest.raises(IntegrityError) as incomplete:
        async with db.session() as s:
            await s.execute(
                text("INSERT INTO people (name, phone) VALUES ('Nobody', :phone)"),
                {"phone": f.phone(BOB)[:-3] + "999"},
            )
    log.error("insert failed", exc_info=incomplete.value)


async def test_a_whole_flow_at_debug_logs_no_number_and_no_secret(
    db: Database,
    db_url: str,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    pristine_logging: None,
) -> None:
    async with FakeTwilioApi(clock=clock) as api:
        settings = make_settings(db_url, api.url, LOG_LEVEL="DEBUG")
        out = io.StringIO()
        setup_logging(settings, stream=out)
        caplog.set_level(logging.DEBUG)
        async with harness(db, settings, clock) as tg:
            await run_whole_flow(tg, db, clock, api)

    records = caplog.records
    raw = raw_text(records)
    # The flow was logged, at every level down to DEBUG, from turnout's own modules.
    levels = {r.levelno for r in records}
    assert {logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR} <= levels
    names = {r.name for r in records}
    assert {"scheduler.delivery.sender", "bot.inbound", "bot.webhooks.twilio"} <= names
    assert "outbox" in raw and "provider has it" in raw and "retry in" in raw

    numbers = [*NUMBERS, f.phone(BOB)[:-3] + "999"]
    secrets = [
        AUTH_TOKEN,
        BOT_TOKEN,
        SECRET,
        base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode(),
    ]
    for where, haystack in (("raw records", raw), ("turnout's handler", out.getvalue())):
        for number in numbers:
            leaked = sorted(form for form in forms_of(number) if form in haystack)
            assert not leaked, f"{where} hold {leaked}"
        for secret in secrets:
            assert secret not in haystack, f"{where} hold a secret"
    # Turnout's handler wrote one event a line (tracebacks included).
    lines = out.getvalue().splitlines()
    assert len(lines) == len(records)


# -- the handler, the formats, the caps --------------------------------------------------------


def _settings(**env: str) -> Settings:
    return Settings.from_env({f"TURNOUT_{k}": v for k, v in env.items()}, env_file=None)


def test_text_lines_hide_numbers_and_secrets_and_keep_one_event_a_line(
    pristine_logging: None,
) -> None:
    settings = _settings(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET=SECRET)
    out = io.StringIO()
    setup_logging(settings, stream=out)
    log = logging.getLogger("bot.test")
    sid = "SM35b969c4477009001230c21dc112a6cd"
    log.info("texted %s: %s", "+447700900123", sid, extra={"outbox_id": 7, "person_id": 3})
    try:
        raise RuntimeError(f"GET https://api.telegram.org/bot{BOT_TOKEN}/getMe for 07700 900123")
    except RuntimeError:
        log.exception("call failed")
    first, second = out.getvalue().splitlines()
    assert first.endswith(f"INFO bot.test: texted [number hidden]: {sid} [outbox_id=7 person_id=3]")
    assert "call failed\\nTraceback (most recent call last):" in second
    assert "bot[secret hidden]/getMe for [number hidden]" in second
    assert BOT_TOKEN not in second and "900123" not in second


def test_json_lines_carry_the_fields_and_the_exception(pristine_logging: None) -> None:
    out = io.StringIO()
    setup_logging(_settings(LOG_FORMAT="json"), stream=out)
    log = logging.getLogger("scheduler.test")
    log.warning("outbox %d failed", 12, extra={"outbox_id": 12, "worker": "host:1:abc"})
    try:
        raise ValueError("bad\nthing for +447700900123")
    except ValueError:
        log.error("inbound %d could not be handled", 5, exc_info=True, extra={"inbound_id": 5})
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(events) == 2
    first, second = events
    assert first["level"] == "WARNING" and first["logger"] == "scheduler.test"
    assert first["message"] == "outbox 12 failed"
    assert (first["outbox_id"], first["worker"]) == (12, "host:1:abc")
    assert first["time"].endswith("+00:00") and "inbound_id" not in first
    assert (
        second["inbound_id"] == 5
        and "ValueError: bad\nthing for [number hidden]" in (second["exception"])
    )


def test_setting_up_twice_keeps_one_handler_and_caps_every_library_logger(
    pristine_logging: None,
) -> None:
    settings = _settings(LOG_LEVEL="DEBUG")
    setup_logging(settings, stream=io.StringIO())
    setup_logging(settings, stream=io.StringIO())
    root = logging.getLogger()
    assert len([h for h in root.handlers if isinstance(h, TurnoutHandler)]) == 1
    assert root.level == logging.DEBUG
    for name in ("twilio.http_client", "twilio.async_http_client", "httpx", "sqlalchemy.engine"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert not logging.getLogger("telegram.ext").isEnabledFor(logging.DEBUG)
    # A cap never lowers a level an operator set higher.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    setup_logging(settings, stream=io.StringIO())
    assert logging.getLogger("apscheduler").level == logging.ERROR


def test_log_format_is_text_or_json() -> None:
    assert _settings().log_format == "text"
    assert _settings(LOG_FORMAT="json").log_format == "json"
    with pytest.raises(ValueError, match="TURNOUT_LOG_FORMAT"):
        _settings(LOG_FORMAT="xml")


def test_settings_list_every_secret() -> None:
    settings = _settings(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM=FROM,
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    values = {s.get() for s in settings.secrets()}
    assert {AUTH_TOKEN, BOT_TOKEN, SECRET} <= values
    assert all(isinstance(s, Secret) for s in settings.secrets())
