"""Deterministic text files: UTF-8, '\n' line endings, rows in the order given, numbers in fixed formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


def write_text(path: Path, text: str) -> str:
    """Write ``text`` byte-for-byte (no platform newline translation); returns the file's name."""
    path.write_bytes(text.encode("utf-8"))
    return path.name


def clock(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else ""


def fixed(value: float | None, decimals: int = 1) -> str:
    return "" if value is None else f"{value:.{decimals}f}"
