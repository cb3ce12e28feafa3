"""What a text means: one word (mostly), forgiving of case, punctuation, emoji and typos.

``parse("Yes 2!")`` -> ``Rsvp("yes", guests=2)``. The grammar knows nothing about channels or the
database; the handlers decide what an intent does for a given person (bot/handlers/router.py).

Every channel feeds it: an SMS, a Telegram message, a Telegram command. A Telegram command is
the word with a slash (and perhaps ``@botname``): ``/commit 40 st marys`` parses exactly like
``COMMIT 40 st marys``. The one difference: a command is what it says even when its arguments
are missing or wrong (``/commit`` asks how to use it), while the same word typed alone is just
a message (``commit`` goes to the inbox).

Opt-out words are matched first and generously: texting CANCEL or END always means "stop
texting me" (carriers treat them so), never "cancel my RSVP". Typos are forgiven only when the
whole message is one word ("stpo", "mabye"): the first word of a sentence must be exact, or
"Year 6 trip?" would be a YES with six guests. Opting back in takes an exact START.

The words, and what they mean in every channel (README, "What people can text"):

* ``YES`` / ``NO`` / ``MAYBE`` (``YES 2``, ``YES assembly``): :class:`Rsvp`; a tap on an RSVP
  button is an Rsvp too, with its :class:`Button`.
* ``HERE``: :class:`CheckIn`; ``STOP`` / ``START``; ``HELP``; ``LANG CY``; ``PRIVACY``
  (``PREIFATRWYDD``, ``PRYWATNOŚĆ``): :class:`Privacy`, the alliance's privacy notice.
* ``COMMIT 40 [action] [institution]``: :class:`Commit`, an institution's pledge.
* ``COUNT`` and ``TURNOUT`` [action] [institution]: the numbers (:class:`Count` without a
  number is the same as :class:`Turnout`). ``COUNT 37`` [action] [institution]: the headcount at
  the door, during an action.
* ``CHASE``: who has not replied, by name. ``RSVP``: the RSVP question (:class:`RsvpCard`: a
  card with buttons in a group, the person's own invitations in private).
* ``ACTIONS``, ``DIGEST``, ``LINKCODE ...``: for leaders and organisers.
* ``LOG [kind] who [YES|NO]: notes``: :class:`Log`, a face-to-face conversation or follow-up.
* Anything else: :class:`Other` (the inbox, or the answer to a listening question).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.text import normalise

MAX_GUESTS = 20
# The largest number a leader's command takes (a commitment, a headcount).
MAX_NUMBER = 100_000


@dataclass(frozen=True)
class Button:
    """Where a tap on an RSVP button came from: the action it answers (fixed by the button),
    the card it is on (a group's card; None for a button in a private chat, which only ever
    answers the person's own invitation), and whether it was "+1 guest"."""

    action_id: int
    card_id: int | None = None
    institution_id: int | None = None  # the card's institution
    more: bool = False


@dataclass(frozen=True)
class Rsvp:
    response: str  # yes | no | maybe
    # A YES's guests: None when the text did not say ("YES": keep those already given),
    # 0 when it did ("YES 0"). Always None for NO and MAYBE (they bring no one).
    guests: int | None = None
    # Which action, when a person has several open invitations ("YES assembly").
    action_hint: str = ""
    # A tap on a button (never from text): the action is the button's.
    button: Button | None = None


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
class Privacy:
    pass


@dataclass(frozen=True)
class Lang:
    code: str


@dataclass(frozen=True)
class Commit:
    """``COMMIT 40 [action] [institution]``: the words after the number are the hint (an
    upcoming action's short name, an institution's name, or both)."""

    number: int
    hint: str = ""


@dataclass(frozen=True)
class Count:
    """``COUNT [hint]``: the numbers (as TURNOUT); ``COUNT 37 [hint]``: a headcount."""

    hint: str = ""
    number: int | None = None


@dataclass(frozen=True)
class Turnout:
    hint: str = ""


@dataclass(frozen=True)
class Chase:
    hint: str = ""


@dataclass(frozen=True)
class RsvpCard:
    """``RSVP [action]``: ask the RSVP question with buttons (a group: a card for the group's
    institution; in private: the person's own open invitations)."""

    hint: str = ""


@dataclass(frozen=True)
class Digest:
    pass


@dataclass(frozen=True)
class Actions:
    pass


@dataclass(frozen=True)
class LinkCode:
    """``LINKCODE St Mary`` (a group's code) or ``LINKCODE 07700 900123`` (a person's), as
    typed: a phone number is read from it as written."""

    arg: str = ""


@dataclass(frozen=True)
class Usage:
    """A command given without what it needs (``/commit``, ``/count -5``): say how."""

    command: str


@dataclass(frozen=True)
class Log:
    """``LOG DOORSTEP 07700 900123 YES: worried about the damp``, ``LOG 121 Ann Patel: ...``,
    ``LOG FOLLOWUP Ann Patel: met for coffee``. ``kind``: one_to_one | house_meeting | doorstep
    | follow_up; ``consent``: the person's YES / NO to being followed up (a conversation only).
    Without a name and notes (``LOG the damp``) it is not ``complete``: the sender is told how.
    From someone who leads nothing it is just a message (``text``)."""

    text: str
    kind: str = "doorstep"
    who: str = ""
    consent: str | None = None
    notes: str = ""
    complete: bool = False  # it had a name (or number) and notes

    @property
    def follow_up(self) -> bool:
        return self.kind == "follow_up"


@dataclass(frozen=True)
class Other:
    text: str


Intent = (
    Rsvp
    | CheckIn
    | Stop
    | Start
    | Help
    | Privacy
    | Lang
    | Commit
    | Count
    | Turnout
    | Chase
    | RsvpCard
    | Digest
    | Actions
    | LinkCode
    | Usage
    | Log
    | Other
)

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
# PRIVACY in English, Welsh and Polish (PRYWATNOŚĆ: the normaliser folds its accents).
PRIVACY_WORDS = {"privacy", "preifatrwydd", "prywatnosc"}
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


# A leader's number as typed: ASCII digits only ("²" and other scripts' digits are digits to
# Python, not to us), perhaps followed by a full stop or a comma.
_LEADER_NUMBER = re.compile(r"^([0-9]{1,6})[.,;:!]?$")
# A command as Telegram sends it: the word with a slash, perhaps addressed to the bot by name.
_SLASH = re.compile(r"^\s*/(\w+)(?:@\w+)?(?=\s|$)")
# The words that are commands with a slash too (a Telegram command menu offers most of them).
# Any other "/word" is not ours to understand: Other.
COMMANDS = frozenset(
    {
        "yes",
        "no",
        "maybe",
        "here",
        "stop",
        "start",
        "help",
        "privacy",
        "lang",
        "rsvp",
        "commit",
        "count",
        "turnout",
        "chase",
        "actions",
        "digest",
        "linkcode",
        "log",
    }
)
# Leaders' words typed without a slash are commands only in short messages ("chase st marys",
# not "chase the council about the potholes").
MAX_COMMAND_WORDS = 4


def command_word(text: str) -> str | None:
    """The command a text gives with a slash (``"/commit@bot 40"`` -> ``"commit"``), else None."""
    slash = _SLASH.match(text)
    return None if slash is None else slash.group(1).lower()


def parse(text: str) -> Intent:
    slash = _SLASH.match(text)
    if slash is None:
        return _parse(text, text, command=False)
    word = slash.group(1).lower()
    if word not in COMMANDS:
        return Other(text)
    return _parse(word + text[slash.end() :], text, command=True)


def _parse(text: str, original: str, *, command: bool) -> Intent:
    """``text``: the message (a command without its slash); ``original``: as received."""
    emoji = None if command else _emoji_intent(text)
    if emoji is not None:
        return emoji
    norm = normalise(text)
    if not norm:
        return Other(original)
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
    if single and _close(first, PRIVACY_WORDS):
        return Privacy()
    if first in LANG_WORDS and len(rest) <= 1:
        return Lang(rest[0][:8] if rest else "")
    if first == "log":
        return _log(text, original)
    if norm in PHRASES:
        return PHRASES[norm]
    leader = _leader(first, words, text.split(), original, command=command)
    if leader is not None:
        return leader
    if single and _close(first, HERE_WORDS):
        return CheckIn()
    if first == "rsvp" and (command or len(words) <= MAX_COMMAND_WORDS):
        if rest:  # "RSVP yes 2" is the answer; "RSVP assembly" asks the question
            answer = _parse(" ".join(text.split()[1:]), original, command=False)
            if isinstance(answer, Rsvp):
                return answer
        return RsvpCard(" ".join(rest))
    if single or ("?" not in text and norm not in NOT_ANSWERS):
        rsvp = _rsvp(first, rest)
        if rsvp is not None:
            return rsvp
    return Other(original)


def _leader(
    first: str, words: list[str], raw: list[str], original: str, *, command: bool
) -> Intent | None:
    """COMMIT, COUNT, TURNOUT, CHASE, ACTIONS, DIGEST, LINKCODE. ``raw``: the text's words as
    typed (a number is read from them, not from the normalised text: "-5" is not 5)."""
    arg = raw[1] if len(raw) > 1 else ""
    short = command or len(words) <= MAX_COMMAND_WORDS
    if _close(first, {"commit"}):
        number = _number(arg)
        if number is not None:
            return Commit(number, normalise(" ".join(raw[2:])))
        return Usage("commit") if command else Other(original)
    if first == "count" and short:
        number = _number(arg)
        if number is not None:
            return Count(normalise(" ".join(raw[2:])), number)
        if any(ch.isdigit() or ch.isnumeric() for ch in arg):
            return Usage("count")  # "COUNT -5", "/count ²": a number that is not one
        return Count(" ".join(words[1:]))
    if first == "turnout" and short:
        return Turnout(" ".join(words[1:]))
    if first == "chase" and short:
        return Chase(" ".join(words[1:]))
    if first == "actions" and (command or len(words) == 1):
        return Actions()
    if first == "digest" and (command or len(words) == 1):
        return Digest()
    if first == "linkcode" and (command or len(words) <= 2 * MAX_COMMAND_WORDS):
        return LinkCode(" ".join(raw[1:]))
    return None


def _number(word: str) -> int | None:
    match = _LEADER_NUMBER.match(word)
    if match is None:
        return None
    number = int(match.group(1))
    return number if number <= MAX_NUMBER else None


LOG_COMMAND = re.compile(
    r"""^\s*log\s+
    (?:(?P<kind>1:1|1-1|121|one[ -]to[ -]one|house(?:\s+meeting)?|doorstep|door|
        follow[ -]?up|followed[ -]?up)\s+)?
    (?P<who>[^:]*?)\s*:\s*(?P<notes>.+)$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
LOG_KINDS = {
    "1:1": "one_to_one",
    "1-1": "one_to_one",
    "121": "one_to_one",
    "one to one": "one_to_one",
    "house": "house_meeting",
    "house meeting": "house_meeting",
    "doorstep": "doorstep",
    "door": "doorstep",
}
CONSENT_WORDS = {"yes": "yes", "y": "yes", "ie": "yes", "tak": "yes", "no": "no", "n": "no"}
CONSENT_WORDS |= {"na": "no", "nie": "no"}


def _log(text: str, original: str) -> Log:
    """``LOG [kind] who [YES|NO]: notes``; the kind is a conversation at the door unless said
    (1:1, 121, house meeting), or a follow-up (FOLLOWUP, no consent word)."""
    match = LOG_COMMAND.match(text)
    if match is None or not match.group("who").strip():
        return Log(original)
    kind_word = " ".join((match.group("kind") or "doorstep").lower().replace("-", " ").split())
    follow_up = kind_word.replace(" ", "").startswith(("followup", "followedup"))
    who_words = match.group("who").split()
    consent = None
    if not follow_up and who_words and who_words[-1].lower() in CONSENT_WORDS:
        consent = CONSENT_WORDS[who_words.pop().lower()]
    return Log(
        original,
        kind="follow_up" if follow_up else LOG_KINDS.get(kind_word, "doorstep"),
        who=" ".join(who_words),
        consent=consent,
        notes=match.group("notes").strip(),
        complete=True,
    )


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
