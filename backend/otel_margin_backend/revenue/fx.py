"""Exchange rates to the reporting currency: ``otel-margin fx import rates.csv``.

The file has a header and the columns ``date,currency,rate``: one unit of ``currency`` is worth ``rate`` units of
the reporting currency from ``date`` on (``2026-11-01,EUR,1.0832``). Rates are exact decimals. Importing the same
(currency, date) again replaces its rate. The rate in force for a month is the latest one dated on or before the
month's last day (``fx_rate_in_force()`` in migration 0023).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from otel_margin_backend.revenue.csvfile import EXTRA_CELLS, read_csv
from otel_margin_backend.revenue.currency import normalize_code
from otel_margin_backend.revenue.ledger import Ledger

COLUMNS = frozenset({"date", "currency", "rate"})


@dataclass(frozen=True, slots=True)
class FxRate:
    """One exchange rate: units of the reporting currency per unit of ``currency`` from ``valid_from`` on."""

    day: dt.date
    currency: str
    rate: Decimal


def _rate(text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"{text!r} is not a positive rate")
    return rate


def parse_rates(path: Path, reporting_currency: str) -> tuple[list[FxRate], list[str]]:
    """The rates in a CSV file, or the errors, one per bad line (``line 4: rate: 'abc' is not a number``).

    Raises:
        ValueError: the header is missing or names unknown columns.
    """
    rates: list[FxRate] = []
    errors: list[str] = []
    seen: dict[tuple[str, dt.date], int] = {}
    for row in read_csv(path, COLUMNS):
        problems: list[str] = []
        missing = sorted(COLUMNS - set(row.values))
        if EXTRA_CELLS in row.values:
            problems.append("more cells than the header has columns")
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if problems:
            errors.append(f"line {row.line}: " + "; ".join(problems))
            continue
        try:
            day = dt.date.fromisoformat(row.values["date"])
        except ValueError:
            problems.append(f"date: {row.values['date']!r} is not a date (YYYY-MM-DD)")
        try:
            currency = normalize_code(row.values["currency"])
            if currency == reporting_currency:
                problems.append(f"currency: {currency} is the reporting currency (its rate is always 1)")
        except ValueError as exc:
            problems.append(f"currency: {exc}")
        try:
            rate = _rate(row.values["rate"])
        except ValueError as exc:
            problems.append(f"rate: {exc}")
        if problems:
            errors.append(f"line {row.line}: " + "; ".join(problems))
            continue
        if (currency, day) in seen:
            errors.append(f"line {row.line}: {currency} on {day} repeats line {seen[currency, day]}")
            continue
        seen[currency, day] = row.line
        rates.append(FxRate(day, currency, rate))
    return rates, errors


async def store_rates(
    ledger: Ledger,
    reporting_currency: str,
    rates: Sequence[FxRate],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Store rates and make ``reporting_currency`` the one the views use, in one transaction.

    Returns:
        The reporting currency the views used before.
    """
    async with ledger.conn.transaction():
        previous = await ledger.set_reporting_currency(reporting_currency)
        for done, rate in enumerate(rates, 1):
            await ledger.upsert_fx_rate(reporting_currency, rate.currency, rate.day, rate.rate)
            if on_progress is not None:
                on_progress(done)
    return previous
