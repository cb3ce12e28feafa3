"""Message templates: complete in every language, one cheap SMS each, dates in local time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.handlers.grammar import Other, parse
from config.messages import (
    INTRODUCES,
    MESSAGES_DIR,
    RESIDENT_FACING,
    catalogue,
    format_when,
    placeholders,
    render,
)
from config.segments import count_segments, is_gsm7
from config.settings import LANGUAGES

ENGLISH = catalogue("en").templates
OTHER_LANGUAGES = [lang for lang in LANGUAGES if lang != "en"]
ALLIANCE = "Leicester Citizens"


def longest_when(language: str) -> str:
    """The longest date a 2026 action at 18:30 in London can have, in ``language``."""
    days = (date(2026, 1, 1) + timedelta(days=n) for n in range(365))
    return max(
        (
            format_when(datetime(d.year, d.month, d.day, 18, 30, tzinfo=UTC), language, "UTC")
            for d in days
        ),
        key=len,
    )


def typical(language: str) -> dict[str, object]:
    """Realistic values for every placeholder a resident-facing template uses."""
    return {
        "alliance": ALLIANCE,
        "title": "Accountability Assembly",
        "named": "Living Wage Week launch",
        "place": "De Montfort Hall",
        "when": longest_when(language),
        "time": "18:30",
        "bring": "photo ID",
        "name": "Ann",
        "institution": "St Mary's Church",
        "guests": 2,
        "number": 40,
        "committed": 40,
        "brought": 37,
        "total": 412,
        "question": "What is the biggest issue facing you and your family?",
        "who": "St Mary's Church",
        "people": 705,
        "themes": "Housing, Health and wellbeing, Poverty and food",
        "theme": "Health and wellbeing",
        "code": "123456",
        "minutes": 10,
    }


def test_the_resident_facing_and_introducing_templates_exist_in_english() -> None:
    assert ENGLISH.keys() >= RESIDENT_FACING
    assert INTRODUCES <= RESIDENT_FACING


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_language_has_exactly_the_english_keys(language: str) -> None:
    cat = catalogue(language)
    assert cat.language == language
    assert sorted(cat.templates) == sorted(ENGLISH)


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_translation_has_the_english_placeholders(language: str) -> None:
    templates = catalogue(language).templates
    mismatched = {
        key: (placeholders(templates[key]), placeholders(text))
        for key, text in ENGLISH.items()
        if placeholders(templates.get(key, "")) != placeholders(text)
    }
    assert mismatched == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_calendar_is_complete(language: str) -> None:
    cat = catalogue(language)
    assert len(cat.days) == 7 and all(cat.days)
    assert len(cat.months) == 12 and all(cat.months)
    assert placeholders(cat.when) == {"day", "date", "month", "time"}
    assert cat.language_name


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_file_has_curly_quotes_or_non_breaking_spaces(language: str) -> None:
    raw = (MESSAGES_DIR / f"{language}.toml").read_text(encoding="utf-8")
    assert re.findall("[\u2018\u2019\u201c\u201d\u00a0\u2013\u2014\u2026]", raw) == []


def test_every_english_template_is_gsm7() -> None:
    assert [key for key, text in ENGLISH.items() if not is_gsm7(text)] == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", sorted(RESIDENT_FACING))
def test_each_resident_facing_text_is_one_gsm7_segment_with_typical_values(
    language: str, key: str
) -> None:
    values = typical(language)
    assert placeholders(ENGLISH[key]) <= values.keys(), "add a typical value for this template"
    text = render(key, language, **values)
    assert is_gsm7(text), [ch for ch in text if not is_gsm7(ch)]
    assert count_segments(text) == 1, f"{len(text)} characters: {text}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", sorted(INTRODUCES))
def test_each_introduction_names_the_alliance_and_says_how_to_stop(language: str, key: str) -> None:
    text = render(key, language, **typical(language))
    assert ALLIANCE in text
    assert "STOP" in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", sorted(RESIDENT_FACING))
def test_every_keyword_a_text_asks_for_is_understood(language: str, key: str) -> None:
    """ "Reply IE 2", "STOP", "LANG PL": what we tell people to send must parse."""
    template = catalogue(language).templates[key]
    keywords = re.findall(r"\b(?:LANG [A-Z]{2}|[A-Z]{2,}(?: \d+)?)\b", template)
    assert [kw for kw in keywords if isinstance(parse(kw), Other)] == []


def test_each_language_confirms_a_change_in_that_language() -> None:
    texts = {lang: render("lang_set", lang) for lang in LANGUAGES}
    assert len(set(texts.values())) == len(LANGUAGES)
    assert "English" in texts["en"]
    assert "Gymraeg" in texts["cy"]
    assert "po polsku" in texts["pl"]


@pytest.mark.parametrize("language", ["fr", "", "EN", "cymraeg"])
def test_render_falls_back_to_english_for_an_unknown_language(language: str) -> None:
    values = typical("en")
    assert render("invite", language, **values) == render("invite", "en", **values)
    assert catalogue(language).language == "en"


def test_render_fails_loudly_when_a_placeholder_is_missing() -> None:
    with pytest.raises(KeyError):
        render("invite", "cy", alliance=ALLIANCE)


SAT_EVENING = datetime(2026, 3, 14, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Sat 14 Mar 18:30"),
        ("cy", "Sad 14 Mawrth 18:30"),
        ("pl", "sob. 14 marca o 18:30"),
    ],
)
def test_format_when_speaks_each_language(language: str, expected: str) -> None:
    assert format_when(SAT_EVENING, language, "Europe/London") == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # The UK clocks go forward at 01:00 UTC on Sunday 29 March 2026.
        (datetime(2026, 3, 28, 18, 30, tzinfo=UTC), "Sat 28 Mar 18:30"),
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "Sun 29 Mar 00:59"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "Sun 29 Mar 02:00"),
        (datetime(2026, 3, 29, 17, 30, tzinfo=UTC), "Sun 29 Mar 18:30"),
        (datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "Wed 1 Apr 00:30"),
        # And back at 01:00 UTC on Sunday 25 October 2026.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Sun 25 Oct 01:30"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Sun 25 Oct 01:30"),
    ],
)
def test_format_when_follows_uk_summer_time(moment: datetime, expected: str) -> None:
    assert format_when(moment, "en", "Europe/London") == expected


def test_format_when_uses_the_persons_time_zone_and_language_together() -> None:
    moment = datetime(2026, 3, 29, 17, 30, tzinfo=UTC)
    assert format_when(moment, "cy", "Europe/London") == "Sul 29 Mawrth 18:30"
    assert format_when(moment, "pl", "Europe/Warsaw") == "niedz. 29 marca o 19:30"
