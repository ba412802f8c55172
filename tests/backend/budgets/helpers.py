"""Seeding and changing usage for budget tests, through the real writer and with rollups kept consistent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.storage.database import AsyncConn
from tests.support.events import event, write

NOV_3 = datetime(2026, 11, 3, 10, 15, tzinfo=UTC)

IMAGE_BUDGET = """\
version: 1
budgets:
  - name: image-generation
    description: Image generation for all customers
    scope:
      feature: image_generation
    period: month
    limit:
      amount: 600
      currency: USD
"""


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[AsyncConn]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        yield conn


def call(n: int, cost: str | None, **fields: Any) -> UsageEvent:
    """A priced call (identity ``n``) on ``image_generation`` unless told otherwise."""
    fields.setdefault("feature", "image_generation")
    fields.setdefault("time", NOV_3)
    return event(n, cost=cost, **fields)


async def spend(url: str, *calls: UsageEvent) -> None:
    await write(url, calls)


async def reprice(conn: AsyncConn, n: int, cost: str) -> None:
    """Change the cost of stored call ``n`` and its rollups in one transaction (what a reprice does)."""
    async with conn.transaction():
        await conn.execute(
            """
            WITH old AS (
                SELECT time, customer_id, feature, provider, model, cost_total FROM usage_events WHERE event_id = %(id)s
            ), changed AS (
                UPDATE usage_events SET cost_total = %(cost)s, cost_input = %(cost)s WHERE event_id = %(id)s
            ), hourly AS (
                UPDATE usage_hourly h SET cost = h.cost - old.cost_total + %(cost)s
                FROM old
                WHERE h.bucket = date_bin('1 hour', old.time, timestamptz '2000-01-01 00:00:00+00')
                  AND (h.customer_id, h.feature, h.provider, h.model)
                      = (old.customer_id, old.feature, old.provider, old.model)
            )
            UPDATE usage_daily d SET cost = d.cost - old.cost_total + %(cost)s
            FROM old
            WHERE d.day = date_bin('1 day', old.time, timestamptz '2000-01-01 00:00:00+00')
              AND (d.customer_id, d.feature, d.provider, d.model)
                  = (old.customer_id, old.feature, old.provider, old.model)
            """,
            {"id": event(n).event_id, "cost": Decimal(cost)},
        )


async def delete_call(conn: AsyncConn, n: int) -> None:
    """Remove stored call ``n`` and take it out of its rollups."""
    async with conn.transaction():
        await conn.execute(
            """
            WITH old AS (
                DELETE FROM usage_events WHERE event_id = %(id)s
                RETURNING time, customer_id, feature, provider, model, cost_total
            ), hourly AS (
                UPDATE usage_hourly h SET cost = h.cost - old.cost_total, calls = h.calls - 1
                FROM old
                WHERE h.bucket = date_bin('1 hour', old.time, timestamptz '2000-01-01 00:00:00+00')
                  AND (h.customer_id, h.feature, h.provider, h.model)
                      = (old.customer_id, old.feature, old.provider, old.model)
            )
            UPDATE usage_daily d SET cost = d.cost - old.cost_total, calls = d.calls - 1
            FROM old
            WHERE d.day = date_bin('1 day', old.time, timestamptz '2000-01-01 00:00:00+00')
              AND (d.customer_id, d.feature, d.provider, d.model)
                  = (old.customer_id, old.feature, old.provider, old.model)
            """,
            {"id": event(n).event_id},
        )


async def notifications(conn: AsyncConn) -> list[tuple[str, dict[str, Any]]]:
    """Queued webhook notifications (event, payload), oldest first."""
    cur = await conn.execute("SELECT event, payload FROM budget_notifications ORDER BY id")
    return [(str(e), dict(p)) for e, p in await cur.fetchall()]
