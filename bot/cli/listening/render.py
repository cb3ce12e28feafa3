"""How ``turnout listening`` prints: the theme table, the pipeline, counts and percentages."""

from __future__ import annotations

from bot.cli.common import table
from storage.listening_reports.pipeline import Pipeline, PipelineRow
from storage.listening_reports.themes import ThemeTable
from storage.rollup import NO_INSTITUTION


def people_phrase(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def percent_text(value: float | None) -> str:
    return "-" if value is None else f"{round(value * 100)}%"


def shorten(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def render_theme_table(result: ThemeTable, *, by_institution: bool, quotes: bool) -> str:
    columns: list[tuple[int | None, str]] = list(result.institutions) if by_institution else []
    if by_institution and result.show_no_institution:
        columns.append((None, NO_INSTITUTION))
    headers = ["theme", "people", "answers"] + [name for _, name in columns]
    rows: list[list[object]] = []
    for row in result.rows:
        counts = row.by_institution
        rows.append(
            [row.label, row.people, row.answers]
            + [counts[i].people if i in counts else 0 for i, _ in columns]
        )
    out = [
        f"{result.campaign.title}: {result.people} people, {result.answers} answers, "
        f"{result.untagged} untagged",
        table(headers, rows),
    ]
    if by_institution:
        out.append("(per institution: distinct people; a person in two institutions is in both)")
    if quotes:
        for row in result.rows:
            if row.quotes:
                out.append(f"\n{row.label}:")
                out.extend(f'  "{quote}"' for quote in row.quotes)
    return "\n".join(out)


def pipeline_cells(row: PipelineRow) -> list[object]:
    return [
        row.label,
        row.listened,
        row.consented,
        percent_text(row.consent_rate),
        row.followed_up,
        percent_text(row.follow_up_rate),
        row.came,
        percent_text(row.came_rate),
        row.coming,
    ]


PIPELINE_HEADERS = [
    "",
    "listened",
    "consented",
    "%",
    "followed up",
    "%",
    "came to an action",
    "%",
    "coming",
]


def render_pipeline(result: Pipeline) -> str:
    rows = [pipeline_cells(r) for r in result.rows]
    if result.no_institution is not None:
        rows.append(pipeline_cells(result.no_institution))
    rows.append(pipeline_cells(result.total))
    out = table(PIPELINE_HEADERS, rows)
    if result.target:
        out += f"\nTarget: {result.target} people ({result.total.listened} listened to)"
    return out
