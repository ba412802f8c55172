"""An invoice as CSV, for providers without a cost API: ``otel-margin bills import invoice.csv --provider mistral``.

Header required. Columns: ``day`` and ``amount`` (required), ``currency`` (default USD), ``model``, ``project``,
``api_key``, ``line_item``, ``service_tier``, ``requests``, ``input_tokens`` (cache reads and writes included),
``cache_read_tokens``, ``cache_write_tokens``, ``output_tokens``. Amounts are exact decimals in major units.
Every bad line is named (``line 7: amount: 'ten' is not a number``) and nothing is imported until all are right.
The file is the bill of the days from its first to its last: importing a corrected file replaces those days.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from otel_margin_backend.bills.lines import BillLine
from otel_margin_backend.pipeline.csvfile import EXTRA_CELLS, read_csv
from otel_margin_backend.pipeline.errors import PermanentError

STREAM = "csv"
REQUIRED = frozenset({"day", "amount"})
TEXT = ("model", "project", "api_key", "line_item", "service_tier")
COUNTS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
COLUMNS = REQUIRED | {"currency", *TEXT, *COUNTS}
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
MAX_AMOUNT = Decimal(10) ** 12
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_TEXT = 200
_DIGITS = re.compile(r"[0-9]{1,15}")


def check_provider(name: str) -> str:
    """``name`` if it can name a provider (lowercase, as spans name it: ``mistral``, ``azure.ai.openai``).

    Raises:
        PermanentError: it cannot.
    """
    if not _PROVIDER.match(name):
        raise PermanentError(f"--provider {name!r}: use the provider's name as spans carry it, lowercase, e.g. mistral")
    return name


def read_invoice(path: Path) -> list[BillLine]:
    """The lines of an invoice CSV.

    Raises:
        PermanentError: the file cannot be read, has a bad header, no lines, or bad lines (each one named).
    """
    lines: list[BillLine] = []
    errors: list[str] = []
    for row in read_csv(path, COLUMNS):
        v = row.values
        problems: list[str] = []
        if EXTRA_CELLS in v:
            problems.append("more cells than the header has columns")
        missing = sorted(REQUIRED - set(v))
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        day = _day(v.get("day"), problems)
        amount = _amount(v.get("amount"), problems)
        currency = v.get("currency", "USD")
        if not _CURRENCY.match(currency):
            problems.append(f"currency: {currency!r} is not a three-letter code (USD)")
        counts = {name: _count(name, v.get(name), problems) for name in COUNTS}
        texts = {name: v.get(name, "") for name in TEXT}
        for name, text in texts.items():
            if len(text) > MAX_TEXT or "\x00" in text:
                problems.append(f"{name}: longer than {MAX_TEXT} characters or contains a NUL character")
        inp, read, write = counts["input_tokens"], counts["cache_read_tokens"], counts["cache_write_tokens"]
        if inp is not None and read is not None and write is not None and read + write > inp:
            problems.append("input_tokens must include cache_read_tokens and cache_write_tokens")
        if problems or day is None or amount is None:
            errors.append(f"line {row.line}: " + "; ".join(problems))
            continue
        n = {k: c or 0 for k, c in counts.items()}
        lines.append(BillLine(STREAM, day, model=texts["model"], project=texts["project"], api_key=texts["api_key"],
                              line_item=texts["line_item"], service_tier=texts["service_tier"],
                              requests=n["requests"], input_tokens=n["input_tokens"],
                              cache_read_tokens=n["cache_read_tokens"], cache_write_tokens=n["cache_write_tokens"],
                              output_tokens=n["output_tokens"], amount=amount, currency=currency.upper()))  # fmt: skip
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise PermanentError(f"{path}: nothing imported; fix these lines and import it again:\n  " + "\n  ".join(shown))
    if not lines:
        raise PermanentError(f"{path}: no lines under the header; expected e.g. day,model,amount")
    return lines


def _day(text: str | None, problems: list[str]) -> dt.date | None:
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        problems.append(f"day: {text[:40]!r} is not a date (YYYY-MM-DD)")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        problems.append(f"day: {day} is not between {FIRST_DAY} and {LAST_DAY}")
        return None
    return day


def _amount(text: str | None, problems: list[str]) -> Decimal | None:
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        problems.append(f"amount: {text[:40]!r} is not a number")
        return None
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        problems.append(f"amount: {text[:40]!r} is not an amount below 10^12")
        return None
    return amount


def _count(name: str, text: str | None, problems: list[str]) -> int | None:
    if text is None:
        return 0
    if not _DIGITS.fullmatch(text):
        problems.append(f"{name}: {text[:40]!r} is not a whole number of at most 15 digits")
        return None
    return int(text)
