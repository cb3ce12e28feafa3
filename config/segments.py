"""SMS segment counting (GSM-7 vs UCS-2), as carriers bill it.

GSM-7: 160 septets in one SMS, 153 per part when split; the extension characters
``^{}\\[~]|€`` and form feed take two septets (an escape and the character). Any character
outside GSM-7 (a curly quote, an emoji, a non-breaking space) makes the whole message UCS-2: 70
UTF-16 units in one SMS, 67 per part, and an emoji outside the Basic Multilingual Plane takes
two units. One stray ’ can triple the price of a long message.

A character is never split across parts: a two-septet character (or a surrogate pair) that
would straddle a part boundary starts the next part, as handsets and Twilio's segment
calculator do. So 152 letters, a ``€`` and 152 more letters (306 septets) make three parts.
"""

from __future__ import annotations

from collections.abc import Iterable

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


GSM7 = GSM7_BASIC | GSM7_EXTENDED


def is_gsm7(text: str) -> bool:
    return GSM7.issuperset(text)


def count_segments(text: str) -> int:
    """How many SMS segments ``text`` is billed as (0 for the empty string)."""
    if not text:
        return 0
    if is_gsm7(text):
        # Set operations and str.count run in C: every reply is counted on the inbound path.
        doubled = sum(text.count(ch) for ch in GSM7_EXTENDED.intersection(text))
        if len(text) + doubled <= GSM7_SINGLE:
            return 1
        septets = (2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return _parts(septets, GSM7_SINGLE, GSM7_PART)
    if len(text) <= UCS2_SINGLE // 2 or (
        len(text) <= UCS2_SINGLE and all(ord(ch) <= 0xFFFF for ch in text)
    ):
        return 1
    units = (2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return _parts(units, UCS2_SINGLE, UCS2_PART)


def _parts(sizes: Iterable[int], single: int, part: int) -> int:
    """Parts needed for characters of the given sizes, never splitting a character."""
    sizes = list(sizes)
    if sum(sizes) <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts
