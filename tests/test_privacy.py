"""Phone numbers never reach logs, error columns or group chats."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from twilio.base.exceptions import TwilioRestException

from config.clock import FakeClock
from config.logs import TextFormatter
from config.messages import catalogue, placeholders, render
from config.phones import HIDDEN, find_phone, mask_phone, redact_phones
from config.settings import LANGUAGES, Settings
from scheduler.delivery.channels.twilio_sms import classify
from storage.db import Database
from storage.models import Institution, Person
from tests import factories as f
from tests.fakes.telegram_updates import Harness, harness
from tests.fakes.telegram_world import GROUP_A, GROUP_B, build_world


def test_a_twilio_error_quoting_the_number_is_stored_without_it() -> None:
    exc = TwilioRestException(
        400,
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
        msg="The 'To' number +447700900123 is not a valid phone number.",
        code=21211,
    )
    error = classify(exc)
    assert error.permanent and error.effect == "invalid"
    assert "900123" not in str(error) and "[number hidden]" in str(error)


def test_redaction_catches_the_usual_ways_of_writing_a_number() -> None:
    for number in ("+447700900123", "07700 900123", "07700-900-123", "447700900123"):
        assert redact_phones(f"call {number} now") == "call [number hidden] now"
    assert redact_phones("COMMIT 40 for 2026") == "COMMIT 40 for 2026"


def test_masked_phones_keep_only_the_ends() -> None:
    assert mask_phone("+447700900123") == "+44*******123"
    assert mask_phone(None) == "-"


# How people really write numbers, in names and texts: each must be hidden whole.
WRITTEN = [
    "(0116) 496 0123",
    "0116 496 0123",
    "0116.496.0123",
    "0116-496-0123",
    "01164960123",
    "07700 900123",
    "07700  900 123",
    "07700.900.123",
    "(07700) 900-123",
    "07700/900/123",
    "07700_900_123",
    "07700\t900123",
    "07700\n900123",
    "07700\u00a0900123",
    "+44 (0)7700 900 123",
    "+44(0)1164960123",
    "+44 (0) 116 496 0123",
    "+44-7700-900-123",
    "+44.7700.900.123",
    "0044 7700 900123",
    "44 7700 900123",
    "7700 900 123",
    "0 7 7 0 0 9 0 0 1 2 3",
    "\uff10\uff17\uff17\uff10\uff10\uff19\uff10\uff10\uff11\uff12\uff13",
    "+48 601 234 567",
    "+1 (415) 555-0100",
    "0800 123 4567",
    "123456789012345678",  # a long run the matcher leaves alone
]
# Numbers that are not phone numbers stay: counts, years, times, dates, codes.
NOT_PHONES = [
    "COMMIT 40 for 2026",
    "/count 37",
    "Committed 40, yes 12 (+3 guests), maybe 4, no 1, waiting 20",
    "Tue 10 Mar, 18:30",
    "sob. 14 marca o 18:30",
    "40/50 seats, 2026/27 budget",
    "Flat 12, 3B Ward Road, LE1 6XX",
    "Room 101 at 12:30-14:00",
    "100000 people",
    "Code for Ann Patel: K7MP2QRT",
]


@pytest.mark.parametrize("number", WRITTEN)
def test_a_number_written_any_common_way_is_hidden_whole(number: str) -> None:
    for text in (f"call {number} now", f"Ann Patel {number}", number):
        redacted = redact_phones(text, "GB")
        assert HIDDEN in redacted, text
        assert sum(ch.isdigit() for ch in redacted) == 0, redacted


@pytest.mark.parametrize("text", NOT_PHONES)
def test_counts_years_times_and_codes_are_left_alone(text: str) -> None:
    assert redact_phones(text, "GB") == text


def test_the_region_reads_numbers_without_a_country_code() -> None:
    assert find_phone("LOG DOORSTEP (0116) 496 0123 YES", "GB") == ("+441164960123", 13, 28)
    assert find_phone("met 601 234 567 today", "PL") == ("+48601234567", 4, 15)
    assert find_phone("COMMIT 40 for 2026", "GB") is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_telegram_text_is_touched_by_redaction_with_realistic_values(language: str) -> None:
    """What groups normally see (counts, dates, names, codes, links) passes unchanged."""
    values: dict[str, object] = {
        "alliance": "Leicester Citizens",
        "title": "Accountability Assembly 2026",
        "slug": "assembly-2026-03",
        "when": "Sat 14 Mar 18:30",
        "expires": "Thu 12 Mar 10:00",
        "code": "K7MP2QRT",
        "link": "https://t.me/turnout_test_bot?start=K7MP2QRT",
        "headcount": render("tg_headcount_part", language, number=1250),
        "gap": render("tg_gap_short", language, gap=1234, committed=2500),
    }
    changed = []
    for key, text in catalogue(language).templates.items():
        if not key.startswith("tg_"):
            continue
        params = {name: values.get(name, 1234) for name in placeholders(text)}
        body = render(key, language, **params)
        if redact_phones(body, "GB") != body:
            changed.append(key)
    assert changed == []


@pytest.fixture
async def tg(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with harness(db, settings, clock) as h:
        yield h


async def test_numbers_in_names_never_reach_a_group(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    """People and an institution named with numbers in them, in every form; the leader chases,
    checks the numbers and posts a card in the group."""
    world = await build_world(db, clock)
    names = {
        "bola": "Bola Ade (0116) 496 0123",
        "numbername": "call me 07700  900 011",
        "member": "Ann +44 (0)7700 900 004",
    }
    async with db.session() as s:
        for key, name in names.items():
            await s.execute(
                update(Person).where(Person.id == world.people[key].id).values(name=name)
            )
        await s.execute(
            update(Institution)
            .where(Institution.id == world.mary.id)
            .values(name="St Mary's Church 0116.496.0199")
        )
    for text in ("/chase", "/turnout", "/rsvp", "/commit 40", "/count 37"):
        await tg.send(tg.updates.text(world.users["leader_a"], world.group_a, text))
    # Someone not a leader asks: told who the leaders are, by name.
    await tg.send(tg.updates.text(world.users["member"], world.group_a, "/chase"))
    await tg.drain()

    group_texts = tg.texts(GROUP_A) + tg.texts(GROUP_B)
    digits = re.compile(r"\d[\d\s().+-]{5,}\d")
    assert len(tg.texts(GROUP_A)) == 6
    assert [t for t in group_texts if find_phone(t, "GB") or digits.search(t)] == []
    chase = next(t for t in group_texts if "not replied yet" in t)
    assert "Bola Ade [number hidden]" in chase and "call me [number hidden]" in chase
    assert "St Mary's Church [number hidden]" in chase


def test_the_log_format_hides_numbers_in_messages_and_tracebacks_not_the_time() -> None:
    formatter = TextFormatter()
    try:
        raise ValueError("The 'To' number +44 7700 900123 is not valid")
    except ValueError:
        record = logging.LogRecord(
            "turnout", logging.WARNING, __file__, 1, "texted %s", ("07700 900 124",), sys.exc_info()
        )
    record.created = 1773136800.0  # 2026-03-10 10:00 UTC: a timestamp is not a phone number
    line = formatter.format(record)
    assert "texted [number hidden]" in line
    assert "ValueError: The 'To' number [number hidden] is not valid" in line
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING turnout: ", line), line
    assert not any(n in line for n in ("900123", "900 124", "7700"))


async def test_a_database_error_does_not_quote_the_values(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.person(s, "Ann Patel", 123, now)
    with pytest.raises(IntegrityError) as raised:
        async with db.session() as s:
            await f.person(s, "Ann Patel again", 123, now)
    assert "900123" not in str(raised.value)
