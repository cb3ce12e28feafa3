"""Property-based fuzzing (Hypothesis) of the three webhooks, through the real app and server,
on every database backend (SQLite, and PostgreSQL when TURNOUT_TEST_DATABASE_URL is set).

Whatever a client sends (forms and JSON, signed and unsigned, any text, any bytes), the answer
is never a 5xx. A signed, well-formed SMS is answered 200 and stored exactly once, and its
replay changes nothing and repeats no more than the first answer; a malformed signed one gets
400, an unsigned one 403. An authenticated, well-formed Telegram update is stored exactly once
and handled without error, and its replay changes nothing.

Each test runs ``DEFAULT_FUZZ_EXAMPLES`` fixed examples (tests/conftest.py); for a longer,
randomised run: ``.venv/bin/pytest tests/test_webhook_fuzz.py --fuzz-examples=2000``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from yarl import URL

from bot.app import create_app
from bot.telegram.extension import telegram_extension
from bot.telegram.webhook import PATH as TELEGRAM
from bot.telegram.webhook import SECRET_HEADER
from bot.webhooks.twilio import TWILIO_STATUS
from config.clock import FakeClock
from config.phones import BadPhone, normalise_phone
from config.settings import Settings
from storage.db import Database
from storage.models import InboundMessage, TelegramUpdate
from tests import factories as f
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_updates import SECRET, Updates, group, private, telegram_settings, user

SMS = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"
FORM = "application/x-www-form-urlencoded"
INT64_MAX = 2**63 - 1

# Values that have broken webhooks somewhere: NUL, digits that are not ASCII ("²" passes
# str.isdigit() and fails int()), numbers past 64 bits, spaces and underscores int() accepts,
# a BOM, separators, emoji, text longer than its column.
SPECIAL = [
    "",
    " ",
    "\x00",
    "YES\x00",
    "²",
    "١٢",
    "9" * 25,
    "-1",
    " 1 ",
    "1_0",
    "NaN",
    "Infinity",
    "\ufeff",
    "\u2028",
    "x" * 65,
    "x" * 5000,
    "%",
    "&=",
    "é",
    "❤",
    "\U0001f600",
    "YES",
    "STOP",
    "HELP",
    "YES 99999999999999999999",
    "COMMIT ²",
    "+447700900001",
    "07700 900002",
]
TEXT = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=40), st.text(min_size=60, max_size=300))
# JSON can carry what a form cannot: unpaired surrogates (as \ud800 escapes).
JSON_TEXT = st.one_of(TEXT, st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]))))
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@dataclass
class Edge:
    client: TestClient[Any, Any]
    db: Database
    settings: Settings

    def sign(self, path_qs: str, form: MultiDict[str]) -> str:
        validator = RequestValidator(self.settings.webhook_auth_token.get())
        return str(validator.compute_signature(self.settings.public_url + path_qs, form))

    async def post(self, path_qs: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        resp = await self.client.post(path_qs, data=body, headers=headers)
        text = await resp.text(errors="replace")
        assert resp.status < 500, (resp.status, text)
        return resp.status, text

    async def post_form(
        self, path_qs: str, pairs: list[tuple[str, str]], *, signed: bool
    ) -> tuple[int, str]:
        headers = {"Content-Type": FORM}
        if signed:
            # Signed over the URL as it goes on the wire (the client normalises escapes).
            headers["X-Twilio-Signature"] = self.sign(str(URL(path_qs)), MultiDict(pairs))
        return await self.post(path_qs, urlencode(pairs).encode(), headers)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db.session() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
async def edge(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Edge]:
    """One server with all three webhooks (Telegram on, against a fake Bot API), shared by all
    the examples of a test."""
    async with FakeTelegramApi() as api:
        tg_settings = telegram_settings(settings, api)
        app = create_app(tg_settings, db=db, clock=clock, extensions=[telegram_extension])
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield Edge(client, db, tg_settings)


# -- Twilio: inbound SMS --------------------------------------------------------------------


def mostly(good: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``good`` three times in four: most examples get past the first check, to the next."""
    return st.one_of(good, good, good, odd)


