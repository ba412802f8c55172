"""Revenue: Stripe webhooks and backfill, manual entries and FX rates, recognized per customer and month.

See ``README.md`` in this folder. The service mounts ``revenue.routes.routes(...)`` (with a client from
``revenue.stripe_api.create_api``); the commands are in ``cli/revenue.py``; ``prepare(conn, config)`` at
startup makes the database's reporting currency the configured one.

This module imports only the config, so ``settings.py`` can compose ``RevenueConfig`` without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_margin_backend.revenue.config import RevenueConfig

if TYPE_CHECKING:
    from otel_margin_backend.storage.database import Conn

__all__ = ["RevenueConfig", "prepare"]


def prepare(conn: Conn, config: RevenueConfig) -> str:
    """Make the reporting currency the views convert to the configured one (run after migrations).

    Args:
        conn: An open connection (autocommit).
        config: The revenue config.

    Returns:
        The reporting currency the database used before.
    """
    row = conn.execute("SELECT revenue_set_reporting_currency(%s)", (config.reporting_currency,)).fetchone()
    return str(row[0]) if row else config.reporting_currency
