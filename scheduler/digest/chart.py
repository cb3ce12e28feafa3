"""The digest's bar chart: committed vs confirmed per institution, as PNG bytes.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no display,
safe in a worker thread) with the DejaVu Sans font matplotlib ships: nothing is downloaded.
"""

from __future__ import annotations

from io import BytesIO

from scheduler.digest.build import DigestAction

MAX_BARS = 25
COMMITTED = "#b8c4cc"
CONFIRMED = "#1f6f8b"
NO_INSTITUTION = "#8fb9a8"


def render_chart(item: DigestAction, *, dpi: int = 100) -> bytes:
    """A horizontal grouped bar chart: one pair of bars (committed, confirmed) per institution
    that has a commitment or confirmed people (furthest behind first when there are more than
    MAX_BARS), plus the "no institution" confirmed bar."""
    # matplotlib takes most of a second to import (0.86 s on the 2-core VM): only a process
    # that draws a chart pays for it, not every CLI command and server start. The one import
    # inside a function in these packages (tests/test_layers.py allows exactly this one).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in item.rollup.rows if r.committed or r.confirmed]
    if len(rows) > MAX_BARS:
        rows = sorted(rows, key=lambda r: -(r.gap or 0))[:MAX_BARS]
    rows.sort(key=lambda r: r.institution)
    loose = item.rollup.no_institution
    names = [_short(r.institution) for r in rows] + ([loose.institution] if loose.confirmed else [])
    committed = [r.committed or 0 for r in rows] + ([0] if loose.confirmed else [])
    confirmed = [r.confirmed for r in rows] + ([loose.confirmed] if loose.confirmed else [])

    height = 1.6 + 0.42 * max(len(names), 1)
    figure = Figure(figsize=(8, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(names)))[::-1]  # first name at the top
    bar = 0.38
    promised = axes.barh(
        [p + bar / 2 for p in positions], committed, height=bar, color=COMMITTED, label="committed"
    )
    axes.bar_label(promised, labels=[str(c) if c else "" for c in committed], padding=2, fontsize=8)
    colours = [CONFIRMED] * len(rows) + ([NO_INSTITUTION] if loose.confirmed else [])
    bars = axes.barh(
        [p - bar / 2 for p in positions], confirmed, height=bar, color=colours, label="confirmed"
    )
    axes.bar_label(bars, padding=2, fontsize=8)
    axes.set_yticks(positions, names, fontsize=9)
    axes.set_xlabel("people")
    totals = item.rollup.totals
    subtitle = f"confirmed {totals.confirmed}"
    if totals.committed:
        subtitle += f" of {totals.committed} committed"
    axes.set_title(f"{item.action.title}: {subtitle}", fontsize=11, loc="left")
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    if not names:
        axes.text(0.5, 0.5, "no commitments or replies yet", ha="center", transform=axes.transAxes)
    out = BytesIO()
    # No timestamps or software tag in the file: the same numbers give the same bytes.
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
