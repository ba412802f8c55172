"""Reading the CSV files users import (revenue entries, FX rates, invoices): header required, line numbers kept."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.textfile import read_text

_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9_ ]{0,39}")
"""What a column name in a header looks like; an unknown one is named in the error only if it looks like this."""
EXTRA_CELLS = "(extra cells)"
"""Key set in ``CsvRow.values`` when a row has more cells than the header has columns."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data line of a CSV file, with its line number for error messages."""

    line: int
    values: dict[str, str]


def read_csv(path: Path, columns: frozenset[str]) -> Iterator[CsvRow]:
    """Rows of a CSV file with a header, each with its line number (where it ends); empty cells are left out.

    Raises:
        PermanentError: the file is not UTF-8 text, has no header, or has unknown columns (the message names them).
    """
    text = read_text(path, what="CSV file")
    try:
        yield from _rows(path, csv.DictReader(io.StringIO(text, newline="")), columns)
    except csv.Error as exc:
        raise PermanentError(f"{path} is not valid CSV: {exc}") from None


def _rows(path: Path, reader: csv.DictReader[str], columns: frozenset[str]) -> Iterator[CsvRow]:
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise PermanentError(f"{path} is empty; the first line must name the columns")
    unknown = sorted(set(header) - columns)
    expected = ", ".join(sorted(columns))
    if any(not _COLUMN.fullmatch(name) for name in unknown):
        # Not a header at all (an environment file, a key): never print what the line holds.
        raise PermanentError(f"{path}:1: the first line is not a header of column names; expected {expected}")
    if unknown:
        raise PermanentError(f"{path}:1: unknown column(s) {', '.join(unknown)}; expected {expected}")
    for raw in reader:
        values = {k.strip(): v.strip() for k, v in raw.items() if k is not None and v is not None and v.strip()}
        if None in raw:
            values[EXTRA_CELLS] = "x"
        yield CsvRow(reader.line_num, values)
