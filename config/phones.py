"""Phone numbers as text: normalising what people type, finding and hiding numbers in free text
(names, group posts, providers' error messages, log lines), masking them for display. Pure
functions over phonenumbers: no database (storage/people.py looks people up by number)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers


class BadPhone(ValueError):
    pass


def normalise_phone(raw: str, region: str) -> str:
    """E.164 for a number typed any usual way (``07700 900123``, ``+44 7700 900123``).

    Accepts *possible* numbers, not only *valid* ones: Ofcom's drama range (07700 900xxx),
    used in tests and demos, is possible but deliberately not valid.
    """
    text = raw.strip()
    if not text:
        raise BadPhone("phone number is empty")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise BadPhone(f"not a phone number ({exc._msg})") from None
    # IS_POSSIBLE_LOCAL_ONLY ("0770") is not enough: we need a number that can be dialled.
    if (
        phonenumbers.is_possible_number_with_reason(number)
        != phonenumbers.ValidationResult.IS_POSSIBLE
    ):
        raise BadPhone("not a possible phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


HIDDEN = "[number hidden]"
# What the matcher does not see as a number but may well be one: ten or more digits, a few
# spaces, dots, dashes, slashes, underscores or brackets apart at most ("07700_900_123", a number
# split over two lines, a long ID-like run).
LONG_DIGIT_RUN = re.compile(r"\+?\d(?:[\s._/()\-\u2010-\u2015]{0,3}\d){9,}")


def _matches(text: str, region: str) -> Iterator[phonenumbers.PhoneNumberMatch]:
    """Numbers written any usual way, national or international, in free text: brackets, dots,
    double spaces, ``+44 (0)7700 900 123``. Only numbers that can be dialled as written count
    (IS_POSSIBLE): a year or a count ("2026", "40/50") is possible only as a local number."""
    for match in phonenumbers.PhoneNumberMatcher(
        text, region, leniency=phonenumbers.Leniency.POSSIBLE
    ):
        reason = phonenumbers.is_possible_number_with_reason(match.number)
        if reason == phonenumbers.ValidationResult.IS_POSSIBLE:
            yield match


def find_phone(text: str, region: str) -> tuple[str, int, int] | None:
    """The first phone number written in ``text``: (E.164, start, end), or None."""
    for match in _matches(text, region):
        try:
            return normalise_phone(match.raw_string, region), match.start, match.end
        except BadPhone:
            continue
    return None


def redact_phones(text: str, region: str = "GB") -> str:
    """Free text (a name, a group post, a provider's error message) with every phone number in
    it hidden. ``region`` is how a number without a country code is read
    (``settings.default_region``)."""
    spans = [(m.start, m.end) for m in _matches(text, region)]
    spans += [m.span() for m in LONG_DIGIT_RUN.finditer(text)]
    if not spans:
        return text
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start >= done:
            out.append(text[done:start])
            out.append(HIDDEN)
        done = end
    out.append(text[done:])
    return "".join(out)


def mask_phone(phone: str | None) -> str:
    """For logs: never a whole number. ``+447700900123`` -> ``+44******123``."""
    if not phone:
        return "-"
    return phone[:3] + "*" * max(len(phone) - 6, 0) + phone[-3:]
