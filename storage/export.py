"""The one CSV writer every export uses: safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)`` in an answer, a theme
label or an institution's name could run when an organiser opens the file). Such a cell gets
an apostrophe in front, as OWASP advises for CSV injection: the spreadsheet shows the text as
typed. Every cell is checked, header included, whatever the column; numbers are left alone.

    export = CsvExport(out, ["theme", "label", "people"])
    export.row(["housing", "Housing", 12])
    export.rows  # 1 (the header does not count)
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet will show it, never run it."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class CsvExport:
    """Rows written to ``out`` (open it with ``newline=""``), each cell through
    :func:`safe_cell`."""

    def __init__(self, out: TextIO, header: Iterable[str]) -> None:
        self._writer = csv.writer(out)
        self._writer.writerow([safe_cell(name) for name in header])
        self.rows = 0

    def row(self, values: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in values])
        self.rows += 1
