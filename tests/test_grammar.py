"""What a text means: one table of real-looking messages and the intent each must give."""

from __future__ import annotations

import pytest

from bot.handlers.grammar import (
    Actions,
    Chase,
    CheckIn,
    Commit,
    Count,
    Digest,
    Help,
    Intent,
    Lang,
    LinkCode,
    Log,
    Other,
    Rsvp,
    RsvpCard,
    Start,
    Stop,
    Turnout,
    Usage,
    parse,
)

YES, NO, MAYBE = Rsvp("yes"), Rsvp("no"), Rsvp("maybe")

CASES: list[tuple[str, Intent]] = [
    # Yes, however it is typed.
    ("YES", YES),
    ("Y", YES),
    ("1", YES),
    ("yes!", YES),
    ("Yes.", YES),
    ("  yes  ", YES),
    ("YESS", YES),
    ("yesss", YES),
    ("yeah", YES),
    ("Yep", YES),
    ("ok", YES),
    ("👍", YES),
    ("👍🏽", YES),
    ("👍👍", YES),
    ("✅", YES),
    ("✔️", YES),
    ("yes please", Rsvp("yes", action_hint="please")),
    ("Count me in!", YES),
    ("I'm in", YES),
    ("Im in", YES),
    ("I’ll be there", YES),
    ("yes I'd love to", Rsvp("yes", action_hint="id love to")),
    # Guests.
    ("YES 2", Rsvp("yes", 2)),
    ("yes +2", Rsvp("yes", 2)),
    ("Y2", Rsvp("yes", 2)),
    ("y 2", Rsvp("yes", 2)),
    ("yes+2", Rsvp("yes", 2)),
    ("yes 2 guests", Rsvp("yes", 2)),
    ("yes with 3", Rsvp("yes", 3)),
    ("Yes 20", Rsvp("yes", 20)),
    ("yes 50", Other("yes 50")),
    ("Y50", Other("Y50")),
    ("yes assembly", Rsvp("yes", action_hint="assembly")),
    # A number of guests said, or not: "YES" keeps the guests already given, "YES 0" sets none.
    ("YES 0", Rsvp("yes", 0)),
    ("yes 0 guests", Rsvp("yes", 0)),
    ("Y0", Rsvp("yes", 0)),
    ("yes 2 housing march", Rsvp("yes", 2, "housing march")),
    # No.
    ("NO", NO),
    ("N", NO),
    ("nope", NO),
    ("no.", NO),
    ("Noo", NO),
    ("👎", NO),
    ("❌", NO),
    ("no sorry", Rsvp("no", action_hint="sorry")),
    ("no 2", NO),  # guests only count on a yes
    ("Can't come", NO),
    ("Can’t come", NO),
    ("cant come", NO),
    ("Can't make it", Rsvp("no", action_hint="make it")),
    ("can't", NO),
    ("count me out", NO),
    # Maybe.
    ("MAYBE", MAYBE),
    ("M", MAYBE),
    ("mabye", MAYBE),
    ("maybee", MAYBE),
    ("maby", MAYBE),
    ("perhaps", MAYBE),
    ("🤔", MAYBE),
    ("not sure", MAYBE),
    ("Don't know", MAYBE),
    ("I dont know", MAYBE),
    ("Maybe, depends on work", Rsvp("maybe", action_hint="depends on work")),
    # Welsh and Polish answers.
    ("ie", YES),
    ("IE 2", Rsvp("yes", 2)),
    ("na", NO),
    ("efallai", MAYBE),
    ("Efallai.", MAYBE),
    ("tak", YES),
    ("TAK 2", Rsvp("yes", 2)),
    ("nie", NO),
    ("może", MAYBE),
    ("MOZE", MAYBE),
    ("Nie wiem", MAYBE),
    ("Na pewno!", YES),
    # Arriving.
    ("HERE", CheckIn()),
    ("here!", CheckIn()),
    ("arrived", CheckIn()),
    ("I'm here", CheckIn()),
    ("I’m here", CheckIn()),
    ("hree", CheckIn()),
    ("yma", CheckIn()),
    ("Jestem", CheckIn()),
    ("I've arrived", CheckIn()),
    ("Dw i yma", CheckIn()),
    # Opting out: every carrier keyword, typos, and CANCEL / END never mean "cancel my RSVP".
    ("STOP", Stop()),
    ("stop.", Stop()),
    ("Stop!!", Stop()),
    ("STOPALL", Stop()),
    ("stop all", Stop()),
    ("UNSUBSCRIBE", Stop()),
    ("unsubscibe", Stop()),
    ("CANCEL", Stop()),
    ("cancel", Stop()),
    ("END", Stop()),
    ("end", Stop()),
    ("QUIT", Stop()),
    ("OPTOUT", Stop()),
    ("opt out", Stop()),
    ("opt-out", Stop()),
    ("Opt out please", Stop()),
    ("REVOKE", Stop()),
    ("Stop texting me", Stop()),
    ("please stop", Stop()),
    ("STOP STOP STOP", Stop()),
    ("stpo", Stop()),
    ("stopp", Stop()),
    ("stopio", Stop()),
    ("rezygnuję", Stop()),
    # Opting back in, which must be deliberate.
    ("START", Start()),
    ("start", Start()),
    ("UNSTOP", Start()),
    ("start again", Start()),
    ("opt in", Start()),
    # Help.
    ("HELP", Help()),
    ("INFO", Help()),
    ("help?", Help()),
    ("pomoc", Help()),
    # Language.
    ("LANG cy", Lang("cy")),
    ("language polski", Lang("polski")),
    ("iaith cymraeg", Lang("cymraeg")),
    ("LANG", Lang("")),
    # Leaders.
    ("COMMIT 40", Commit(40)),
    ("commit 40 st marys", Commit(40, "st marys")),
    ("Commit 40 St Mary's", Commit(40, "st marys")),
    ("comit 25", Commit(25)),
    ("COUNT", Count()),
    ("count st marys", Count("st marys")),
    # Free text goes to the inbox, never an RSVP by accident.
    (
        "The damp in our flat is making my kids ill",
        Other("The damp in our flat is making my kids ill"),
    ),
    (
        "yes the housing issue really matters to me and my neighbours",
        Other("yes the housing issue really matters to me and my neighbours"),
    ),
    ("here is my question about the bus", Other("here is my question about the bus")),
    ("I said no to the council", Other("I said no to the council")),
    ("No one listens to us round here", Other("No one listens to us round here")),
    ("no problem", Other("no problem")),
    ("Ok who is this?", Other("Ok who is this?")),
    ("1 more question", Other("1 more question")),
    ("Year 6 trip", Other("Year 6 trip")),
    ("More info please", Other("More info please")),
    ("more", Other("more")),
    ("baby", Other("baby")),
    ("year", Other("year")),
    ("Where?", Other("Where?")),
    ("there", Other("there")),
    ("shop", Other("shop")),
    ("top", Other("top")),
    ("end of the road", Other("end of the road")),
    ("Stop the closure of our library", Other("Stop the closure of our library")),
    ("smart", Other("smart")),
    ("commit", Other("commit")),
    ("2", Other("2")),
    # Nothing at all.
    ("", Other("")),
    ("   ", Other("   ")),
    ("?!...", Other("?!...")),
    ("🙂", Other("🙂")),
]


