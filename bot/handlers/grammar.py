"""What a text means: one word (mostly), forgiving of case, punctuation, emoji and typos.

``parse("Yes 2!")`` -> ``Rsvp("yes", guests=2)``. The grammar knows nothing about channels or the
database; the handlers decide what an intent does for a given person.

Opt-out words are matched first and generously: texting CANCEL or END always means "stop
texting me" (carriers treat them so), never "cancel my RSVP". Typos are forgiven only when the
whole message is one word ("stpo", "mabye"): the first word of a sentence must be exact, or
"Year 6 trip?" would be a YES with six guests. Opting back in takes an exact START.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.text import normalise

MAX_GUESTS = 20


@dataclass(frozen=True)
class Rsvp:
    response: str  # yes | no | maybe
    # A YES's guests: None when the text did not say ("YES": keep those already given),
    # 0 when it did ("YES 0"). Always None for NO and MAYBE (they bring no one).
    guests: int | None = None
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
# Words that may surround STOP or START without changing what it means ("please stop texting me").
KEYWORD_FILLER = {
    "please",
    "pls",
    "plz",
    "now",
    "all",
    "it",
    "me",
    "us",
    "again",
    "text",
    "texts",
    "texting",
    "message",
    "messages",
    "messaging",
    "sending",
    "contacting",
    "this",
    "these",
    "thanks",
    "thank",
    "you",
}
HELP_WORDS = {"help", "info", "helpu", "cymorth", "pomoc"}
LANG_WORDS = {"lang", "language", "iaith", "jezyk"}
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
    "yas",
    "ok",
    "okay",
    "sure",
    "coming",
    "ie",  # Welsh
    "ydw",  # Welsh, "I am"
    "dof",  # Welsh, "I'll come"
    "byddaf",  # Welsh, "I'll be (there)"
    "tak",  # Polish
    "bede",  # Polish, "I'll be (there)" (będę)
    "przyjde",  # Polish, "I'll come" (przyjdę)
    "jasne",  # Polish, "sure"
}
NO_WORDS = {"no", "n", "nope", "nah", "cant", "na", "nie"}
MAYBE_WORDS = {
    "maybe",
    "m",
    "mayb",
    "mybe",
    "maby",
    "perhaps",
    "possibly",
    "efallai",  # Welsh
    "moze",  # Polish (może)
    "chyba",  # Polish, "probably"
}
HERE_WORDS = {"here", "arrived", "checkin", "yma", "jestem"}
# Whole messages of more than one word whose meaning the word rules would get wrong or miss,
# written as people type them ("I'm in" and "Im in" normalise alike).
_PHRASES: dict[str, Rsvp | CheckIn] = {
    "count me in": Rsvp("yes"),
    "I'm in": Rsvp("yes"),
    "can't wait": Rsvp("yes"),
    "I'll be there": Rsvp("yes"),
    "I will be there": Rsvp("yes"),
    "see you there": Rsvp("yes"),
    "na pewno": Rsvp("yes"),  # Polish, "definitely"
    "count me out": Rsvp("no"),
    "not coming": Rsvp("no"),
    "I'm not coming": Rsvp("no"),
    "can't come": Rsvp("no"),
    "I can't come": Rsvp("no"),
    "not sure": Rsvp("maybe"),
    "I'm not sure": Rsvp("maybe"),
    "don't know": Rsvp("maybe"),
    "I don't know": Rsvp("maybe"),
    "nie wiem": Rsvp("maybe"),  # Polish, "I don't know"
    "ddim yn siwr": Rsvp("maybe"),  # Welsh, "not sure"
    "I'm here": CheckIn(),
    "I am here": CheckIn(),
    "here now": CheckIn(),
    "just arrived": CheckIn(),
    "I've arrived": CheckIn(),
    "check in": CheckIn(),
    "dw i yma": CheckIn(),  # Welsh
    "rydw i yma": CheckIn(),
    "juz jestem": CheckIn(),  # Polish, "I'm here already"
}


PHRASES: dict[str, Rsvp | CheckIn] = {
    normalise(phrase): meaning for phrase, meaning in _PHRASES.items()
}

# Start like an answer but are not one.
NOT_ANSWERS = {"no problem", "no worries", "no bother", "no probs"}
YES_EMOJI = {"👍", "✅", "🙋", "👌", "✔"}
NO_EMOJI = {"👎", "❌"}
MAYBE_EMOJI = {"🤔", "🤷"}

_NUMBER = re.compile(r"^\+?(\d{1,3})$")


def _squeeze(word: str) -> str:
    """Letters held down collapse to one: ``yesss`` -> ``yes``, ``stopp`` -> ``stop``."""
    return re.sub(r"(.)\1+", r"\1", word)


def _same(word: str, vocabulary: set[str]) -> bool:
    """Exact, or with letters held down (``yesss``, ``noo``, ``maybee``)."""
    return word in vocabulary or _squeeze(word) in {_squeeze(known) for known in vocabulary}


def _close(word: str, vocabulary: set[str]) -> bool:
    """``word`` is in ``vocabulary`` give or take a slip of the thumb: letters held down
    (``yesss``), two neighbours swapped (``stpo``, four letters or more), or for words of five
    letters or more one letter wrong, missing or extra (``unsubscibe``, ``maybee``). Shorter
    words get no more than that: ``year``, ``more`` and ``where`` are real words."""
    if _same(word, vocabulary):
        return True
    for known in vocabulary:
        if len(word) >= 4 and len(known) >= 4 and _swapped(word, known):
            return True
        if len(word) >= 5 and len(known) >= 5 and _one_edit(word, known):
            return True
    return False


def _swapped(a: str, b: str) -> bool:
    """Equal but for two neighbouring letters in the other order."""
    if len(a) != len(b):
        return False
    diffs = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diffs) != 2:
        return False
    i, j = diffs
    return j == i + 1 and a[i] == b[j] and a[j] == b[i]


def _one_edit(a: str, b: str) -> bool:
    """One letter substituted, inserted or deleted."""
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return len(long_) == len(short) + 1 and any(
        long_[:i] + long_[i + 1 :] == short for i in range(len(long_))
    )


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


def _keyword(words: list[str], vocabulary: set[str], *, forgiving: bool) -> bool:
    """The message is one of ``vocabulary`` (run together or spaced: "opt out", "stop all"),
    or such a word among filler ("please stop texting me")."""
    if "".join(words) in vocabulary:
        return True
    if len(words) == 1:
        return forgiving and _close(words[0], vocabulary)
    # END inside a sentence is just a word ("end of the road").
    return any(w in vocabulary and w != "end" for w in words) and all(
        w in vocabulary or w in KEYWORD_FILLER for w in words
    )


def parse(text: str) -> Intent:
    emoji = _emoji_intent(text)
    if emoji is not None:
        return emoji
    norm = normalise(text)
    if not norm:
        return Other(text)
    words = re.sub(r"\bopt (out|in)\b", r"opt\1", norm).split()  # "opt out please"
    first, rest = words[0], words[1:]
    single = len(words) == 1

    # Opt-out first and generously (typos too); opting back in must be deliberate.
    if _keyword(words, STOP_WORDS, forgiving=True):
        return Stop()
    if _keyword(words, START_WORDS, forgiving=False):
        return Start()
    if single and _close(first, HELP_WORDS):
        return Help()
    if first in LANG_WORDS and len(rest) <= 1:
        return Lang(rest[0][:8] if rest else "")
    if norm in PHRASES:
        return PHRASES[norm]
    if _close(first, {"commit"}):
        if rest and rest[0].isdigit():
            return Commit(int(rest[0][:6]), " ".join(rest[1:]))
        return Other(text)
    if first == "count" and len(words) <= 4:
        return Count(" ".join(rest))
    if single and _close(first, HERE_WORDS):
        return CheckIn()
    if single or ("?" not in text and norm not in NOT_ANSWERS):
        rsvp = _rsvp(first, rest)
        if rsvp is not None:
            return rsvp
    return Other(text)


def _rsvp(first: str, rest: list[str]) -> Rsvp | None:
    """``yes``, ``YES 2``, ``Y2``, ``yes +2 guests``, ``no thanks``, ``maybe assembly``."""
    joined = re.fullmatch(r"(y|yes)\+?(\d{1,3})", first)  # "Y2", "yes+2"
    if joined:
        first, rest = "yes", [joined.group(2), *rest]
    response = _response(first, forgiving=not rest)
    if response is None:
        return None
    found = _guests_and_hint(rest)
    if found is None or (found[1] and len(first) < 2):
        # "1 more question", "n o t": one letter is an answer only alone or with a number.
        return None
    guests, hint = found
    return Rsvp(response, guests if response == "yes" else None, hint)


def _response(word: str, *, forgiving: bool) -> str | None:
    """yes / no / maybe for an answer word; typos forgiven only when it is the whole message."""
    answers = (("yes", YES_WORDS), ("maybe", MAYBE_WORDS), ("no", NO_WORDS))
    for response, vocabulary in answers:
        if _same(word, vocabulary):
            return response
    for response, vocabulary in answers:
        if forgiving and _close(word, vocabulary):
            return response
    return None


def _guests_and_hint(rest: list[str]) -> tuple[int | None, str] | None:
    """``[]`` -> no number given (None); ``["2"]`` -> 2 guests; ``["+2", "guests"]`` and
    ``["with", "2"]`` -> 2; ``["0"]`` -> 0; ``["assembly"]`` -> a hint. None when there are
    too many guests or it reads like a sentence."""
    if rest and rest[0] in ("with", "plus", "and"):
        rest = rest[1:]
    if not rest:
        return None, ""
    m = _NUMBER.match(rest[0])
    if m:
        guests = int(m.group(1))
        if guests > MAX_GUESTS:
            return None
        tail = [w for w in rest[1:] if w not in ("guest", "guests", "more", "others", "people")]
        return guests, " ".join(tail)
    if len(rest) > 3:
        # A sentence that starts with "yes" is a message, not an RSVP.
        return None
    return None, " ".join(rest)
