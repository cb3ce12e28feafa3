"""Text as the bot compares it: one normaliser, used by the grammar (what a text means), the
listening theme rules, and every place a person names something (an action, an institution).

``normalise("Mae'r bysiau'n rhy ddrud!")`` -> ``"mae r bysiau n rhy ddrud"``: case and accents
folded, punctuation dropped, and apostrophes (straight, curly or the modifier letter) split
words, so a Welsh contraction keeps the word it is attached to ("bysiau" is still a word).
English contraction endings ('t 'm 's 'd 'll 've 're) stay on their word instead, as if the
apostrophe had not been typed, as many people type them: "can't" and "cant" are both "cant",
"I'm in" is "im in", "Rent's" is "rents". Welsh endings ('r 'n 'i 'w) are not among them.

``table`` prints rows as a plain text table (the CLI, the digest). No I/O, no project imports.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# A hint this short must be whole words of the name it stands for ("yes ok" names no action
# whose title merely has a word starting "ok").
MIN_PREFIX = 3

_NOT_WORD = re.compile(r"[^\w\s+]")
_APOSTROPHE = "'\u2019\u02bc"
_ENGLISH_ENDING = re.compile(rf"(?<=\w)[{_APOSTROPHE}](t|m|s|d|ll|ve|re)\b")


def normalise(text: str) -> str:
    """Lower case, accents folded, punctuation dropped (apostrophes split words but for
    English contraction endings), whitespace collapsed. ``+`` is kept (``YES +2``)."""
    folded = text.casefold()
    if "'" in folded or "\u2019" in folded or "\u02bc" in folded:  # most texts have none
        # U+02BC (the modifier letter apostrophe) is a letter to \w: split it by hand.
        folded = _ENGLISH_ENDING.sub(r"\1", folded).replace("\u02bc", " ")
    folded = unicodedata.normalize("NFKD", folded)
    if not folded.isascii():
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).replace("ł", "l")
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def words(text: str) -> list[str]:
    return normalise(text).split()


def abbreviates(hint: Sequence[str], name: Sequence[str]) -> bool:
    """The words ``hint`` are a short way of writing the words ``name``: their letters, with
    the spaces taken out, start at one of the name's words. "mary", "st marys" and "stmarys"
    all abbreviate "st mary s church"; "housing march" abbreviates "housing march" (a slug's
    words); "ary" does not (it starts inside a word). A hint of fewer than MIN_PREFIX letters
    must end where a word of the name ends."""
    wanted = "".join(hint)
    if not wanted:
        return False
    for start in range(len(name)):
        rest = "".join(name[start:])
        if not rest.startswith(wanted):
            continue
        if len(wanted) >= MIN_PREFIX:
            return True
        ends = 0
        for word in name[start:]:
            ends += len(word)
            if ends >= len(wanted):
                break
        if ends == len(wanted):
            return True
    return False


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: text columns left-aligned, numbers right-aligned."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [
        all(isinstance(r[i], int | float) or r[i] in (None, "-") for r in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)
