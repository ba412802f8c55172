"""The bill against the spans: ``bill_reconcile_by()`` and ``bill_reconcile_projects()`` (migration 0091).

The CLI (``bills reconcile``), REST (``GET /v1/bills/reconcile``) and Grafana read the same SQL functions. What each
column means and how to act on it: ``docs/reconciliation.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage.database import AsyncConn, Conn

By = Literal["model", "day", "provider", "detail", "project"]
BY: tuple[str, ...] = ("model", "day", "provider", "detail", "project")


@dataclass(frozen=True, slots=True)
class BillReconciliation:
    """One row: a (day,) provider (, model) with its bill, computed cost, the gap's parts and the coverage."""

    day: date | None
    provider: str
    model: str | None
    billed: Decimal
    computed: Decimal
    gap: Decimal
    """``billed - computed``."""
    gap_pct: Decimal | None
    billed_tokens: Decimal
    seen_tokens: Decimal
    calls: int
    unpriced_calls: int
    unseen: Decimal | None
    """The billed money of tokens no span carries (calls otel-margin never saw)."""
    price_diff: Decimal | None
    """Same tokens, different money: ``gap - unseen - unpriced``."""
    unpriced: Decimal | None
    """The billed money of calls otel-margin saw but could not price."""
    attributed: Decimal | None
    """The billed money of calls attributed to a customer."""
    coverage_pct: Decimal | None
    missing_from: str | None
    """Mapped services whose billed tokens exceed their spans' tokens."""
    gap_alert: bool
    coverage_alert: bool


@dataclass(frozen=True, slots=True)
class ProjectReconciliation:
    """One provider project (or workspace): its bill, the services it maps to, and what their spans carry."""

    provider: str
    project: str
    services: str | None
    billed: Decimal
    billed_tokens: Decimal
    seen_tokens: Decimal | None
    unseen: Decimal | None


def check_by(by: str) -> By:
    """``by`` if it is a grouping, else a ``PermanentError`` naming the choices."""
    if by not in BY:
        raise PermanentError(f"by={by!r}: use one of {', '.join(BY)}")
    return by  # type: ignore[return-value]


def check_range(first: date, last: date) -> None:
    """Refuse a backward or over-long range, saying what to do."""
    if last < first:
        raise PermanentError(f"to {last} is before from {first}")
    if (last - first).days > 366:
        raise PermanentError(f"{first} to {last} is more than 366 days; reconcile a year at most at a time")


_ROWS = "SELECT * FROM bill_reconcile_by(%s, %s, %s)"
_PROJECTS = "SELECT * FROM bill_reconcile_projects(%s, %s)"


def read(conn: Conn, first: date, last: date, by: By) -> list[BillReconciliation] | list[ProjectReconciliation]:
    """The reconciliation of the UTC days ``[first, last]`` grouped ``by``."""
    check_range(first, last)
    if by == "project":
        return [ProjectReconciliation(*r) for r in conn.execute(_PROJECTS, (first, last)).fetchall()]
    return [BillReconciliation(*r) for r in conn.execute(_ROWS, (first, last, by)).fetchall()]


async def read_async(
    conn: AsyncConn, first: date, last: date, by: By
) -> list[BillReconciliation] | list[ProjectReconciliation]:
    """``read`` on an async connection (REST)."""
    check_range(first, last)
    if by == "project":
        cur = await conn.execute(_PROJECTS, (first, last))
        return [ProjectReconciliation(*r) for r in await cur.fetchall()]
    cur = await conn.execute(_ROWS, (first, last, by))
    return [BillReconciliation(*r) for r in await cur.fetchall()]


def as_json(row: BillReconciliation | ProjectReconciliation) -> dict[str, Any]:
    """A row as JSON: amounts and token counts as exact strings, days as ISO dates."""
    out: dict[str, Any] = {}
    for f in fields(row):
        value = getattr(row, f.name)
        out[f.name] = (format(value.normalize(), "f") if isinstance(value, Decimal) and value else
                       "0" if isinstance(value, Decimal) else
                       value.isoformat() if isinstance(value, date) else value)  # fmt: skip
    return out


def set_thresholds(conn: Conn, gap_alert_percent: Decimal, coverage_floor_percent: Decimal) -> None:
    """Put the configured alert thresholds where Grafana's alert rules read them (run after migrations)."""
    conn.execute("SELECT bill_set_thresholds(%s, %s)", (gap_alert_percent, coverage_floor_percent))
