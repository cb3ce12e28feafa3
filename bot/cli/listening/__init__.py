"""``turnout listening``: listening campaigns from the terminal (an organiser's view).

    turnout listening create city-listens --title "City Listens" --target 705 \\
        -q "What is the biggest issue facing you and your family?" \\
        --question-pl "Jaki jest najwiekszy problem Twojej rodziny?"
    turnout listening send city-listens --institution "St Mary's" --texted-in --dry-run
    turnout listening themes city-listens
    turnout listening answers city-listens --untagged
    turnout listening tag 42 housing health
    turnout listening pipeline city-listens
    turnout listening export answers city-listens --fields answer_id,themes,institution

Free-text answers are personal data: exports hold only the fields asked for, and a table of
answers shows names, never phone numbers.

One module per kind of command (campaigns, answers, themes, follow-ups, exports), sharing the
group and its lookups (group.py), the printing (render.py) and the CLI runtime
(bot/cli/runtime.py: ``Runtime.transaction`` runs each command's body in one transaction).
"""

from bot.cli.listening import (  # noqa: F401  (registers the commands)
    answers,
    campaigns,
    exports,
    follow_ups,
    themes,
)
