"""Seeding what the dashboards and alert rules read, with exact values and times relative to the database's now().

Usage goes through the real writer (``tests.support.seed.costs`` and the events it is built on), revenue through
``tests.support.seed.revenue``; budgets, simulator runs, price syncs and Stripe failures are rows of their tables.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from tests.support.events import event, run, write
from tests.support.seed import costs, revenue

__all__ = [
    "Seeder",
    "day_start",
    "hour_start",
    "month_of",
]


def hour_start(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def month_of(at: datetime) -> str:
    return f"{at:%Y-%m}"


class Seeder:
    """Seeds one database; numbers its model calls so that no two seeded calls share an identity."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._n = itertools.count(1)

    def now(self) -> datetime:
        """The database's clock (views such as signal_ingestion compare with it)."""
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        at: datetime = row[0]
        return at.astimezone(UTC)

    def costs(self, rows: list[tuple[str, str, str, datetime]]) -> None:
        """One priced call of ``amount`` USD per (customer, feature, amount, time), in one batch
        (tests.support.seed.costs)."""
        first = next(self._n)
        for _ in rows[1:]:
            next(self._n)
        costs(self.url, rows, start_n=first)

    def call(self, *, customer: str, feature: str, at: datetime, cost: str | None, model: str = "gpt-4o",
             provider: str = "openai", estimated: bool = False) -> None:  # fmt: skip
        """A call on a given model; ``cost=None`` is an unpriced call; ``estimated`` flags estimated tokens."""
        one = event(next(self._n), customer=customer, feature=feature, cost=cost, time=at, model=model,
                    provider=provider)  # fmt: skip
        run(write(self.url, [replace(one, tokens_estimated=estimated)]))

    def revenue(self, customer: str, month: str, amount: str) -> None:
        """Net revenue of ``customer`` for ``month`` (YYYY-MM), in USD (tests.support.seed.revenue)."""
        revenue(self.url, customer, month, amount, source_id=f"seed-{customer}-{month}-{next(self._n)}")

    def unmapped_revenue(self, stripe_customer: str, month: str, amount_minor: int) -> None:
        """A Stripe invoice line whose customer maps to no otel-margin customer."""
        self._execute(
            "INSERT INTO revenue_entries (source, source_id, kind, month, amount_minor, currency, stripe_customer_id,"
            " occurred_at) VALUES ('stripe', %s, 'revenue', %s, %s, 'USD', %s, %s)",
            (f"in_{next(self._n)}", f"{month}-01", amount_minor, stripe_customer, f"{month}-01T00:00:00Z"),
        )

    def budget(self, name: str, *, limit: str, period: str = "day", customer: str | None = None,
               feature: str | None = None, warning: int | None = 50, critical: int | None = 80,
               exceeded: int = 100) -> None:  # fmt: skip
        """A budget with an exact limit in USD and its thresholds in percent."""
        self._execute(
            "INSERT INTO budgets (name, customer_id, feature, period, currency, limit_amount, warning_percent,"
            " critical_percent, exceeded_percent, managed_by) VALUES (%s, %s, %s, %s, 'USD', %s, %s, %s, %s, 'api')",
            (name, customer, feature, period, Decimal(limit), warning, critical, exceeded),
        )

    def evaluate_budgets(self) -> None:
        """Record threshold crossings in budget_alerts, as the backend's evaluator does."""
        self._execute("SELECT budget_evaluate(now())", ())

    def price_sync(self, at: datetime, *, ok: bool, error: str = "fetch failed: 503 Service Unavailable") -> None:
        self._execute(
            "INSERT INTO price_sync_attempts (attempted_at, source, trigger, outcome, price_version, new_version,"
            " model_count, duration_ms, error) VALUES (%s, 'https://prices.example.invalid/data.json', 'schedule',"
            " %s, %s, %s, %s, 120, %s)",
            (at, "ok" if ok else "failed", "genai-prices data sha256:0123456789ab" if ok else None, ok,
             900 if ok else None, None if ok else error),
        )  # fmt: skip

    def active_price_version(self, version: str = "genai-prices 0.2.3") -> None:
        self._execute(
            "INSERT INTO price_versions (price_version, source, provider_count, model_count, active, activated_at)"
            " VALUES (%s, 'bundled', 30, 900, true, now())",
            (version,),
        )

    def model_price(self, provider: str, model: str, kind: str, amount: str) -> None:
        """A price in force now, as pricedata/store.py publishes it."""
        self._execute(
            "INSERT INTO model_prices (price_version, source, provider, model, kind, amount, list_amount)"
            " VALUES ('genai-prices 0.2.3', 'data', %s, %s, %s, %s, %s)",
            (provider, model, kind, Decimal(amount), Decimal(amount)),
        )

    def webhook_failure(self, at: datetime, reason: str = "bad_signature") -> None:
        self._execute(
            "INSERT INTO stripe_webhook_failures (received_at, reason, http_status, message, event_id, event_type)"
            " VALUES (%s, %s, 400, 'No signatures found matching the expected signature', NULL, NULL)",
            (at, reason),
        )

    def simulator_run(self, computed_at: datetime, *, hours: str = "16", rate: str = "150") -> None:
        """A simulator run: chat on gpt-4o, with a suggested cheaper candidate and an excluded one."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO simulator_runs (computed_at, period_start, period_end, price_version, candidates, groups,"
                " engineering_hours, hourly_rate) VALUES (%s, %s, %s, 'genai-prices 0.2.3', %s, 1, %s, %s)"
                " RETURNING run_id",
                (computed_at, computed_at - timedelta(days=30), computed_at,
                 ["openai/gpt-4.1-mini", "anthropic/claude-haiku"], Decimal(hours), Decimal(rate)),
            ).fetchone()  # fmt: skip
            assert row is not None
            results = [
                ("openai/gpt-4.1-mini", "gpt-4.1-mini", "100.00", "20.00", "80.00", "80.00", 1, True, None),
                ("anthropic/claude-haiku", "claude-haiku", "100.00", None, None, None, None, False, "no price"),
            ]
            for candidate, model, current, simulated, savings, pct, rank, suggested, excluded in results:
                conn.execute(
                    "INSERT INTO simulator_results (run_id, computed_at, feature, provider, model, candidate,"
                    " candidate_model, events, skipped_events, cost, current_cost, simulated_cost, savings,"
                    " savings_percent, max_input_tokens, excluded_reason, rank, suggested)"
                    " VALUES (%s, %s, 'chat', 'openai', 'gpt-4o', %s, %s, 40, 0, 100, %s, %s, %s, %s, 4000,"
                    " %s, %s, %s)",
                    (row[0], computed_at, candidate, model, current, simulated, savings, pct, excluded, rank,
                     suggested),
                )  # fmt: skip

    def _execute(self, sql: str, params: tuple[object, ...]) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql, params)
