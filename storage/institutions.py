"""Which institution someone means by a name: the one matcher for every command and text (the
CLI's ``--institution``, Telegram's ``/linkcode``, a leader's ``COMMIT 40 St Mary's``) and for
the importer's "same institution" rule.

Forgiven: case, accents, punctuation and spacing, apostrophes ("St Marys" = "St Mary's"),
"St" / "St." / "Saint", and "&" / "and". A name matches exactly, or by the start of its words
("mary", "st marys", "al noor" for "Al-Noor Mosque"); an exact match wins over partial ones.
The answer is one institution, or several that fit equally (say which), or none with the
closest names (difflib) so a typo gets a suggestion::

    match = match_institution(institutions, "st marys")
    if match.found is None:
        raise SomeError(match.problem())   # "... it could be A, B" / "... the closest: C"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.text import abbreviates, words
from storage.models import Institution

SAME_WORD = {"saint": "st", "&": "and"}
CLOSEST = 3  # names suggested when nothing matches
CLOSE_ENOUGH = 0.7  # SequenceMatcher ratio for a suggestion ("st mory" ~ "st marys": 0.86)


def name_words(name: str) -> list[str]:
    """A name as the matcher compares it: ``"Saint Mary's & St John"`` -> ``["st", "marys",
    "and", "st", "john"]``."""
    return [SAME_WORD.get(w, w) for w in words(name.replace("&", " and "))]


def institution_key(name: str) -> str:
    """What makes two institution names the same one (the importer's rule)."""
    return " ".join(name_words(name))


@dataclass(frozen=True)
class InstitutionMatch:
    hint: str
    found: Institution | None = None
    several: tuple[Institution, ...] = ()  # the hint fits each of these: say which
    closest: tuple[Institution, ...] = ()  # nothing fits; these names are nearest

    @property
    def candidates(self) -> tuple[Institution, ...]:
        return self.several or self.closest

    def names(self) -> str:
        return ", ".join(i.name for i in self.candidates)

    def problem(self) -> str:
        """Why there is no single institution, for an organiser (CLI errors)."""
        said = f"no single institution matches {self.hint!r}"
        if self.several:
            return f"{said}: it could be {self.names()} (say which)"
        if self.closest:
            return f"{said}; the closest: {self.names()}"
        return said


def match_institution(institutions: Sequence[Institution], hint: str) -> InstitutionMatch:
    """The institution ``hint`` names among ``institutions``. An empty hint means the only
    one, if there is exactly one (a leader of one institution need not name it)."""
    wanted = name_words(hint)
    if not wanted:
        if len(institutions) == 1:
            return InstitutionMatch(hint, found=institutions[0])
        return InstitutionMatch(hint, several=tuple(institutions))
    keys = [(inst, name_words(inst.name)) for inst in institutions]
    compact = "".join(wanted)
    for fits in (
        [inst for inst, key in keys if "".join(key) == compact],
        [inst for inst, key in keys if abbreviates(wanted, key)],
    ):
        if len(fits) == 1:
            return InstitutionMatch(hint, found=fits[0])
        if fits:
            return InstitutionMatch(hint, several=tuple(fits))
    scored = sorted(
        ((_closeness(" ".join(wanted), key), inst.name, inst) for inst, key in keys),
        key=lambda t: (-t[0], t[1]),
    )
    closest = tuple(inst for score, _, inst in scored[:CLOSEST] if score >= CLOSE_ENOUGH)
    return InstitutionMatch(hint, closest=closest)


def _closeness(wanted: str, key: list[str]) -> float:
    """How like the name the hint is: against the whole name, or against as much of it as
    the hint is long from the start of any of its words ("st mory" ~ "st marys church")."""
    best = SequenceMatcher(None, wanted, " ".join(key)).ratio()
    for start in range(len(key)):
        part = " ".join(key[start:])[: len(wanted)]
        best = max(best, SequenceMatcher(None, wanted, part).ratio())
    return best


async def find_institution(
    session: AsyncSession, hint: str, *, include_former: bool = True
) -> InstitutionMatch:
    """``match_institution`` over the alliance's institutions (by name); former members too
    unless ``include_former`` is False (nothing new is linked to them)."""
    query = select(Institution).order_by(Institution.name)
    if not include_former:
        query = query.where(Institution.status != "former")
    return match_institution(list(await session.scalars(query)), hint)
