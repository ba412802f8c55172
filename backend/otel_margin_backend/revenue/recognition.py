"""Recognition by period: which UTC month an amount belongs to, exactly to the minor unit.

Pure functions over integers (minor units, Unix seconds); no I/O.

- An amount with a service period ``[start, end)`` is spread over the UTC calendar months it covers, pro rata by
  seconds. Each month but the last gets its share truncated toward zero; the last gets the remainder, so the
  shares always add up to the amount exactly (and a credit spreads like the matching debit, mirrored).
- An amount without a period (or with ``start == end``, Stripe's one-off invoice items) is one-off: it belongs
  to the month of the instant it counts at (when the invoice was paid, the refund happened, ...).
- ``prorate`` splits an amount in the ratio ``part / whole`` (a refund into revenue and tax like its invoice)
  with the same truncation; the other share is the remainder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True, slots=True)
class Slice:
    """The part of an amount recognized in one month."""

    month: date
    """First day of the UTC month."""
    amount_minor: int
    start: datetime | None
    """Start of the service period's part in this month (None for a one-off amount)."""
    end: datetime | None
    """End (exclusive) of that part (None for a one-off amount)."""


def utc(ts: int) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def month_of(ts: int) -> date:
    """The UTC month (its first day) a Unix timestamp falls in."""
    moment = utc(ts)
    return date(moment.year, moment.month, 1)


def _next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def _seconds(month: date) -> int:
    return int(datetime(month.year, month.month, 1, tzinfo=UTC).timestamp())


def share(amount_minor: int, part: int, whole: int) -> int:
    """``amount * part / whole`` truncated toward zero (so a negative amount mirrors the positive one)."""
    if whole <= 0 or part < 0:
        raise ValueError(f"cannot take {part}/{whole} of an amount")
    magnitude = abs(amount_minor) * part // whole
    return magnitude if amount_minor >= 0 else -magnitude


def prorate(amount_minor: int, part: int, whole: int) -> tuple[int, int]:
    """Split an amount as ``part : whole - part``; the first share is truncated, the second is the rest.

    Returns ``(amount, 0)`` when ``whole`` is 0 (nothing to split by).
    """
    if whole == 0:
        return amount_minor, 0
    if whole < 0:
        part, whole = -part, -whole
    first = share(amount_minor, min(max(part, 0), whole), whole)
    return first, amount_minor - first


def one_off(amount_minor: int, at: int) -> list[Slice]:
    """An amount that counts wholly in the month of ``at``."""
    return [Slice(month_of(at), amount_minor, None, None)]


def spread(amount_minor: int, start: int, end: int) -> list[Slice]:
    """Spread an amount over the UTC months of ``[start, end)``, pro rata by seconds, remainder to the last month.

    Raises:
        ValueError: ``end`` is not after ``start`` (a one-off amount: use ``one_off``).
    """
    if end <= start:
        raise ValueError(f"service period end {end} is not after its start {start}")
    total = end - start
    bounds: list[tuple[int, int]] = []
    cursor = start
    month = month_of(start)
    while cursor < end:
        upper = min(_seconds(_next_month(month)), end)
        bounds.append((cursor, upper))
        cursor = upper
        month = _next_month(month)
    slices: list[Slice] = []
    given = 0
    for index, (lo, hi) in enumerate(bounds):
        part = amount_minor - given if index == len(bounds) - 1 else share(amount_minor, hi - lo, total)
        given += part
        slices.append(Slice(month_of(lo), part, utc(lo), utc(hi)))
    return slices


def recognize(amount_minor: int, period: tuple[int, int] | None, at: int) -> list[Slice]:
    """Where an amount is recognized: spread over its service period, or one-off at ``at``.

    Args:
        amount_minor: The amount, in minor units (negative for credits).
        period: ``(start, end)`` in Unix seconds, end exclusive; None or ``start >= end`` for one-off amounts.
        at: When a one-off amount counts (Unix seconds).

    Returns:
        The slices, in month order, whose amounts add up to ``amount_minor``. Slices of 0 are kept so that
        every kind of amount on a line lands in the same months; callers drop zero rows.
    """
    if period is None or period[1] <= period[0]:
        return one_off(amount_minor, at)
    return spread(amount_minor, period[0], period[1])
