"""SMS segment counting against Twilio's published rules (GSM-7 160/153, UCS-2 70/67)."""

from __future__ import annotations

import pytest

from config.segments import count_segments, is_gsm7

EMOJI = "😀"  # outside the Basic Multilingual Plane: two UTF-16 units
POLISH = "ą"  # one UTF-16 unit, not in GSM-7


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
    ],
)
def test_it_counts_gsm7_in_160_then_153_septet_parts(text: str, segments: int) -> None:
    assert is_gsm7(text)
    assert count_segments(text) == segments


@pytest.mark.parametrize("char", list("€^{}[]~|\\"))
def test_it_counts_each_extension_character_as_two_septets(char: str) -> None:
    assert is_gsm7(char)
    assert count_segments(char * 80) == 1
    assert count_segments(char * 81) == 2
    assert count_segments("a" * 159 + char) == 2


def test_it_never_splits_an_escape_pair_across_parts() -> None:
    # 306 septets would fit two parts of 153, but the € would straddle the first boundary.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text) == 3
    assert count_segments("a" * 151 + "€" + "a" * 153) == 2


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_it_counts_ucs2_in_70_then_67_unit_parts(length: int, segments: int) -> None:
    text = POLISH * length
    assert not is_gsm7(text)
    assert count_segments(text) == segments


def test_one_curly_quote_makes_159_letters_three_segments() -> None:
    text = "a" * 159 + "’"
    assert not is_gsm7(text)
    assert count_segments(text) == 3
    assert count_segments("a" * 159 + "'") == 1


def test_an_emoji_counts_as_two_utf16_units() -> None:
    assert count_segments(EMOJI * 35) == 1
    assert count_segments(EMOJI * 36) == 2
    assert count_segments("a" * 69 + EMOJI) == 2
    assert count_segments("👍🏽") == 1  # thumb plus skin tone: four units


def test_it_never_splits_a_surrogate_pair_across_parts() -> None:
    assert count_segments(POLISH * 66 + EMOJI + POLISH * 66) == 3
    assert count_segments(POLISH * 65 + EMOJI + POLISH * 67) == 2


@pytest.mark.parametrize("char", ["\xa0", "’", "“", "—", "ŵ", "ó", "ł", "\t", "\x1b"])
def test_a_character_outside_gsm7_makes_the_message_ucs2(char: str) -> None:
    text = f"Reply YES{char}or NO"
    assert not is_gsm7(text)
    assert count_segments("a" * 100 + char) == 2


@pytest.mark.parametrize("char", ["@", "£", "$", "¥", "è", "é", "Ä", "ß", "Δ", "¿", "\n", "à"])
def test_gsm7_basic_characters_take_one_septet(char: str) -> None:
    assert is_gsm7(char)
    assert count_segments(char * 160) == 1