SIDS = mostly(st.integers(0, 2**128 - 1).map(lambda n: f"SM{n:032x}"), TEXT)
PHONES = mostly(st.integers(0, 999).map(f.phone), TEXT)
SIGNED = st.sampled_from([True, True, True, False])
SMS_FIELDS = ("MessageSid", "From", "To", "Body")


@st.composite
def sms_forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Twilio's inbound form with any field changed, dropped or given twice, plus extras."""
    fields = {
        "MessageSid": draw(SIDS),
        "From": draw(PHONES),
        "To": draw(mostly(st.just("+447700900000"), TEXT)),
        "Body": draw(TEXT),
    }
    pairs = [
        (k, v)
        for k, v in fields.items()
        if k not in draw(st.sets(st.sampled_from(SMS_FIELDS), max_size=1))
    ]
    pairs += [("AccountSid", "AC" + "0" * 32), ("NumSegments", "1"), ("ApiVersion", "2010-04-01")]
    pairs += draw(st.lists(st.tuples(st.sampled_from(SMS_FIELDS), TEXT), max_size=1))
    pairs += draw(st.lists(st.tuples(TEXT, TEXT), max_size=2))
    return draw(st.permutations(pairs))


def well_formed_sms(pairs: list[tuple[str, str]], region: str) -> bool:
    """What the webhook must accept: each field it uses given once; a MessageSid of 1-64
    printable ASCII characters; a From that is a phone number; a To; a Body (may be empty)."""
    form = MultiDict(pairs)
    if any(len(form.getall(name, [])) != 1 for name in SMS_FIELDS):
        return False
    sid = form["MessageSid"]
    if not 0 < len(sid) <= 64 or not all("!" <= ch <= "~" for ch in sid):
        return False
    try:
        normalise_phone(form["From"], region)
    except BadPhone:
        return False
    return bool(form["To"])


def messages(twiml: str) -> list[str]:
    return re.findall(r"<Message[^>]*>(.*?)</Message>", twiml, re.S)


@given(pairs=sms_forms(), signed=SIGNED)
async def test_inbound_sms_never_5xx_and_a_well_formed_one_is_stored_once(
    edge: Edge, pairs: list[tuple[str, str]], signed: bool
) -> None:
    before = await edge.count(InboundMessage)
    status, first = await edge.post_form(SMS, pairs, signed=signed)
    if not signed:
        assert status == 403
        assert await edge.count(InboundMessage) == before
        return
    if not well_formed_sms(pairs, edge.settings.default_region):
        assert status == 400, first
        assert await edge.count(InboundMessage) == before
        return
    assert status == 200, first
    sid = MultiDict(pairs)["MessageSid"]
    stored = (InboundMessage.provider == "sandbox", InboundMessage.provider_id == sid)
    assert await edge.count(InboundMessage, *stored) == 1
    status, again = await edge.post_form(SMS, pairs, signed=True)
    assert status == 200
    assert await edge.count(InboundMessage, *stored) == 1
    # A replay repeats at most what the first answer said (less, if they have since opted out).
    assert set(messages(again)) <= set(messages(first))


# -- Twilio: status callbacks ---------------------------------------------------------------

STATUS_WORDS = mostly(st.sampled_from(sorted(TWILIO_STATUS)), TEXT)
CODES = st.one_of(st.sampled_from(["30003", "21610", "21211", "0", "-1", "²", "٣", "9" * 25]), TEXT)
OUTBOX = st.one_of(
    st.integers(-5, 2**40).map(str), st.sampled_from(["1", "²", "١", " 1", "1_0"]), TEXT
)