@pytest.mark.parametrize(("text", "intent"), CASES, ids=[repr(text) for text, _ in CASES])
def test_it_understands(text: str, intent: Intent) -> None:
    assert parse(text) == intent


def test_a_yes_without_a_number_leaves_the_guests_unsaid() -> None:
    """Rsvp("yes") is "guests not said" (None), which the handler reads as "keep them"; a NO or
    MAYBE never carries a number."""
    assert parse("YES").guests is None
    assert parse("YES 0").guests == 0
    assert parse("yes please").guests is None
    assert parse("no 2").guests is None
    assert parse("maybe 3").guests is None


# -- one grammar for every channel: the leaders' words, LOG, and Telegram's /commands ----------

MORE_CASES: list[tuple[str, Intent]] = [
    # COUNT: the numbers; with a number, a headcount. TURNOUT is the numbers too.
    ("COUNT 37", Count(number=37)),
    ("count 37 st marys", Count("st marys", 37)),
    ("COUNT 37 housing-march", Count("housing march", 37)),
    ("count -5", Usage("count")),
    ("TURNOUT", Turnout()),
    ("turnout housing-march", Turnout("housing march")),
    ("CHASE", Chase()),
    ("chase st marys", Chase("st marys")),
    ("Chase the council about the potholes", Other("Chase the council about the potholes")),
    ("COMMIT 40, St Mary's", Commit(40, "st marys")),
    ("COMMIT 40 housing-march", Commit(40, "housing march")),
    ("commit -5", Other("commit -5")),  # typed: a message, not a command (no "-5" = 5)
    ("commit 40\x00", Other("commit 40\x00")),
    ("RSVP", RsvpCard()),
    ("rsvp housing-march", RsvpCard("housing march")),
    ("rsvp yes 2", Rsvp("yes", 2)),
    ("ACTIONS", Actions()),
    ("DIGEST", Digest()),
    ("digest please", Other("digest please")),
    ("LINKCODE 07700 900123", LinkCode("07700 900123")),
    ("linkcode St Mary's", LinkCode("St Mary's")),
    # LOG, read once here: its kind, who, the consent word and the notes.
    (
        "LOG DOORSTEP 07700 900150 YES: Knife crime near the school",
        Log(
            "LOG DOORSTEP 07700 900150 YES: Knife crime near the school",
            "doorstep",
            "07700 900150",
            "yes",
            "Knife crime near the school",
            complete=True,
        ),
    ),
    (
        "log 121 ann patel: Six weeks for a GP",
        Log(
            "log 121 ann patel: Six weeks for a GP",
            "one_to_one",
            "ann patel",
            None,
            "Six weeks for a GP",
            True,
        ),
    ),
    (
        "LOG house meeting Ann NO: rents",
        Log("LOG house meeting Ann NO: rents", "house_meeting", "Ann", "no", "rents", True),
    ),
    (
        "LOG FOLLOWUP Ann Patel: coffee after Mass",
        Log(
            "LOG FOLLOWUP Ann Patel: coffee after Mass",
            "follow_up",
            "Ann Patel",
            None,
            "coffee after Mass",
            True,
        ),
    ),
    ("LOG the damp", Log("LOG the damp")),
    ("Log burners are polluting our street", Log("Log burners are polluting our street")),
    # Telegram's commands: the word with a slash (and perhaps the bot's name).
    ("/commit 40 st marys", Commit(40, "st marys")),
    ("/commit@turnout_test_bot 40", Commit(40)),
    ("/commit", Usage("commit")),
    ("/commit ²", Usage("commit")),
    ("/commit 40\x00", Usage("commit")),
    ("/commit " + "9" * 25, Usage("commit")),
    ("/count", Count()),
    ("/count 37 mosque", Count("mosque", 37)),
    ("/count ²", Usage("count")),
    ("/turnout", Turnout()),
    ("/chase", Chase()),
    ("/rsvp", RsvpCard()),
    ("/yes 2", Rsvp("yes", 2)),
    ("/yes 0", Rsvp("yes", 0)),
    ("/no", NO),
    ("/here", CheckIn()),
    ("/stop", Stop()),
    ("/help@turnout_test_bot", Help()),
    ("/lang cy", Lang("cy")),
    ("/digest", Digest()),
    ("/actions", Actions()),
    ("/linkcode 07700 900004", LinkCode("07700 900004")),
    ("/log 121 Ann: bins", Log("/log 121 Ann: bins", "one_to_one", "Ann", None, "bins", True)),
    ("/weather", Other("/weather")),
]


@pytest.mark.parametrize(("text", "intent"), MORE_CASES, ids=[repr(text) for text, _ in MORE_CASES])
def test_it_understands_leaders_log_and_commands(text: str, intent: Intent) -> None:
    assert parse(text) == intent


@pytest.mark.parametrize(
    "text",
    [
        "COMMIT 40 st marys",
        "COUNT",
        "COUNT 37",
        "TURNOUT housing-march",
        "CHASE",
        "RSVP",
        "YES 2",
        "NO",
        "HERE",
        "STOP",
        "HELP",
        "LANG CY",
        "ACTIONS",
        "DIGEST",
        "LINKCODE St Mary",
    ],
)
def test_a_command_with_a_slash_means_what_the_word_means(text: str) -> None:
    word, _, rest = text.partition(" ")
    assert parse(f"/{word.lower()} {rest}".strip()) == parse(text)
