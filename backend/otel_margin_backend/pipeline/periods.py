"""Where a range that reaches today stops: the one rule of the CLI, REST, the simulator and the demo.

``--from``/``--to`` are UTC days, both included; a range reaching today stops at the end of the current UTC hour,
so the hours that have not begun are not in it. Usage is kept per hour, and revenue prorated to the hour stays
the same for the hour, so two runs a minute apart print the same figures.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from otel_margin_backend.pipeline.errors import PermanentError

__all__ = ["hour_end", "parse_day"]


def parse_day(text: str, what: str) -> date:
    """A UTC day given as ``YYYY-MM-DD`` (``--from``, ``to=`` …); anything else is an error naming ``what``."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PermanentError(f"{what}: {text[:40]!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-01") from None


def hour_end(now: datetime) -> datetime:
    """The end of the UTC hour ``now`` is in (``now`` itself when exactly on the hour).

    Returns:
        A UTC instant.
    """
    moment = now.astimezone(UTC)
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(hours=1)