@st.composite
def status_callbacks(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    pairs = [("MessageSid", draw(SIDS)), ("MessageStatus", draw(STATUS_WORDS))]
    pairs = [p for p in pairs if draw(st.sampled_from([True] * 9 + [False]))]  # rarely missing
    if draw(st.booleans()):
        pairs.append(("ErrorCode", draw(CODES)))
    pairs += draw(
        st.lists(
            st.tuples(st.sampled_from(["MessageSid", "SmsSid", "MessageStatus"]), TEXT), max_size=1
        )
    )
    path = STATUS
    if draw(st.booleans()):
        path += "?outbox=" + quote(draw(OUTBOX), safe="")
    return path, draw(st.permutations(pairs))


@given(callback=status_callbacks(), signed=SIGNED)
async def test_status_callbacks_never_5xx(
    edge: Edge, callback: tuple[str, list[tuple[str, str]]], signed: bool
) -> None:
    path, pairs = callback
    status, text = await edge.post_form(path, pairs, signed=signed)
    assert status in ((200, 400) if signed else (403,)), text


# -- anything at all, to any webhook --------------------------------------------------------


@given(
    path=st.sampled_from([SMS, STATUS, TELEGRAM]),
    body=st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=300).map(str.encode),
        st.sampled_from([b"", b"{}", b"[]", b"null", b"Body=%FF", b"\xef\xbb\xbf{}", b"{" * 5000]),
    ),
    content_type=st.sampled_from(
        [FORM, "application/json", "text/plain", "multipart/form-data; boundary=x", ""]
    ),
    credential=st.one_of(st.none(), st.just(SECRET), HEADER_TEXT),
)
async def test_any_bytes_to_any_webhook_never_get_a_5xx(
    edge: Edge, path: str, body: bytes, content_type: str, credential: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if credential is not None:
        headers["X-Twilio-Signature" if path != TELEGRAM else SECRET_HEADER] = credential
    before = await edge.count(InboundMessage)
    status, _ = await edge.post(path, body, headers)
    if path != TELEGRAM:
        assert status in (400, 403)  # never signed: nothing is read past the signature
        assert await edge.count(InboundMessage) == before


# -- Telegram -------------------------------------------------------------------------------

UPDATE_IDS = st.integers(0, INT64_MAX)
USER_IDS = st.integers(1, 2**52)


@st.composite
def text_updates(draw: st.DrawFn) -> dict[str, Any]:
    """A message as Telegram sends it, with any names, text and ids a real one can have."""
    sender = user(draw(USER_IDS), draw(JSON_TEXT), draw(JSON_TEXT))
    chat = private(sender) if draw(st.booleans()) else group(-draw(USER_IDS), draw(JSON_TEXT))
    text = draw(st.one_of(JSON_TEXT, JSON_TEXT.map(lambda t: "/" + t)))
    update = Updates().text(sender, chat, text)
    update["update_id"] = draw(UPDATE_IDS)
    return update


@given(update=text_updates())
async def test_a_well_formed_telegram_update_is_stored_once_and_handled(
    edge: Edge, update: dict[str, Any]
) -> None:
    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
    body = json.dumps(update).encode()
    this = TelegramUpdate.update_id == update["update_id"]
    status, text = await edge.post(TELEGRAM, body, headers)
    assert status == 200, text
    assert await edge.count(TelegramUpdate, this) == 1
    async with edge.db.session() as s:
        error = await s.scalar(select(TelegramUpdate.error).where(this))
    assert error is None
    assert (await edge.post(TELEGRAM, body, headers))[0] == 200
    assert await edge.count(TelegramUpdate, this) == 1


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),  # NaN and infinities included: they are not JSON
        JSON_TEXT,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(JSON_TEXT, children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    value = draw(JSON_VALUES)
    if draw(st.booleans()):
        fields = draw(st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=4))
        update_id = draw(st.one_of(UPDATE_IDS, JSON_VALUES))
        value = {"update_id": update_id, **fields, draw(st.sampled_from(["message", "x"])): value}
    text = json.dumps(value)
    depth = draw(st.sampled_from([0, 0, 0, 31, 33, 5000]))
    if depth:
        text = '{"update_id": 1, "deep": ' + "[" * depth + "]" * depth + "}"
    return text.encode()


@given(body=json_bodies(), secret=st.sampled_from([SECRET, SECRET, SECRET, None, "wrong"]))
async def test_any_json_to_telegram_never_gets_a_5xx_and_what_is_accepted_is_stored_once(
    edge: Edge, body: bytes, secret: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    status, _ = await edge.post(TELEGRAM, body, headers)
    if status != 200:
        return
    assert secret == SECRET
    update_id = json.loads(body)["update_id"]
    assert await edge.count(TelegramUpdate, TelegramUpdate.update_id == update_id) == 1
