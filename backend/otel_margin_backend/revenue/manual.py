"""Manual revenue: entries sent to ``POST /v1/revenue`` or imported with ``otel-margin revenue import file.csv``.

For revenue that does not go through Stripe (invoices from another system, enterprise contracts). One entry:

    {"external_id": "contract-42-2026-11", "customer_id": "acct_123", "amount": "1200.00", "currency": "EUR",
     "period_start": "2026-11-01", "period_end": "2026-11-30", "kind": "revenue"}

- ``external_id`` identifies the entry: sending it again replaces it (same data: nothing changes).
- ``amount`` in major units (a string or a JSON number, read exactly) or ``amount_minor`` in minor units.
- ``period_start`` / ``period_end`` (dates, both inclusive) spread it like a Stripe line; ``date`` makes it one-off.
- ``kind``: ``revenue`` (default; signed) or ``tax`` (signed); ``refund``, ``credit_note``, ``dispute`` and
  ``discount`` are reductions given as positive amounts and booked negative.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from otel_margin_backend.revenue.csvfile import EXTRA_CELLS, read_csv
from otel_margin_backend.revenue.currency import normalize_code, to_minor
from otel_margin_backend.revenue.entries import Booking, Kind, entries_for
from otel_margin_backend.revenue.ledger import Ledger
from otel_margin_backend.revenue.recognition import recognize

REDUCTIONS: frozenset[str] = frozenset({"refund", "credit_note", "dispute", "discount"})
MAX_MINOR = 10**15
"""Larger amounts are a unit mistake, not revenue: refused."""

FIRST_DAY = dt.date(2000, 1, 1)
"""Earliest date of an entry (as for Stripe objects: earlier is a typo or a unit mistake)."""
LAST_DAY = dt.date(2099, 12, 31)
"""Latest date of an entry."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


Text = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_no_nul)]


def _seconds(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


class ManualRevenueIn(BaseModel):
    """One manual revenue entry as clients send it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    external_id: Text
    customer_id: Text
    currency: str
    amount: Decimal | None = None
    amount_minor: int | None = None
    kind: Kind = "revenue"
    on: dt.date | None = Field(default=None, alias="date")
    period_start: dt.date | None = None
    period_end: dt.date | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return normalize_code(value)

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError("send the amount as a string or an exact JSON number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ManualRevenueIn:
        if (self.amount is None) == (self.amount_minor is None):
            raise ValueError("give exactly one of amount (major units) and amount_minor")
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("give both period_start and period_end")
        if (self.on is None) == (self.period_start is None):
            raise ValueError("give either date or period_start and period_end")
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        for day in (self.on, self.period_start, self.period_end):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise ValueError(f"the date {day} is not between {FIRST_DAY} and {LAST_DAY}")
        minor = self.minor
        if minor == 0:
            raise ValueError("the amount is 0")
        if abs(minor) > MAX_MINOR:
            raise ValueError("the amount is too large")
        if self.kind in REDUCTIONS and minor < 0:
            raise ValueError(f"give a {self.kind} as a positive amount (it is booked as a reduction)")
        return self

    @property
    def minor(self) -> int:
        """The amount in minor units, as given (before the sign of reductions)."""
        if self.amount_minor is not None:
            return self.amount_minor
        assert self.amount is not None
        return to_minor(self.amount, self.currency)

    def booking(self) -> Booking:
        """The entries: spread over the period (end day included), or one-off in the month of ``date``."""
        amount = -self.minor if self.kind in REDUCTIONS else self.minor
        if self.on is not None:
            at, period = _seconds(self.on), None
        else:
            assert self.period_start is not None and self.period_end is not None
            at = _seconds(self.period_start)
            period = (at, _seconds(self.period_end + dt.timedelta(days=1)))
        occurred = dt.datetime.fromtimestamp(at, dt.UTC)
        entries = entries_for(self.kind, amount, recognize(amount, period, at), "", occurred)
        return Booking("manual", self.external_id, self.currency, tuple(entries), customer_id=self.customer_id)


def describe(error: Any) -> str:
    """One pydantic error as ``field: message``."""
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_items(payload: Any) -> tuple[list[Booking], list[dict[str, object]]]:
    """Valid entries as bookings, and one ``{"index", "external_id", "error"}`` per invalid one."""
    items = payload if isinstance(payload, list) else [payload]
    bookings: list[Booking] = []
    rejected: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        external_id = item.get("external_id") if isinstance(item, dict) else None
        try:
            entry = ManualRevenueIn.model_validate(item)
        except ValidationError as exc:
            rejected.append(
                {"index": index, "external_id": external_id, "error": "; ".join(map(describe, exc.errors()))}
            )
            continue
        if entry.external_id in seen:
            error = f"external_id repeats item {seen[entry.external_id]}"
            rejected.append({"index": index, "external_id": external_id, "error": error})
            continue
        seen[entry.external_id] = index
        bookings.append(entry.booking())
    return bookings, rejected


COLUMNS = frozenset({"external_id", "customer_id", "currency", "amount", "amount_minor", "kind", "date",
                     "period_start", "period_end"})  # fmt: skip


def parse_csv(path: Path) -> tuple[list[Booking], list[str]]:
    """Every entry of a revenue CSV, or the errors, one per bad line (``line 7: amount: ...``).

    Raises:
        ValueError: the header is missing or names unknown columns.
    """
    bookings: list[Booking] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for row in read_csv(path, COLUMNS):
        if EXTRA_CELLS in row.values:
            errors.append(f"line {row.line}: more cells than the header has columns")
            continue
        values: dict[str, Any] = dict(row.values)
        if "amount_minor" in values:
            try:
                values["amount_minor"] = int(values["amount_minor"])
            except ValueError:
                errors.append(f"line {row.line}: amount_minor: {values['amount_minor']!r} is not a whole number")
                continue
        if "amount" in values:
            try:
                values["amount"] = Decimal(values["amount"])
            except InvalidOperation:
                errors.append(f"line {row.line}: amount: {values['amount']!r} is not a number")
                continue
        try:
            entry = ManualRevenueIn.model_validate(values)
        except ValidationError as exc:
            errors.append(f"line {row.line}: " + "; ".join(map(describe, exc.errors())))
            continue
        if entry.external_id in seen:
            errors.append(f"line {row.line}: external_id {entry.external_id!r} repeats line {seen[entry.external_id]}")
            continue
        seen[entry.external_id] = row.line
        bookings.append(entry.booking())
    return bookings, errors


async def store(
    ledger: Ledger, bookings: Iterable[Booking], *, on_progress: Callable[[int], None] | None = None
) -> int:
    """Store manual bookings in one transaction; returns how many changed (the rest were already so)."""
    changed = 0
    async with ledger.conn.transaction():
        await ledger.lock()
        for done, booking in enumerate(bookings, 1):
            changed += await ledger.replace(booking)
            if on_progress is not None:
                on_progress(done)
    return changed


def totals(bookings: Sequence[Booking]) -> dict[str, int]:
    """Sum of the entries per currency (minor units)."""
    out: dict[str, int] = {}
    for booking in bookings:
        out[booking.currency] = out.get(booking.currency, 0) + sum(e.amount_minor for e in booking.entries)
    return out
