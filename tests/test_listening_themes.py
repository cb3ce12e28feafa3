"""Theme rules on normalised text, the default themes file, and the listening templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.messages import RESIDENT_FACING, catalogue, placeholders, render
from config.segments import count_segments, is_gsm7
from config.settings import LANGUAGES
from storage.listening_themes import (
    Matcher,
    ThemeConfigError,
    forms,
    load_theme_specs,
    rule_words,
)
from tests.test_templates import typical

HOUSING, HEALTH, TRANSPORT, FOOD = 1, 2, 3, 4


def matcher(*rules: tuple[int, str]) -> Matcher:
    return Matcher(rules)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("buses", ("buses", "buse", "bus")),
        ("families", ("families", "familie", "famili", "family")),
        ("rents", ("rents", "rent")),
        ("stress", ("stress",)),
        ("gps", ("gps", "gp")),
        ("bus", ("bus", "bu")),
    ],
)
def test_forms_are_a_word_and_its_simple_singulars(word: str, expected: tuple[str, ...]) -> None:
    assert forms(word) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The RENT is too high",
        "rents keep going up",
        "Rent's gone up again!!",
        "£200 more rent a month",
    ],
)
def test_a_word_rule_ignores_case_punctuation_and_plurals(text: str) -> None:
    assert matcher((HOUSING, "rent")).themes(text) == {HOUSING}


def test_a_plural_rule_matches_the_singular_and_the_other_way_round() -> None:
    m = matcher((TRANSPORT, "buses"), (FOOD, "family"))
    assert m.themes("the bus never comes") == {TRANSPORT}
    assert m.themes("families can't cope") == {FOOD}


def test_accents_are_folded_on_both_sides() -> None:
    m = matcher((HEALTH, "zdrowie"), (HOUSING, "tŷ"), (FOOD, "żywność"))
    assert m.themes("Moje ZDROWIE się pogarsza") == {HEALTH}
    assert m.themes("Mae'r ty yn oer") == {HOUSING}
    assert m.themes("zywnosc jest droga") == {FOOD}


def test_a_phrase_matches_only_as_consecutive_words() -> None:
    m = matcher((FOOD, "food bank"), (HEALTH, "mental health"))
    assert m.themes("We use the food banks every week") == {FOOD}
    assert m.themes("the bank has no food") == set()
    assert m.themes("My son's Mental-Health is suffering") == {HEALTH}


def test_a_prefix_rule_covers_inflected_words() -> None:
    m = matcher((HOUSING, "mieszkan*"), (FOOD, "bank zywnosc*"))
    assert m.themes("Nasze mieszkanie jest wilgotne") == {HOUSING}
    assert m.themes("brak mieszkaniach socjalnych") == {HOUSING}
    assert m.themes("gdzie mieszkac") == set()
    assert m.themes("chodze do banku zywnosci") == set()  # "bank" is not "banku"
    assert m.themes("bank zywnosci w kosciele") == {FOOD}


def test_a_prefix_needs_three_letters() -> None:
    assert rule_words("ab*") == ["ab*"]
    assert matcher((HOUSING, "ab*")).themes("about abbey abc") == set()


def test_an_answer_can_carry_several_themes() -> None:
    m = matcher((HOUSING, "damp"), (HEALTH, "asthma"), (TRANSPORT, "bus"))
    assert m.themes("Damp flat, my son's asthma, and no bus after 7") == {
        HOUSING,
        HEALTH,
        TRANSPORT,
    }


def test_rules_with_punctuation_normalise_like_answers() -> None:
    m = matcher((FOOD, "can't afford"), (HEALTH, "a&e"), (TRANSPORT, "ar-lein"))
    assert m.themes("I cant afford the gas") == {FOOD}
    assert m.themes("Six hours at A & E") == {HEALTH}
    assert m.themes("popeth ar lein") == {TRANSPORT}


def test_the_default_themes_cover_the_issues_residents_raise_in_three_languages() -> None:
    specs = load_theme_specs()
    assert [s.key for s in specs] == [
        "housing",
        "health",
        "transport",
        "poverty_food",
        "low_pay",
        "crime_safety",
        "hate_crime",
        "refugees",
        "digital",
        "roads_public_realm",
    ]
    for spec in specs:
        assert all(spec.rules[lang] for lang in LANGUAGES), spec.key
        assert set(spec.labels) == set(LANGUAGES), spec.key
        assert all(is_gsm7(label) for label in spec.labels.values()), spec.key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The damp in our flat is making the kids ill", {"housing"}),
        ("Six weeks for a GP appointment and my anxiety is through the roof", {"health"}),
        ("No buses after 7 so I can't get to my night shift", {"transport"}),
        ("We rely on the food bank since universal credit was cut", {"poverty_food"}),
        ("Zero hours contract, I never know if I can pay the bills", {"low_pay", "poverty_food"}),
        ("Knife crime near the school, the kids are scared", {"crime_safety"}),
        ("Racist abuse on the street because of my hijab", {"hate_crime"}),
        ("Asylum seekers waiting years for the Home Office", {"refugees"}),
        ("No internet at home so the kids can't do homework", {"digital"}),
        ("Potholes everywhere and fly-tipping in the alley", {"roads_public_realm"}),
        ("Mae'r rhent yn rhy uchel a does dim tai cymdeithasol", {"housing"}),
        ("Dim digon o fysiau, a chostau byw yn codi", {"transport", "poverty_food"}),
        ("Czynsz jest za wysoki, a mieszkanie zawilgocone", {"housing"}),
        ("Nie ma lekarza, czekam trzy tygodnie", {"health"}),
        ("Uchodźcy czekają latami na decyzję", {"refugees"}),
        # Apostrophes split words: "bysiau'n" keeps "bysiau" (it was "bysiaun"), both kinds.
        ("Mae'r bysiau'n rhy ddrud", {"transport"}),
        ("Mae’r bysiau’n rhy ddrud", {"transport"}),
        ("Dw i'n poeni am y rhent a'r biliau", {"housing", "poverty_food"}),
        ("Nie stać nas na czynsz, a bilety na autobus drożeją", {"housing", "transport"}),
        ("Brak lekarzy w przychodni przy St John's", {"health"}),
        ("My neighbours are lovely", set()),
    ],
)
def test_the_default_rules_tag_realistic_answers(text: str, expected: set[str]) -> None:
    specs = load_theme_specs()
    m = Matcher(
        (i, phrase) for i, spec in enumerate(specs) for p in spec.rules.values() for phrase in p
    )
    assert {specs[i].key for i in m.themes(text)} == expected


def test_a_malformed_themes_file_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "themes.toml"
    bad.write_text('[themes.housing]\nlabel = { en = "Housing" }\nen = "rent"\n', encoding="utf-8")
    with pytest.raises(ThemeConfigError, match=r"themes.housing.en must be a list"):
        load_theme_specs(bad)
    bad.write_text("[themes.housing]\nen = []\n", encoding="utf-8")
    with pytest.raises(ThemeConfigError, match="label"):
        load_theme_specs(bad)


# -- templates ----------------------------------------------------------------------------------

LISTENING = sorted(k for k in catalogue("en").templates if k.startswith("listening_"))
# Beyond tests.test_templates.typical (dates, titles, places at their longest).
EXTRA = {
    "who": "St Mary's Church",
    "people": 705,
    "themes": "Housing, Health and wellbeing, Poverty and food",
    "theme": "Health and wellbeing",
    "campaign": "Leicester Listens",
}
QUESTION = {
    "en": "What is the biggest issue facing you and your family?",
    "cy": "Beth yw'r broblem fwyaf sy'n wynebu chi a'ch teulu?",
    "pl": "Jaki jest najwiekszy problem Twojej rodziny?",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", LISTENING)
def test_each_listening_text_is_one_gsm7_sms_in_each_language(language: str, key: str) -> None:
    values = {**typical(language), **EXTRA, "question": QUESTION[language]}
    text = render(key, language, **values)
    assert placeholders(catalogue(language).templates[key]) <= values.keys()
    assert is_gsm7(text)
    assert count_segments(text) == 1, f"{len(text)}: {text}"


def test_the_texts_residents_receive_are_marked_resident_facing() -> None:
    leaders_only = {"listening_log_ok", "listening_log_help", "listening_log_who"}
    leaders_only |= {"listening_log_no_campaign", "listening_followup_ok"}
    assert set(LISTENING) - leaders_only <= RESIDENT_FACING
