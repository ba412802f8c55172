"""The input limits: what one usage event may hold, in one table, checked where input enters.

Every value that reaches the store passes ``event_problem`` once, at the edge: the normalizer runs it on each
event a span became (a span that breaks a limit is rejected alone, by OTLP partial success), the REST receiver
runs the same checks per item (a 400 item). The limits keep every row well inside what PostgreSQL accepts (the
``usage_hourly`` primary key holds four of the names: 4 x 256 bytes stays far below btree's 2,704-byte row
limit), so the writer's own data-error handling (``storage/writer.py``) is the last line, never the first.
``docs/limits.md`` is the table for users; change both together.

Reasons name the field and the limit, never the value: identical problems collapse into one line however many
spans share them, and nothing a client sent is echoed back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from otel_margin_backend.pipeline.events import UsageEvent

MAX_NAME_BYTES: Final = 256
"""Longest id or name, in UTF-8 bytes: customer, feature, provider, models, operation, service, environment,
request id, and the price-context attribute values (``server.address``, service tier, processing)."""
MAX_TOKENS: Final = 1_000_000_000
"""Largest token count of one call, checked on each count *after* cache tokens are added to input and reasoning
tokens to output. Context windows top out around 10^7; more is a unit error or corruption."""
MAX_COST: Final = Decimal(1_000_000)
"""Largest provider-reported cost of one call (USD). A reported cost must also be finite and non-negative."""
MAX_COST_DECIMALS: Final = 30
"""Most digits after the decimal point of a reported cost (after trailing zeros are dropped)."""
MAX_PAST: Final = timedelta(days=5 * 365)
"""How far before the receiving server's clock a call may have started, by default (``TimeWindow``): older is a
clock or unit error (1970)."""
MAX_FUTURE: Final = timedelta(hours=1)
"""How far after the receiving server's clock a call may have started, by default (clock skew); later is an
error (2554)."""
MAX_DEPTH: Final = 32
"""Deepest nesting of an attribute value that is read (``gen_ai.usage.raw``, a resource's kvlists): arrays and
maps inside each other. Provider usage objects nest three levels."""
MAX_RAW_USAGE_BYTES: Final = 65_536
"""Largest ``gen_ai.usage.raw`` (or LiteLLM's ``metadata.usage_object``) sent as text (UTF-8 bytes); provider usage
objects are a few hundred."""
MAX_ATTRIBUTES: Final = 16_384
"""Most attributes on one span or resource (the OTel SDKs keep 128 by default)."""

_SHORT = MAX_NAME_BYTES // 4
"""A string of at most this many characters fits ``MAX_NAME_BYTES`` whatever they are (UTF-8: <= 4 bytes each)."""

_TEXT_FIELDS: Final = (
    ("customer_id", "customer id"),
    ("feature", "feature"),
    ("provider", "provider"),
    ("request_model", "request model"),
    ("response_model", "response model"),
    ("operation", "operation"),
    ("service", "service name"),
    ("environment", "environment"),
    ("request_id", "request id"),
)
_COUNT_FIELDS: Final = (
    ("input_tokens", "input tokens (cache tokens included)"),
    ("cache_read_tokens", "cache read tokens"),
    ("cache_write_tokens", "cache write tokens"),
    ("output_tokens", "output tokens (reasoning tokens included)"),
    ("reasoning_tokens", "reasoning tokens"),
)


class LimitExceeded(ValueError):
    """A value breaks one of the input limits; the message says which (never the value)."""


def text_problem(value: str) -> str | None:
    """Why a name or id breaks the limits, or None when it is fine.

    Args:
        value: The text as it will be stored.

    Returns:
        ``"is over 256 bytes"``, ``"contains a NUL character"`` or ``"is not valid UTF-8"``; None if usable.
    """
    if len(value) > _SHORT or not value.isascii():
        try:
            size = len(value.encode())
        except UnicodeEncodeError:  # lone surrogates: no UTF-8 form, PostgreSQL cannot store them
            return "is not valid UTF-8"
        if size > MAX_NAME_BYTES:
            return f"is over {MAX_NAME_BYTES} bytes"
    if "\x00" in value:
        return "contains a NUL character"
    return None


def check_text(what: str, value: str) -> str:
    """``value`` if it is a usable name or id.

    Args:
        what: The field, as the message should name it.
        value: The text.

    Returns:
        ``value`` unchanged.

    Raises:
        LimitExceeded: it is over ``MAX_NAME_BYTES``, has a NUL character or is not valid UTF-8.
    """
    problem = text_problem(value)
    if problem is not None:
        raise LimitExceeded(f"{what} {problem}")
    return value


def cost_problem(value: Decimal) -> str | None:
    """Why a reported cost breaks the limits, or None when it is fine.

    Args:
        value: The cost in USD.

    Returns:
        A short reason (``"is not a finite number"``, ``"is negative"``, ``"is above 1,000,000"``,
        ``"has more than 30 decimal places"``), or None.
    """
    if not value.is_finite():
        return "is not a finite number"
    if value < 0:
        return "is negative"
    if value > MAX_COST:
        return f"is above {MAX_COST:,}"
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_COST_DECIMALS:
        return f"has more than {MAX_COST_DECIMALS} decimal places"
    return None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The accepted start times around the receiving server's clock (``OTEL_MARGIN_MAX_PAST_DAYS`` and
    ``OTEL_MARGIN_MAX_FUTURE_MINUTES``, in ``NormalizeConfig``); outside it a call is rejected, never clamped."""

    past: timedelta = MAX_PAST
    future: timedelta = MAX_FUTURE

    def problem(self, when: datetime, now: datetime) -> str | None:
        """Why ``when`` is outside the window around ``now``, or None when it is inside.

        Args:
            when: The call's start (aware).
            now: The receiving server's clock (aware).

        Returns:
            A reason naming the window, or None.
        """
        if when < now - self.past:
            days = self.past.days
            ago = f"{days // 365} years" if days % 365 == 0 else f"{days:,} day{'' if days == 1 else 's'}"
            return f"is more than {ago} before the server's clock"
        if when > now + self.future:
            return f"is more than {_hours(self.future)} after the server's clock"
        return None


DEFAULT_WINDOW: Final = TimeWindow()


def time_problem(when: datetime, now: datetime, window: TimeWindow = DEFAULT_WINDOW) -> str | None:
    """Why a call's start time is outside the accepted window around ``now``, or None when it is inside.

    Args:
        when: The call's start (aware).
        now: The receiving server's clock (aware).
        window: The accepted window; default 5 years before to 1 hour after.

    Returns:
        A reason naming the window, or None.
    """
    return window.problem(when, now)


def attributes_problem(attributes: Mapping[str, str]) -> str | None:
    """Why the price-context attributes kept on an event break the limits, or None."""
    for key, value in attributes.items():
        problem = text_problem(value)
        if problem is not None:
            return f"attribute {key} {problem}"
    return None


def event_problem(event: UsageEvent, now: datetime | None, window: TimeWindow = DEFAULT_WINDOW) -> str | None:
    """The first limit an event breaks, as a one-line reason, or None when it is within all of them.

    Args:
        event: The event as it would be stored (before pricing).
        now: The receiving server's clock, or None to skip the time window (replays of recorded data in tests).
        window: The accepted start times around ``now``.

    Returns:
        E.g. ``"customer id is over 256 bytes"``; None if the event may be stored.
    """
    for name, what in _TEXT_FIELDS:
        value = getattr(event, name)
        if value is not None:
            problem = text_problem(value)
            if problem is not None:
                return f"{what} {problem}"
    for name, what in _COUNT_FIELDS:
        count = getattr(event, name)
        if not 0 <= count <= MAX_TOKENS:
            return f"{what} {'is negative' if count < 0 else f'is above {MAX_TOKENS:,}'}"
    if event.reported_cost is not None:
        problem = cost_problem(event.reported_cost)
        if problem is not None:
            return f"reported cost {problem}"
    if event.attributes:
        problem = attributes_problem(event.attributes)
        if problem is not None:
            return problem
    if now is not None:
        problem = time_problem(event.time, now, window)
        if problem is not None:
            return f"start time {problem}"
    return None


def _hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60:
        return f"{minutes:,} minute{'' if minutes == 1 else 's'}"
    hours = minutes // 60
    return f"{hours:,} hour{'' if hours == 1 else 's'}"
