"""Margin-target pricing: per customer, the monthly revenue that reaches a target margin at the trailing cost,
from ``customer_target_pricing()`` (migration 0077), the one function the CLI, REST and Grafana read.

The trailing cost is the last full UTC calendar month's (``--month`` picks an earlier full month). Required
revenue = cost / (1 - target / 100), rounded up to the cent; the price change is against that month's revenue,
and none (``note`` says why) when there is no revenue, no cost or no priced call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from psycopg.rows import class_row
from rich.table import Table
from rich.text import Text

from otel_margin_backend.analytics.pnl import Period, period
from otel_margin_backend.analytics.render import csv_text, month_row_json
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.money import UNPRICED, money
from otel_margin_backend.storage.database import AsyncConn, Conn
from otel_margin_backend.storage.exchange import Statement, Steps, arun, exchange, run

TARGET_SQL = "SELECT * FROM customer_target_pricing(%s, %s)"
LOWEST, HIGHEST = Decimal(-100), Decimal(100)
"""A target margin must lie strictly between these (100 % would need infinite revenue)."""


@dataclass(frozen=True, slots=True)
class TargetRow:
    """One customer's month: its figures and the revenue that would reach the target margin."""

    customer: str
    month: date
    revenue: Decimal | None
    cost: Decimal | None
    margin_pct: Decimal | None
    target_margin_pct: Decimal
    required_revenue: Decimal | None
    price_change_pct: Decimal | None
    note: str | None
    """Why a figure is missing: ``unpriced``, ``no revenue``, ``no cost``; None when all are there."""
    unpriced_calls: int
    reporting_currency: str


def parse_target(text: str, *, name: str = "--target-margin") -> Decimal:
    """A target margin in percent (``60`` or ``60%``), above -100 and below 100.

    Args:
        text: The value as given.
        name: The option or parameter, for the error.

    Returns:
        The percentage.

    Raises:
        PermanentError: not a number, or outside the range; the message names the value.
    """
    cleaned = text.strip().removesuffix("%").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not LOWEST < value < HIGHEST:
        raise PermanentError(f"{name} {text[:40]!r}: give a margin in percent above -100 and below 100, e.g. 60")
    return value + 0  # -0 -> 0


def trailing_month(month: str | None = None, *, now: datetime | None = None) -> Period:
    """The full UTC month whose cost is priced: ``month`` (``2026-11``) if given and over, else the last one.

    Args:
        month: A calendar month, or None for the last full month before ``now``.
        now: The current time. Default: now.

    Returns:
        The month as a period.

    Raises:
        PermanentError: the month does not parse or is not over yet.
    """
    now = now or datetime.now(UTC)
    if month is None:
        last_day = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=1)
        return period(month=f"{last_day:%Y-%m}")
    span = period(month=month)
    if span.end > now:
        raise PermanentError(
            f"month {span.label} is not over yet: the target price uses a full month's cost; give an earlier month "
            "or none (the last full month)"
        )
    return span


@exchange()
def _target(target_pct: Decimal, month: Period) -> Steps[list[TargetRow]]:
    # The function prices the month that ended at or before as_of: the month's own end.
    return (yield Statement(TARGET_SQL, (target_pct, month.end), class_row(TargetRow)))


def read_target(conn: Conn, target_pct: Decimal, month: Period) -> list[TargetRow]:
    """Every customer's required revenue for ``target_pct`` at the cost of the full month ``month``."""
    return run(conn, _target(target_pct, month))


async def read_target_async(conn: AsyncConn, target_pct: Decimal, month: Period) -> list[TargetRow]:
    """``read_target`` on an async connection."""
    return await arun(conn, _target(target_pct, month))


def target_json(row: TargetRow) -> dict[str, object]:
    """A row as JSON-ready values: money as exact strings, percentages to two places, the month as YYYY-MM."""
    return month_row_json(row)


def change_text(row: TargetRow) -> str:
    """The price change for people: ``+197.11 %``, or what stands in for it (``no revenue`` …)."""
    if row.price_change_pct is not None:
        return f"{row.price_change_pct:+.2f} %"
    return row.note or "—"


def target_table(rows: list[TargetRow], *, title: str) -> Table:
    """The required revenue per customer; a price rise in red, the margin % now beside the target."""
    table = Table(title=title, title_justify="left")
    for name in ("Customer", "Revenue", "AI cost", "Margin %", "Revenue needed", "Price change"):
        table.add_column(name, justify="left" if name == "Customer" else "right")
    for row in rows:
        style = "red" if row.price_change_pct is not None and row.price_change_pct > 0 else ""
        table.add_row(
            row.customer,
            money(row.revenue, row.reporting_currency),
            UNPRICED if row.cost is None else money(row.cost, row.reporting_currency),
            "—" if row.margin_pct is None else f"{row.margin_pct:.2f} %",
            UNPRICED if row.required_revenue is None else money(row.required_revenue, row.reporting_currency),
            Text(change_text(row), style=style),
        )
    return table


def target_csv(rows: list[TargetRow]) -> str:
    """The rows as CSV with a header line (empty for unknown)."""
    return csv_text(list(TargetRow.__dataclass_fields__), [target_json(row) for row in rows])
