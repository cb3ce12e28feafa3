"""Themes: keyword and phrase rules matched on normalised text, and tagging answers with them.

A rule is a word (``rent``), a phrase (``food bank``) or a prefix (``mieszkan*``). Both the rule
and the answer are normalised the same way: case and accents folded and punctuation dropped
(config.text.normalise, the one normaliser the bot uses; apostrophes split words, so "Mae'r
bysiau'n" has the word "bysiau"), then each word is compared
with its simple plural forms (``rents`` ~ ``rent``, ``buses`` ~ ``bus``, ``families`` ~
``family``). An answer can carry several themes. Rules of every language are tried on every
answer: people answer in whichever language they choose.

Manual tags win: an answer an organiser has tagged by hand (``tag_source = "manual"``) is never
re-tagged by rules, even when the rules change.

``Matcher`` is pure and compiled once per campaign (dictionaries keyed by word form, so tagging
costs a few dictionary lookups per word whatever the number of rules).
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import LANGUAGES
from config.text import normalise, words
from storage.models import (
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningTheme,
    ListeningThemeRule,
)

DEFAULT_THEMES_FILE = Path(__file__).resolve().parent.parent / "config" / "themes.toml"
PREFIX_MIN = 3  # a prefix rule needs at least this many letters before the *
CACHE_WORDS = 200_000  # distinct words a Matcher remembers before starting afresh
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ThemeConfigError(ValueError):
    """A themes TOML file is malformed; the message says where."""


def forms(word: str) -> tuple[str, ...]:
    """A word and its simple singular forms: ``buses`` -> buses, buse, bus."""
    out = [word]
    if len(word) >= 3 and word.endswith("s") and not word.endswith("ss"):
        out.append(word[:-1])
        if len(word) >= 4 and word.endswith("es"):
            out.append(word[:-2])
        if len(word) >= 5 and word.endswith("ies"):
            out.append(word[:-3] + "y")
    return tuple(out)


@dataclass(frozen=True)
class _Phrase:
    rest: tuple[str, ...]  # the words after the first; each may end in * (prefix)
    theme: int


def _word_matches(word: str, rule: str) -> bool:
    if rule.endswith("*"):
        return word.startswith(rule[:-1])
    return not set(forms(word)).isdisjoint(forms(rule))


class Matcher:
    """Rules compiled for fast matching. ``Matcher([(theme_id, "food bank"), ...])``."""

    def __init__(self, rules: Iterable[tuple[int, str]]) -> None:
        self.single: dict[str, set[int]] = defaultdict(set)
        self.prefixes: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self.phrases: dict[str, list[_Phrase]] = defaultdict(list)
        self.prefix_phrases: list[tuple[str, _Phrase]] = []
        self._cache: dict[str, tuple[frozenset[int], tuple[_Phrase, ...]]] = {}
        for theme, phrase in rules:
            tokens = rule_words(phrase)
            if not tokens:
                continue
            first, rest = tokens[0], tuple(tokens[1:])
            is_prefix = first.endswith("*")
            if is_prefix and len(first) - 1 < PREFIX_MIN:
                continue
            if not rest:
                if is_prefix:
                    self.prefixes[first[:PREFIX_MIN]].append((first[:-1], theme))
                else:
                    for f in forms(first):
                        self.single[f].add(theme)
            elif is_prefix:
                self.prefix_phrases.append((first[:-1], _Phrase(rest, theme)))
            else:
                for f in forms(first):
                    self.phrases[f].append(_Phrase(rest, theme))

    def themes(self, text: str) -> set[int]:
        tokens = normalise(text).split()
        found: set[int] = set()
        cache = self._cache
        for i, token in enumerate(tokens):
            entry = cache.get(token)
            if entry is None:
                entry = self._lookup(token)
            hits, phrases = entry
            found |= hits
            for phrase in phrases:
                if phrase.theme not in found and _rest_matches(tokens, i + 1, phrase.rest):
                    found.add(phrase.theme)
        return found

    def _lookup(self, token: str) -> tuple[frozenset[int], tuple[_Phrase, ...]]:
        """What one word means on its own (themes it tags, phrases it may start), remembered:
        answers reuse a small vocabulary, so most words are looked up once."""
        hits: set[int] = set()
        phrases: list[_Phrase] = []
        for f in forms(token):
            hits |= self.single.get(f, set())
            phrases.extend(self.phrases.get(f, ()))
        hits.update(t for p, t in self.prefixes.get(token[:PREFIX_MIN], ()) if token.startswith(p))
        phrases.extend(ph for p, ph in self.prefix_phrases if token.startswith(p))
        entry = (frozenset(hits), tuple(phrases))
        if len(self._cache) >= CACHE_WORDS:
            self._cache.clear()
        self._cache[token] = entry
        return entry


def rule_words(phrase: str) -> list[str]:
    """A rule's words, normalised like answers; a prefix word keeps its trailing ``*``."""
    out: list[str] = []
    for raw in phrase.split():
        normalised = words(raw.rstrip("*"))
        if normalised:
            out.extend(normalised)
            if raw.endswith("*"):
                out[-1] += "*"
    return out


