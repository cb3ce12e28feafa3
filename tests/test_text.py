"""The one normaliser (config.text): what the grammar, the theme rules and name matching see."""

from __future__ import annotations

import pytest

from config.text import abbreviates, normalise, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Welsh: apostrophes, straight or curly (or the modifier letter), split words.
        ("Mae'r bysiau'n rhy ddrud", "mae r bysiau n rhy ddrud"),
        ("Mae\u2019r bysiau\u2019n rhy ddrud", "mae r bysiau n rhy ddrud"),
        ("Mae\u02bcr bysiau\u02bcn", "mae r bysiau n"),
        ("Dw i'n dod i'r cyfarfod", "dw i n dod i r cyfarfod"),
        ("Tŷ a thai'r cyngor", "ty a thai r cyngor"),
        # Polish: accents folded, ł too.
        ("Będę! Przyjdę z żoną", "bede przyjde z zona"),
        ("Złe połączenia autobusowe", "zle polaczenia autobusowe"),
        # English contraction endings stay on their word, as people type them without.
        ("Can't come", "cant come"),
        ("I\u2019m here", "im here"),
        ("I'll be there, we've got 2", "ill be there weve got 2"),
        ("Rent's gone up", "rents gone up"),
        ("St Mary's Church", "st marys church"),
        # An apostrophe that starts a name splits it.
        ("Patrick O'Brien", "patrick o brien"),
        ("d'Arcy", "d arcy"),
        # Case, punctuation, spacing; "+" stays for "YES +2".
        ("  YES +2!! ", "yes +2"),
        ("Al-Noor Mosque", "al noor mosque"),
        ("?!...", ""),
    ],
)
def test_it_normalises(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("hint", "name", "expected"),
    [
        ("mary", "St Mary's Church", True),
        ("st marys", "St Mary's Church", True),
        ("stmarys", "St Mary's Church", True),
        ("St Mary's Church", "St Mary's Church", True),
        ("church", "St Mary's Church", True),
        ("ary", "St Mary's Church", False),  # starts inside a word
        ("alnoor", "Al-Noor Mosque", True),
        ("housing march", "housing-march", True),
        ("march", "Housing March", True),
        ("please", "Housing March", False),
        ("ok", "Okehampton Assembly", False),  # too short to be a prefix
        ("st", "St Mary's Church", True),  # short, but a whole word
        ("", "St Mary's Church", False),
    ],
)
def test_a_hint_abbreviates_a_name_from_the_start_of_a_word(
    hint: str, name: str, expected: bool
) -> None:
    assert abbreviates(words(hint), words(name)) is expected
