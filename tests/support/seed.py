"""Seeding usage and revenue with exact amounts, for P&L, budget and dashboard tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import psycopg

from otel_margin_backend.pipeline.events import UsageEvent
from tests.support.events import event, run, write


def costs(url: str, rows: Sequence[tuple[str, str, str, datetime]], *, start_n: int = 1) -> list[UsageEvent]:
    """One priced call per (customer, feature, cost, time), stored through the real writer."""
    events = [
        event(n, customer=customer, feature=feature, cost=amount, time=at)
        for n, (customer, feature, amount, at) in enumerate(rows, start=start_n)
    ]
    run(write(url, events))
    return events


def revenue(url: str, customer: str, month: str, amount: str, *, currency: str = "USD", source_id: str | None = None,
            kind: str = "revenue") -> None:  # fmt: skip
    """A manual revenue entry of ``amount`` (major units) for ``customer`` in ``month`` (YYYY-MM)."""
    exponent = 0 if currency in ("JPY", "KRW") else 2
    minor = int(Decimal(amount).scaleb(exponent))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO revenue_entries (source, source_id, kind, month, amount_minor, currency, customer_id,"
            " occurred_at) VALUES ('manual', %s, %s, %s, %s, %s, %s, %s)",
            (
                source_id or f"seed-{customer}-{month}-{kind}-{amount}",
                kind,
                f"{month}-01",
                minor,
                currency,
                customer,
                f"{month}-01T00:00:00Z",
            ),
        )
