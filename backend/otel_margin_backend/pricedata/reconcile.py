"""Our cost against the cost providers and instrumentations report on spans, largest gaps first.

Spans may carry a cost of their own (``gen_ai.usage.cost``, ``llm.cost.total``, ``operation.cost``), stored
as ``reported_cost`` with its attribute in ``reported_cost_source``; the price book stays the source of the
P&L. ``price_reconcile()`` (``0012_reprice.sql``) compares the two per model and customer over the calls
that report a cost: ``gap = reported - ours`` over the calls both priced (positive: the reporter says the
calls cost more than we book). Calls only the reporter priced are counted apart, with their reported cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from otel_margin_backend.storage.database import Conn

DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class CostGap:
    """One model and customer: our cost and the reported cost of the same calls."""

    provider: str
    model: str
    customer_id: str
    calls: int
    """Calls with both costs."""
    sources: str
    """The span attributes the reported costs came from."""
    our_cost: Decimal
    reported_cost: Decimal
    gap: Decimal
    """``reported_cost - our_cost``."""
    gap_pct: Decimal | None
    """The gap in percent of our cost, rounded to 2 decimals (None when our cost is 0)."""
    unpriced_calls: int
    """Calls with a reported cost that we could not price."""
    unpriced_reported_cost: Decimal
    """Their reported cost."""


def reconcile(conn: Conn, start: datetime, end: datetime, *, limit: int = DEFAULT_LIMIT) -> list[CostGap]:
    """The largest gaps between our cost and the reported cost in ``[start, end)``.

    Args:
        conn: A connection.
        start: First instant (inclusive).
        end: End (exclusive).
        limit: Most rows returned.

    Returns:
        The gaps, largest absolute gap (or unpriced reported cost) first.
    """
    rows = conn.execute("SELECT * FROM price_reconcile(%s, %s, %s)", (start, end, limit)).fetchall()
    return [CostGap(*row) for row in rows]
