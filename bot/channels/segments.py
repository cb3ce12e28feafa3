"""SMS segment counting (GSM-7 vs UCS-2), as carriers bill it.

GSM-7: 160 characters in one SMS, 153 per part when split; the extension characters
``^{}\\[~]|€`` and form feed take two septets each. Any character outside GSM-7 (a curly quote,
an emoji, a non-breaking space) makes the whole message UCS-2: 70 UTF-16 units in one SMS, 67 per
part. One stray ’ can triple the price of a long message.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def count_segments(text: str) -> int:
    """How many SMS segments ``text`` is billed as (0 for the empty string)."""
    if not text:
        return 0
    if is_gsm7(text):
        septets = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)
