"""The user-facing parameters of a simulation (CLI options and REST query parameters), parsed one way.

``--from`` / ``from`` and ``--to`` / ``to`` take an ISO date (``2026-11-01``) or an ISO date-time
(``2026-11-01T12:00:00Z``; no offset means UTC). A date given as ``to`` includes that whole day, and stops at
the end of the current hour when the day is today (the P&L's range rule, pipeline/periods.py); a date-time
given as ``to`` is the first instant *not* included.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.periods import hour_end
from otel_margin_backend.simulator.config import MAX_ENGINEERING_HOURS, MAX_HOURLY_RATE
from otel_margin_backend.simulator.simulator import SimulationRequest

FIRST_YEAR = 1970
"""Earliest year of ``from`` / ``to``."""
LAST_YEAR = 9998
"""Latest year of ``from`` / ``to`` (so the window's arithmetic stays inside what a datetime holds)."""
PARAMETERS = ("feature", "customer", "candidates", "from", "to", "engineering_hours", "hourly_rate")
"""Query parameters ``GET /v1/simulate`` accepts (the CLI options of the same names)."""


def parse_moment(text: str, *, name: str, end: bool) -> datetime:
    """A date or date-time parameter as a UTC instant.

    Args:
        text: The value as given.
        name: The parameter's name, for the error.
        end: True for ``to``: a bare date then means the instant after that day.

    Returns:
        The instant.

    Raises:
        PermanentError: the value is neither an ISO date nor an ISO date-time.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, time(0), UTC)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise PermanentError(
            f"{name}: {text[:40]!r} is not a date (2026-11-01) or date-time (2026-11-01T12:00:00Z)"
        ) from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise PermanentError(f"{name}: {value[:40]}: the year must be from {FIRST_YEAR} to {LAST_YEAR}")
    if len(value) == 10:
        return min(moment + timedelta(days=1), hour_end(datetime.now(UTC))) if end else moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_candidates(text: str | None) -> tuple[str, ...] | None:
    """``a,b`` as a tuple of specs; None or blank means the configured candidates.

    Args:
        text: The value as given.

    Returns:
        The specs, or None.

    Raises:
        PermanentError: the list names nothing.
    """
    if text is None:
        return None
    specs = tuple(part.strip() for part in text.split(",") if part.strip())
    if not specs:
        raise PermanentError("candidates: give one or more provider/model names separated by commas")
    return specs


def parse_amount(text: str | None, *, name: str, most: Decimal) -> Decimal | None:
    """A number from 0 to ``most`` (engineering hours, an hourly rate); None or blank means the setting.

    Args:
        text: The value as given.
        name: The parameter's name, for the error.
        most: The largest value allowed.

    Returns:
        The number, or None.

    Raises:
        PermanentError: not a number, or outside 0 to ``most``.
    """
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 <= value <= most:
        raise PermanentError(f"{name}: {text[:40]!r} is not a number from 0 to {most}")
    return value + 0  # -0 -> 0


def build_request(
    *,
    feature: str | None = None,
    customer: str | None = None,
    candidates: str | None = None,
    start: str | None = None,
    end: str | None = None,
    engineering_hours: str | None = None,
    hourly_rate: str | None = None,
) -> SimulationRequest:
    """A simulation request from textual parameters.

    Args:
        feature: Only this feature.
        customer: Only this customer.
        candidates: ``a,b``.
        start: ``from``.
        end: ``to``.
        engineering_hours: Hours a swap takes (default: the setting).
        hourly_rate: USD per hour (default: the setting).

    Returns:
        The request.

    Raises:
        PermanentError: a value that does not parse, named.
    """
    return SimulationRequest(
        feature=feature or None,
        customer=customer or None,
        candidates=parse_candidates(candidates),
        start=parse_moment(start, name="from", end=False) if start else None,
        end=parse_moment(end, name="to", end=True) if end else None,
        engineering_hours=parse_amount(engineering_hours, name="engineering_hours", most=MAX_ENGINEERING_HOURS),
        hourly_rate=parse_amount(hourly_rate, name="hourly_rate", most=MAX_HOURLY_RATE),
    )


def request_from_query(params: Mapping[str, str]) -> SimulationRequest:
    """A simulation request from REST query parameters; unknown parameters are refused.

    Args:
        params: The query parameters.

    Returns:
        The request.

    Raises:
        PermanentError: an unknown parameter, or a value that does not parse.
    """
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise PermanentError(f"unknown parameter {unknown[0]!r}; use {', '.join(PARAMETERS)}")
    return build_request(
        feature=params.get("feature"),
        customer=params.get("customer"),
        candidates=params.get("candidates"),
        start=params.get("from"),
        end=params.get("to"),
        engineering_hours=params.get("engineering_hours"),
        hourly_rate=params.get("hourly_rate"),
    )
