"""Deterministic text files: UTF-8, '\n' line endings, rows in the order given, numbers in fixed formats.

Every CSV goes through :func:`csv_text`, which defuses formula injection: these files are opened in
spreadsheets, where a name like ``=HYPERLINK(…)`` or ``@SUM(…)`` would run as a formula. Text that starts
like a formula gets OWASP's leading apostrophe; numbers never do (a coordinate of -24.09 stays a number).
The same text always becomes the same cell, so ids still join across the files of one export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


class Number(str):
    """A number already written as text (a coordinate, a box edge): a cell :func:`spreadsheet_cell` leaves alone,
    since it opens as the number it is. Like ``markupsafe.Markup``, the type carries what the text is."""

    __slots__ = ()


def spreadsheet_cell(value: object) -> object:
    """``value`` as a CSV cell that a spreadsheet cannot run: text starting with = + - @ tab or CR gets a
    leading ``'``; numbers (int, float, :class:`Number`) and other text are unchanged."""
    if isinstance(value, str) and not isinstance(value, Number) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def plain_cell(text: str) -> str:
    """Undo :func:`spreadsheet_cell` on text read back from a CSV Pelage wrote (the station table)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV with a header; ``None`` is an empty cell and text that could run as a formula is defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else spreadsheet_cell(value) for value in row])
    return out.getvalue()


def write_text(path: Path, text: str) -> str:
    """Write ``text`` byte-for-byte (no platform newline translation); returns the file's name."""
    path.write_bytes(text.encode("utf-8"))
    return path.name


def clock(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else ""


def fixed(value: float | None, decimals: int = 1) -> str:
    return "" if value is None else Number(f"{value:.{decimals}f}")