def _rest_matches(tokens: Sequence[str], start: int, rest: tuple[str, ...]) -> bool:
    if start + len(rest) > len(tokens):
        return False
    return all(_word_matches(tokens[start + k], rule) for k, rule in enumerate(rest))


# -- default themes (config/themes.toml) -------------------------------------------------------


@dataclass(frozen=True)
class ThemeSpec:
    key: str
    labels: dict[str, str]
    rules: dict[str, list[str]]  # language -> phrases


def load_theme_specs(path: Path = DEFAULT_THEMES_FILE) -> list[ThemeSpec]:
    """The themes in a TOML file like config/themes.toml, in file order."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThemeConfigError(f"{path}: {exc}") from None
    themes = data.get("themes")
    if not isinstance(themes, dict) or not themes:
        raise ThemeConfigError(f"{path}: expected [themes.<key>] tables")
    specs = []
    for key, table in themes.items():
        label = table.get("label")
        if not isinstance(label, dict) or not isinstance(label.get("en"), str):
            raise ThemeConfigError(f"{path}: themes.{key}.label needs at least en = '...'")
        rules: dict[str, list[str]] = {}
        for language in LANGUAGES:
            phrases = table.get(language, [])
            if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
                raise ThemeConfigError(f"{path}: themes.{key}.{language} must be a list of text")
            rules[language] = [p.strip() for p in phrases if p.strip()]
        unknown = set(table) - {"label", *LANGUAGES}
        if unknown:
            raise ThemeConfigError(f"{path}: themes.{key}: unknown keys {sorted(unknown)}")
        specs.append(ThemeSpec(key, {k: str(v) for k, v in label.items()}, rules))
    return specs


async def seed_themes(
    session: AsyncSession, campaign_id: int, specs: Sequence[ThemeSpec]
) -> list[ListeningTheme]:
    """Copy ``specs`` into the campaign as data (its own, editable themes and rules)."""
    themes = []
    for position, spec in enumerate(specs):
        theme = ListeningTheme(
            campaign_id=campaign_id, key=spec.key, labels=dict(spec.labels), position=position
        )
        session.add(theme)
        themes.append(theme)
    await session.flush()
    rows = [
        {"theme_id": theme.id, "language": language, "phrase": phrase}
        for theme, spec in zip(themes, specs, strict=True)
        for language, phrases in spec.rules.items()
        for phrase in dict.fromkeys(phrases)
    ]
    if rows:
        await session.execute(insert(ListeningThemeRule), rows)
    return themes


def label(theme: ListeningTheme, language: str) -> str:
    return theme.labels.get(language) or theme.labels.get("en") or theme.key


# -- tagging ------------------------------------------------------------------------------------


async def campaign_matcher(session: AsyncSession, campaign_id: int) -> Matcher:
    rows = await session.execute(
        select(ListeningThemeRule.theme_id, ListeningThemeRule.phrase)
        .join(ListeningTheme, ListeningTheme.id == ListeningThemeRule.theme_id)
        .where(ListeningTheme.campaign_id == campaign_id)
    )
    return Matcher((int(theme_id), phrase) for theme_id, phrase in rows)


async def tag_answer(session: AsyncSession, answer: ListeningAnswer, matcher: Matcher) -> set[int]:
    """(Re)apply the rules to one answer, unless it was tagged by hand. Returns its themes."""
    if answer.tag_source == "manual":
        return set(
            await session.scalars(
                select(ListeningAnswerTheme.theme_id).where(
                    ListeningAnswerTheme.answer_id == answer.id
                )
            )
        )
    found = matcher.themes(answer.body)
    await session.execute(
        delete(ListeningAnswerTheme).where(ListeningAnswerTheme.answer_id == answer.id)
    )
    if found:
        await session.execute(
            insert(ListeningAnswerTheme),
            [{"answer_id": answer.id, "theme_id": t, "source": "rule"} for t in sorted(found)],
        )
    answer.tag_source = "rule" if found else "none"
    return found


async def set_manual_tags(
    session: AsyncSession, answer: ListeningAnswer, theme_ids: Iterable[int]
) -> None:
    """An organiser's tags replace whatever the rules said, for good (an empty set means
    "no theme applies": the answer leaves the untagged list)."""
    await session.execute(
        delete(ListeningAnswerTheme).where(ListeningAnswerTheme.answer_id == answer.id)
    )
    ids = sorted(set(theme_ids))
    if ids:
        await session.execute(
            insert(ListeningAnswerTheme),
            [{"answer_id": answer.id, "theme_id": t, "source": "manual"} for t in ids],
        )
    answer.tag_source = "manual"


async def retag_campaign(session: AsyncSession, campaign_id: int, *, batch: int = 2000) -> int:
    """Re-apply the campaign's current rules to every answer not tagged by hand (after an
    organiser edits the rules), writing only what changed. Returns how many answers' themes
    changed."""
    matcher = await campaign_matcher(session, campaign_id)
    changed = 0
    last_id = 0
    while True:
        rows = (
            await session.execute(
                select(ListeningAnswer.id, ListeningAnswer.body, ListeningAnswer.tag_source)
                .where(ListeningAnswer.campaign_id == campaign_id)
                .where(ListeningAnswer.tag_source != "manual")
                .where(ListeningAnswer.id > last_id)
                .order_by(ListeningAnswer.id)
                .limit(batch)
            )
        ).all()
        if not rows:
            return changed
        ids = [int(row[0]) for row in rows]
        current: dict[int, set[int]] = defaultdict(set)
        for answer_id, theme_id in await session.execute(
            select(ListeningAnswerTheme.answer_id, ListeningAnswerTheme.theme_id).where(
                ListeningAnswerTheme.answer_id.in_(ids)
            )
        ):
            current[int(answer_id)].add(int(theme_id))
        added: list[dict[str, object]] = []
        removed: dict[int, list[int]] = defaultdict(list)  # theme -> answers
        sources: dict[str, list[int]] = {"rule": [], "none": []}
        for answer_id, body, source in rows:
            found = matcher.themes(body)
            before = current.get(answer_id, set())
            if found != before:
                changed += 1
                added.extend(
                    {"answer_id": answer_id, "theme_id": t, "source": "rule"}
                    for t in found - before
                )
                for theme_id in before - found:
                    removed[theme_id].append(answer_id)
            wanted = "rule" if found else "none"
            if source != wanted:
                sources[wanted].append(answer_id)
        for theme_id, answer_ids in removed.items():
            await session.execute(
                delete(ListeningAnswerTheme)
                .where(ListeningAnswerTheme.theme_id == theme_id)
                .where(ListeningAnswerTheme.answer_id.in_(answer_ids))
            )
        if added:
            await session.execute(insert(ListeningAnswerTheme), added)
        for source, answer_ids in sources.items():
            if answer_ids:
                await session.execute(
                    update(ListeningAnswer)
                    .where(ListeningAnswer.id.in_(answer_ids))
                    .values(tag_source=source)
                )
        last_id = ids[-1]


# -- editing (an organiser, without a deploy) ---------------------------------------------------


async def campaign_themes(session: AsyncSession, campaign_id: int) -> list[ListeningTheme]:
    result = await session.scalars(
        select(ListeningTheme)
        .where(ListeningTheme.campaign_id == campaign_id)
        .order_by(ListeningTheme.position, ListeningTheme.id)
    )
    return list(result)


async def theme_by_key(session: AsyncSession, campaign_id: int, key: str) -> ListeningTheme:
    theme = await session.scalar(
        select(ListeningTheme)
        .where(ListeningTheme.campaign_id == campaign_id)
        .where(ListeningTheme.key == key)
    )
    if theme is None:
        keys = ", ".join(t.key for t in await campaign_themes(session, campaign_id))
        raise ThemeConfigError(f"no theme {key!r} in this campaign (themes: {keys})")
    return theme


async def add_theme(
    session: AsyncSession, campaign_id: int, key: str, labels: dict[str, str]
) -> ListeningTheme:
    if not KEY.match(key):
        raise ThemeConfigError(f"theme key {key!r}: use lower-case letters, digits and _")
    if not labels.get("en"):
        raise ThemeConfigError("a theme needs an English label")
    themes = await campaign_themes(session, campaign_id)
    if any(t.key == key for t in themes):
        raise ThemeConfigError(f"there is already a theme {key!r}")
    theme = ListeningTheme(
        campaign_id=campaign_id,
        key=key,
        labels=dict(labels),
        position=max((t.position for t in themes), default=-1) + 1,
    )
    session.add(theme)
    await session.flush()
    return theme


def _check_rule(language: str, phrase: str) -> str:
    if language not in LANGUAGES:
        raise ThemeConfigError(f"language must be one of {', '.join(LANGUAGES)}")
    words_ = rule_words(phrase)
    if not words_:
        raise ThemeConfigError(f"rule {phrase!r} has no words")
    if words_[0].endswith("*") and len(words_[0]) - 1 < PREFIX_MIN:
        raise ThemeConfigError(f"a prefix needs at least {PREFIX_MIN} letters before the *")
    return " ".join(phrase.split())


async def add_rule(
    session: AsyncSession, theme: ListeningTheme, language: str, phrase: str
) -> ListeningThemeRule:
    phrase = _check_rule(language, phrase)
    existing = await session.scalar(
        select(ListeningThemeRule)
        .where(ListeningThemeRule.theme_id == theme.id)
        .where(ListeningThemeRule.language == language)
        .where(ListeningThemeRule.phrase == phrase)
    )
    if existing is not None:
        return existing
    rule = ListeningThemeRule(theme_id=theme.id, language=language, phrase=phrase)
    session.add(rule)
    await session.flush()
    return rule


async def remove_rule(
    session: AsyncSession, theme: ListeningTheme, language: str, phrase: str
) -> bool:
    result = await session.execute(
        delete(ListeningThemeRule)
        .where(ListeningThemeRule.theme_id == theme.id)
        .where(ListeningThemeRule.language == language)
        .where(ListeningThemeRule.phrase == " ".join(phrase.split()))
    )
    return bool(getattr(result, "rowcount", 0))


async def theme_rules(session: AsyncSession, theme_id: int) -> dict[str, list[str]]:
    rows = await session.execute(
        select(ListeningThemeRule.language, ListeningThemeRule.phrase)
        .where(ListeningThemeRule.theme_id == theme_id)
        .order_by(ListeningThemeRule.language, ListeningThemeRule.id)
    )
    out: dict[str, list[str]] = {}
    for language, phrase in rows:
        out.setdefault(str(language), []).append(str(phrase))
    return out
