"""What a text means: one word (mostly), forgiving of case, punctuation, emoji and typos.

``parse("Yes 2!")`` -> ``Rsvp("yes", guests=2)``. The grammar knows nothing about channels or the
database; the handlers decide what an intent does for a given person.

Opt-out words are matched first and generously: texting CANCEL or END always means "stop
texting me" (carriers treat them so), never "cancel my RSVP".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_GUESTS = 20


@dataclass(frozen=True)
class Rsvp:
    response: str  # yes | no | maybe
    guests: int = 0
    # Which action, when a person has several open invitations ("YES assembly").
    action_hint: str = ""


@dataclass(frozen=True)
class CheckIn:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Lang:
    code: str


@dataclass(frozen=True)
class Commit:
    number: int
    institution_hint: str = ""


@dataclass(frozen=True)
class Count:
    institution_hint: str = ""


@dataclass(frozen=True)
class Other:
    text: str


Intent = Rsvp | CheckIn | Stop | Start | Help | Lang | Commit | Count | Other

STOP_WORDS = {
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "revoke",
    "stopio",  # Welsh
    "rezygnuje",  # Polish, "I resign" (rezygnuję without the accent)
}
START_WORDS = {"start", "unstop", "optin", "subscribe", "resubscribe"}
HELP_WORDS = {"help", "info", "helpu", "pomoc"}
YES_WORDS = {
    "yes",
    "y",
    "1",
    "yeah",
    "yea",
    "yep",
    "yup",
    "ya",
    "ye",
    "yess",
    "yesss",
    "yas",
    "ok",
    "okay",
    "sure",
    "coming",
    "ie",  # Welsh
    "tak",  # Polish
}
NO_WORDS = {"no", "n", "nope", "nah", "noo", "na", "nie", "cant", "not coming"}
MAYBE_WORDS = {
    "maybe",
    "m",
    "mabye",
    "maybee",
    "mayb",
    "mybe",
    "maby",
    "perhaps",
    "possibly",
    "efallai",  # Welsh
    "moze",  # Polish (może)
    "chyba",
}
HERE_WORDS = {"here", "arrived", "im here", "i am here", "checkin", "check in", "yma", "jestem"}
YES_EMOJI = {"👍", "✅", "🙋", "👌", "✔"}
NO_EMOJI = {"👎", "❌"}
MAYBE_EMOJI = {"🤔", "🤷"}

_NUMBER = re.compile(r"^\+?(\d{1,3})$")


def normalise(text: str) -> str:
    """Lower case, accents folded, punctuation dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = folded.replace("ł", "l").replace("’", "").replace("'", "")
    cleaned = re.sub(r"[^\w\s+]", " ", folded)
    return " ".join(cleaned.split())


def _close(word: str, vocabulary: set[str]) -> bool:
    """Exact, or one edit away for words of four letters or more (``yess``, ``maybr``)."""
    if word in vocabulary:
        return True
    if len(word) < 4:
        return False
    return any(len(v) >= 4 and _edit_distance_at_most_one(word, v) for v in vocabulary)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) <= 1:
            return True
        # One transposition ("stpo") counts as one slip.
        i, j = diffs[0], diffs[-1]
        return len(diffs) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _emoji_intent(text: str) -> Rsvp | None:
    stripped = "".join(ch for ch in text if not ch.isspace() and ch not in "\ufe0f\u200d")
    if not stripped:
        return None
    # Skin-tone modifiers ride along with the thumb.
    base = "".join(ch for ch in stripped if not 0x1F3FB <= ord(ch) <= 0x1F3FF)
    if base and all(ch in YES_EMOJI for ch in base):
        return Rsvp("yes")
    if base and all(ch in NO_EMOJI for ch in base):
        return Rsvp("no")
    if base and all(ch in MAYBE_EMOJI for ch in base):
        return Rsvp("maybe")
    return None


def parse(text: str) -> Intent:
    emoji = _emoji_intent(text)
    if emoji is not None:
        return emoji
    norm = normalise(text)
    if not norm:
        return Other(text)
    words = norm.split()
    first, rest = words[0], words[1:]
    joined = norm.replace(" ", "")

    # Opt-out first: a single word (or "opt out", "stop all", "stop texting me").
    if joined in STOP_WORDS or (len(words) <= 3 and _close(first, STOP_WORDS) and first != "end"):
        return Stop()
    if first == "end" and len(words) == 1:
        return Stop()
    if joined in START_WORDS or (len(words) == 1 and _close(first, START_WORDS)):
        return Start()
    if len(words) == 1 and _close(first, HELP_WORDS):
        return Help()
    if first in ("lang", "language", "iaith", "jezyk") and len(rest) == 1:
        return Lang(rest[0][:8])
    if first == "commit" or (len(first) >= 5 and _close(first, {"commit"})):
        if rest and rest[0].isdigit():
            return Commit(int(rest[0][:6]), " ".join(rest[1:]))
        return Other(text)
    if first == "count" and len(words) <= 4:
        return Count(" ".join(rest))
    if norm in HERE_WORDS or (len(words) == 1 and _close(first, HERE_WORDS)):
        return CheckIn()

    response = _response(first)
    if response is not None:
        guests, hint = _guests_and_hint(rest)
        if guests is None:
            return Other(text)
        return Rsvp(response, guests if response != "no" else 0, hint)
    # "Y2", "yes+2"
    m = re.fullmatch(r"(y|yes)\+?(\d{1,2})", joined)
    if m:
        guests = int(m.group(2))
        return Rsvp("yes", guests) if guests <= MAX_GUESTS else Other(text)
    if norm in NO_WORDS:
        return Rsvp("no")
    return Other(text)


def _response(word: str) -> str | None:
    if word in YES_WORDS or _close(word, {w for w in YES_WORDS if len(w) >= 4} | {"yes"}):
        return "yes"
    if word in MAYBE_WORDS or _close(word, MAYBE_WORDS):
        return "maybe"
    if word in NO_WORDS:
        return "no"
    return None


def _guests_and_hint(rest: list[str]) -> tuple[int | None, str]:
    """``["2"]`` -> 2 guests; ``["+2", "guests"]`` -> 2; ``["assembly"]`` -> hint."""
    if not rest:
        return 0, ""
    m = _NUMBER.match(rest[0])
    if m:
        guests = int(m.group(1))
        if guests > MAX_GUESTS:
            return None, ""
        tail = [w for w in rest[1:] if w not in ("guest", "guests", "more", "others", "people")]
        return guests, " ".join(tail)
    if len(rest) > 3:
        # A sentence that starts with "yes" is a message, not an RSVP.
        return None, ""
    return 0, " ".join(rest)
