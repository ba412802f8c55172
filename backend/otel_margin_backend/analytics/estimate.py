"""A user's own estimate of each customer's cost (and revenue or margin), read from a CSV a spreadsheet exports.

The file has a header row; columns are found by name, in any order, any case, spaces or punctuation for ``_``
(``Customer ID``, ``Expected cost (USD)``):

- ``customer_id`` (or ``customer``): the id spans carry as ``customer.id``. Required.
- ``cost``: the expected AI cost of the range in the reporting currency. Required.
- ``revenue`` (optional): the expected revenue; the margin is then checked too, as ``revenue - cost``.
- ``margin`` (optional): the expected margin as an amount; checked as is (it wins over ``revenue - cost``).

A name may start with ``expected_`` and end with the reporting currency's code (``expected_cost_usd``); another
currency's code is an error, since amounts are never converted here. Other columns (a name, notes, a margin %) are
ignored and named in a warning. Amounts are decimal strings with a dot (``277.20``, ``-43.95``, ``$1234.50``);
thousands separators and exponents are refused rather than guessed. A byte-order mark, CRLF line ends, quoted
cells and empty lines are fine. Every bad line is reported with its number (``estimate.csv line 4: cost 'abc' is
not a number``), all at once.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.limits import MAX_NAME_BYTES
from otel_margin_backend.pipeline.textfile import read_text

ROLES = ("customer_id", "cost", "revenue", "margin")
"""What a column can hold, in the order the header is explained."""
_ROLE = re.compile(r"(?:expected_)?(customer|customer_id|cost|revenue|margin)(?:_([a-z]{3}))?")
_AMOUNT = re.compile(r"(-?)\$?(-?)(\d{1,15}(?:\.\d{1,12})?)")
_NAME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_ ()%$./-]{0,59}")
"""What a column name looks like; another header cell is never quoted (the file may be the wrong one, with a key)."""
_PERCENT_WORDS = ("pct", "percent", "percentage")
_QUOTED = 16
"""Longest cell text quoted in an error (enough for any real amount)."""


@dataclass(frozen=True, slots=True)
class EstimateLine:
    """One customer's expected figures for the range, with the line it came from."""

    line: int
    customer: str
    cost: Decimal
    revenue: Decimal | None
    margin: Decimal | None
    """The expected margin: the ``margin`` cell, else ``revenue - cost``, else None (the margin is not checked)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """The estimate file: its lines in file order and the columns that were ignored."""

    path: str
    lines: tuple[EstimateLine, ...]
    ignored_columns: tuple[str, ...]


class EstimateError(PermanentError):
    """The estimate file cannot be used: one problem per bad line, each ``FILE line N: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_estimate(path: str | Path, currency: str = "USD") -> Estimate:
    """Read and check an estimate CSV.

    Args:
        path: The file.
        currency: The reporting currency the amounts are in (a column suffixed with another code is refused).

    Returns:
        The estimate, at least one line.

    Raises:
        EstimateError: the file is not text, has no usable header, no customers, or bad lines (all listed).
    """
    text = read_text(path, what="estimate CSV")  # BOM dropped; binary, non-UTF-8 or huge files refused
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, cells))  # the line a row starts on (a quoted cell may hold line breaks)
            start = reader.line_num + 1
    except csv.Error as exc:
        # The reader's own message names no cell content (e.g. "field larger than field limit (131072)").
        raise EstimateError([f"{path} line {reader.line_num}: not valid CSV: {exc}"]) from None
    if not rows or not any(cell.strip() for cell in rows[0][1]):
        raise EstimateError([f"{path} line 1: the first line must name the columns: customer_id,cost[,revenue]"])
    header = rows[0][1]
    columns, ignored = _header(str(path), header, currency.lower())
    problems: list[str] = []
    lines: list[EstimateLine] = []
    seen: dict[str, int] = {}
    for number, cells in rows[1:]:
        if not any(cell.strip() for cell in cells):
            continue  # an empty line, or a spreadsheet's trailing ",,,"
        try:
            line = _line(number, cells, columns, len(header))
        except ValueError as exc:
            problems.append(f"{path} line {number}: {exc}")
            continue
        if line.customer in seen:
            problems.append(f"{path} line {number}: customer_id {_quote(line.customer)} repeats line "
                            f"{seen[line.customer]}")  # fmt: skip
            continue
        seen[line.customer] = number
        lines.append(line)
    if problems:
        raise EstimateError(problems)
    if not lines:
        raise EstimateError([f"{path}: no customers; add one line per customer under the header"])
    return Estimate(str(path), tuple(lines), tuple(ignored))


def _header(path: str, cells: list[str], currency: str) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[str] = []
    for index, raw in enumerate(cells):
        name = raw.strip()
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        match = _ROLE.fullmatch(key)
        if "%" in name or key.endswith(_PERCENT_WORDS) or not match:
            ignored.append(name if _NAME_LIKE.fullmatch(name) else f"column {index + 1}")
            continue
        role = "customer_id" if match[1] == "customer" else match[1]
        if match[2] and match[2] != currency and role != "customer_id":
            problems.append(f"{path} line 1: column {name!r} is in {match[2].upper()}; give amounts in "
                            f"{currency.upper()}, the reporting currency (they are not converted)")  # fmt: skip
            continue
        if role in columns:
            problems.append(f"{path} line 1: two {role} columns ({columns[role] + 1} and {index + 1}); keep one")
            continue
        columns[role] = index
    if problems:
        raise EstimateError(problems)
    missing = [role for role in ("customer_id", "cost") if role not in columns]
    if missing:
        # A file without a header (its first customer on line 1) or the wrong file: never quote the line.
        found = f" (found {', '.join(ignored)})" if ignored else ""
        raise EstimateError([f"{path} line 1: no {' or '.join(missing)} column{found}; the first line must name "
                             "the columns: customer_id,cost and optionally revenue or margin"])  # fmt: skip
    return columns, ignored


def _line(number: int, cells: list[str], columns: dict[str, int], width: int) -> EstimateLine:
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        raise ValueError(f"{len(cells)} cells, but the header names {width} columns")

    def cell(role: str) -> str:
        index = columns.get(role)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    customer = cell("customer_id")
    if not customer:
        raise ValueError("customer_id is empty")
    if len(customer.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"customer_id is longer than {MAX_NAME_BYTES} bytes (no usage can carry it)")
    problems: list[str] = []
    values: dict[str, Decimal | None] = {}
    for role in ("cost", "revenue", "margin"):
        try:
            values[role] = _amount(role, cell(role))
        except ValueError as exc:
            problems.append(str(exc))
    cost = values.get("cost")
    if "cost" in values and cost is None:
        problems.append("cost is empty")
    elif cost is not None and cost < 0:
        problems.append(f"cost {_quote(cell('cost'))} is negative")
    if problems:
        raise ValueError("; ".join(problems))
    assert cost is not None
    revenue, margin = values["revenue"], values["margin"]
    if margin is None and revenue is not None:
        margin = revenue - cost
    return EstimateLine(number, customer, cost, revenue, margin)


def _amount(role: str, text: str) -> Decimal | None:
    if not text:
        return None
    match = _AMOUNT.fullmatch(text.replace(" ", ""))
    if not match or (match[1] and match[2]):
        hint = " (a dot for decimals, no thousands separators)" if "," in text else ""
        raise ValueError(f"{role} {_quote(text)} is not a number; write it like 1234.50{hint}")
    value = Decimal(match[3])
    return -value if match[1] or match[2] else value


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTED else text[:_QUOTED] + "…")
