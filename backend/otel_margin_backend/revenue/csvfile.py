"""Reading the CSV files users import (revenue entries, FX rates): header required, line numbers kept."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from otel_margin_backend.pipeline.errors import PermanentError

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
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            yield from _rows(path, csv.DictReader(f), columns)
    except UnicodeDecodeError as exc:
        raise PermanentError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except csv.Error as exc:
        raise PermanentError(f"{path} is not valid CSV: {exc}") from None


def _rows(path: Path, reader: csv.DictReader[str], columns: frozenset[str]) -> Iterator[CsvRow]:
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise PermanentError(f"{path} is empty; the first line must name the columns")
    unknown = sorted(set(header) - columns)
    if unknown:
        raise PermanentError(f"{path}: unknown column(s) {', '.join(unknown)}; expected {', '.join(sorted(columns))}")
    for raw in reader:
        values = {k.strip(): v.strip() for k, v in raw.items() if k is not None and v is not None and v.strip()}
        if None in raw:
            values[EXTRA_CELLS] = "x"
        yield CsvRow(reader.line_num, values)
