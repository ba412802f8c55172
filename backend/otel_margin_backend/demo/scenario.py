"""What the demo's sample app does in its simulated month: who calls which model for what, and who pays what.

A story a finance person recognizes: one customer's heavy use of a reasoning model makes it unprofitable, an
image feature runs toward its budget, some calls carry no customer, and the cheap chat features are fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Api = Literal["chat", "responses", "embeddings"]


@dataclass(frozen=True, slots=True)
class Workload:
    """Calls of one customer to one feature, each day of the month."""

    customer: str | None
    """None: the app forgot to set a customer (booked as unattributed)."""
    feature: str
    model: str
    calls_per_day: int
    context_chars: int
    """Size of the feature's fixed instructions (repeated, so the provider serves them from its prompt cache)."""
    max_tokens: int
    api: Api = "chat"


WORKLOADS: tuple[Workload, ...] = (
    Workload("plexo-health", "clinical-summary", "gpt-4o", 8, 16_000, 1_200),
    Workload("plexo-health", "deep-analysis", "o1", 12, 24_000, 12_000, "responses"),
    Workload("helix-robotics", "support-bot", "gpt-4o-mini", 10, 12_000, 400),
    Workload("helix-robotics", "image_generation", "gpt-4o", 6, 8_000, 16_000),
    Workload("northwind", "support-bot", "gpt-4o-mini", 10, 12_000, 400),
    Workload("northwind", "search", "text-embedding-3-small", 10, 2_000, 0, "embeddings"),
    Workload("acme-corp", "clinical-summary", "gpt-4o", 3, 16_000, 1_200),
    Workload("acme-corp", "image_generation", "gpt-4o", 6, 8_000, 4_000),
    Workload(None, "search", "text-embedding-3-small", 4, 2_000, 0, "embeddings"),
)

MONTHLY_REVENUE: dict[str, str] = {
    "plexo-health": "249.00",
    "helix-robotics": "39.00",
    "northwind": "129.00",
    "acme-corp": "899.00",
}
"""Subscription price per month (USD), booked as manual revenue for each month the simulation touches."""

BUDGETS: tuple[dict[str, object], ...] = (
    {
        "name": "plexo-ai-share",
        "description": "Plexo Health AI cost at most 30 % of its revenue",
        "scope": {"customer": "plexo-health"},
        "period": "month",
        "limit": {"percent_of_revenue": 30},
    },
    {
        "name": "organization",
        "description": "All AI spend",
        "scope": {},
        "period": "month",
        "limit": {"amount": "1000", "currency": "USD"},
    },
)
"""Budgets applied as they are."""

IMAGE_BUDGET_USE = 85
"""The image-generation budget's limit is set so that this month so far used this share of it: whatever day of
the month the demo runs, it shows a warning (75 %) crossed and a critical (90 %) one ahead."""


def image_budget(month_to_date: str) -> dict[str, object]:
    """The monthly image-generation budget for a month whose spend so far is ``month_to_date`` (USD)."""
    from decimal import ROUND_UP, Decimal

    limit = (Decimal(month_to_date) * 100 / IMAGE_BUDGET_USE).quantize(Decimal("0.01"), ROUND_UP)
    return {
        "name": "image-generation",
        "description": "Image generation, all customers",
        "scope": {"feature": "image_generation"},
        "period": "month",
        "limit": {"amount": str(max(limit, Decimal("0.01"))), "currency": "USD"},
    }
