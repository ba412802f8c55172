"""Reading the P&L: ``pnl()``, ``pnl_projection()`` and ``pnl_data_quality()`` from the database."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from psycopg.rows import class_row

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.periods import hour_end
from otel_margin_backend.storage.database import AsyncConn, Conn
from otel_margin_backend.storage.exchange import Statement, Steps, arun, exchange, run

GroupBy = Literal["customer", "feature", "model", "provider", "organization"]
GROUPS: tuple[GroupBy, ...] = ("customer", "feature", "model", "provider", "organization")


@dataclass(frozen=True, slots=True)
class PnlRow:
    """One line of the P&L. ``revenue``/``margin`` are None when grouping by feature, model or provider.

    ``cost`` is None when the group had calls and none of them could be priced (unknown, never 0); ``margin``,
    ``margin_pct`` and ``cost_share_pct`` are None with it. A partly priced cost is the priced calls' cost, with
    ``unpriced_calls`` beside it.
    """

    key: str
    revenue: Decimal | None
    cost: Decimal | None
    margin: Decimal | None
    margin_pct: Decimal | None
    unprofitable: bool
    cost_share_pct: Decimal | None
    calls: int
    input_tokens: int
    cache_read_tokens: int
    output_tokens: int
    reasoning_tokens: int
    unpriced_calls: int
    estimated_calls: int
    reporting_currency: str
    unconverted: list[str]


@dataclass(frozen=True, slots=True)
class Projection:
    """The month-end projection of one group at the current pace."""

    key: str
    month: datetime
    elapsed_pct: Decimal
    cost_to_date: Decimal
    projected_cost: Decimal
    month_revenue: Decimal | None
    projected_margin: Decimal | None
    projected_margin_pct: Decimal | None


@dataclass(frozen=True, slots=True)
class DataQuality:
    """How much of a period's usage can be trusted: unattributed, unpriced, estimated and missing-usage shares.

    ``cost`` and ``unattributed_cost`` are None when the period had calls and none of them could be priced.
    """

    cost: Decimal | None
    unattributed_cost: Decimal | None
    unattributed_cost_pct: Decimal | None
    calls: int
    unpriced_calls: int
    unpriced_calls_pct: Decimal | None
    estimated_calls: int
    missing_usage_calls: int


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC range ``[start, end)``."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """The period as people read it, e.g. ``2026-11`` or ``2026-11-04 to 2026-12-03``."""
        last = self.end - timedelta(microseconds=1)
        if self.start.day == 1 and self.end == _next_month(self.start) and self.start.time() == datetime.min.time():
            return self.start.strftime("%Y-%m")
        return f"{self.start:%Y-%m-%d} to {last:%Y-%m-%d}"


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR = 1970
"""Earliest year a period may start in."""
LAST_YEAR = 9998
"""Latest year a period may end in (so the day after it is still a date)."""


def _next_month(start: datetime) -> datetime:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def period(*, month: str | None = None, start: str | None = None, end: str | None = None,
           now: datetime | None = None) -> Period:  # fmt: skip
    """The range a user asked for: a calendar UTC month (``2026-11``), or ``--from``/``--to`` UTC days.

    The one range rule of the CLI, REST and the demo: ``--from`` and ``--to`` are days, both included, and a
    range that reaches today stops at the end of the current UTC hour (pipeline/periods.py says why). A month
    is the calendar month. With nothing given, the current UTC month.

    Raises:
        PermanentError: the values do not parse or the range is empty.
    """
    now = now or datetime.now(UTC)
    if month and (start or end):
        raise PermanentError("give either a month or --from/--to, not both")
    if start or end:
        if not (start and end):
            raise PermanentError("give both --from and --to (dates like 2026-11-01)")
        first, last = _date(start, "--from"), _date(end, "--to")
        if last < first:
            raise PermanentError(f"--to {last} is before --from {first}")
        begin = _utc(first)
        return Period(begin, max(begin, min(_utc(last + timedelta(days=1)), hour_end(now))))
    if month is None:
        month = f"{now:%Y-%m}"
    match = _MONTH.match(month.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise PermanentError(f"{month[:40]!r} is not a month; use YYYY-MM, e.g. 2026-11")
    if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        raise PermanentError(f"month {month.strip()}: the year must be from {FIRST_YEAR} to {LAST_YEAR}")
    begin = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    return Period(begin, _next_month(begin))


def _date(text: str, what: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise PermanentError(f"{what} {text[:40]!r} is not a date; use YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise PermanentError(f"{what} {day}: the year must be from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


PNL_SQL = "SELECT * FROM pnl(%s, %s, %s)"
PROJECTION_SQL = "SELECT * FROM pnl_projection(%s)"
QUALITY_SQL = "SELECT * FROM pnl_data_quality(%s, %s)"


@exchange()
def _pnl(span: Period, by: GroupBy) -> Steps[list[PnlRow]]:
    return (yield Statement(PNL_SQL, (span.start, span.end, by), class_row(PnlRow)))


@exchange()
def _projection(as_of: datetime) -> Steps[list[Projection]]:
    return (yield Statement(PROJECTION_SQL, (as_of,), class_row(Projection)))


@exchange()
def _quality(span: Period) -> Steps[DataQuality]:
    rows = yield Statement(QUALITY_SQL, (span.start, span.end), class_row(DataQuality))
    assert rows
    row: DataQuality = rows[0]
    return row


def read_pnl(conn: Conn, span: Period, by: GroupBy = "customer") -> list[PnlRow]:
    """The P&L rows of ``span`` grouped ``by`` customer, feature, model, provider or organization."""
    return run(conn, _pnl(span, by))


def read_projection(conn: Conn, as_of: datetime) -> list[Projection]:
    """Month-end projections as of ``as_of`` for every group."""
    return run(conn, _projection(as_of))


def read_quality(conn: Conn, span: Period) -> DataQuality:
    """The data-quality figures of ``span``."""
    return run(conn, _quality(span))


async def read_pnl_async(conn: AsyncConn, span: Period, by: GroupBy = "customer") -> list[PnlRow]:
    """``read_pnl`` on an async connection."""
    return await arun(conn, _pnl(span, by))


async def read_quality_async(conn: AsyncConn, span: Period) -> DataQuality:
    """``read_quality`` on an async connection."""
    return await arun(conn, _quality(span))


PERCENT_PLACES = Decimal("0.01")


def decimal_text(value: Decimal) -> str:
    """Exact text of an amount without trailing zeros past the cents: ``134.2900000`` -> ``134.29``, ``4140`` ->
    ``4140.00``, ``0.0012345`` stays."""
    exact = value.normalize()
    if exact.as_tuple().exponent > -2:  # type: ignore[operator]
        exact = exact.quantize(Decimal("0.01"))
    return format(exact, "f")


def as_json(row: PnlRow | Projection | DataQuality) -> dict[str, object]:
    """A row as JSON-ready values: money as exact strings, percentages (``*_pct``) to two places as the tables
    show them (half to even), the rest as is."""
    out: dict[str, object] = {}
    for key, value in asdict(row).items():
        if isinstance(value, Decimal):
            value = decimal_text(value.quantize(PERCENT_PLACES, ROUND_HALF_EVEN) if key.endswith("_pct") else value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out
