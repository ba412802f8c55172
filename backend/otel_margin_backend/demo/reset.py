"""``otel-margin demo --reset``: the demo's own data removed, so the next run starts its month over.

Only what the demo wrote goes: the usage of its deployment environment (``demo``), its manual revenue entries
(``demo-…`` external ids), its budgets and its provider bill. Anything else in the database (real traffic, Stripe
revenue, your budgets) stays, so ``--reset`` is safe on a database that is not the embedded one.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_margin_backend.demo import scenario
from otel_margin_backend.demo.bill import remove_bill
from otel_margin_backend.storage.database import Store

ENVIRONMENT = "demo"
"""The ``deployment.environment.name`` of the demo app's spans."""
REVENUE_PREFIX = "demo-"
"""The external id prefix of the demo's revenue entries."""


@dataclass(frozen=True, slots=True)
class Removed:
    """What a reset took out."""

    calls: int
    revenue_entries: int
    budgets: int


def budget_names() -> tuple[str, ...]:
    """The budgets the demo applies."""
    return (*(str(b["name"]) for b in scenario.BUDGETS), str(scenario.image_budget("0")["name"]))


def reset(store: Store) -> Removed:
    """Delete the demo's usage, revenue and budgets in one transaction."""
    with store.connection(autocommit=False) as conn, conn.transaction():
        row = conn.execute("SELECT usage_delete_environment(%s)", (ENVIRONMENT,)).fetchone()
        conn.execute("SELECT revenue_lock()")
        revenue = conn.execute(
            "DELETE FROM revenue_entries WHERE source = 'manual' AND starts_with(source_id, %s)", (REVENUE_PREFIX,)
        ).rowcount
        remove_bill(conn)
        budgets = 0
        for name in budget_names():
            conn.execute("SELECT budget_resolve_open(%s, 'budget_removed', now())", (name,))
            budgets += conn.execute("DELETE FROM budgets WHERE name = %s", (name,)).rowcount
    return Removed(int(row[0]) if row else 0, revenue, budgets)
