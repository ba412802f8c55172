"""Our cost against provider-reported cost: the largest gaps by model and customer, exact."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from otel_margin_backend.pricedata.reconcile import CostGap, reconcile
from tests.backend.pricing.stored import usage
from tests.support.events import run, write

pytestmark = pytest.mark.store

D = Decimal
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def seed(url: str) -> None:
    run(write(url, [
        # gpt-4o, 1000 in / 200 out = 0.0045 each; the instrumentation reports 0.005 and 0.0045
        usage(1, "acct_1", "gpt-4o", "2026-11-03T10:00", input_tokens=1_000, output=200, reported_cost="0.005",
              reported_source="gen_ai.usage.cost"),
        usage(2, "acct_1", "gpt-4o", "2026-11-03T11:00", input_tokens=1_000, output=200, reported_cost="0.0045",
              reported_source="llm.cost.total"),
        # o3, 10000 in / 1000 out = 0.028; reported 0.02 (we book more)
        usage(3, "acct_2", "o3", "2026-11-04T10:00", input_tokens=10_000, output=1_000, reported_cost="0.02",
              reported_source="operation.cost"),
        # a model we cannot price, with a reported cost
        usage(4, "acct_2", "house-llm", "2026-11-04T10:00", input_tokens=500, output=50, reported_cost="0.3",
              reported_source="operation.cost"),
        # no reported cost: not part of the comparison
        usage(5, "acct_3", "gpt-4o", "2026-11-04T10:00", input_tokens=1_000, output=200),
        # outside the range
        usage(6, "acct_1", "gpt-4o", "2026-10-31T10:00", input_tokens=1_000, output=200, reported_cost="9",
              reported_source="gen_ai.usage.cost"),
    ]))  # fmt: skip


def test_largest_gaps_first_with_exact_amounts(db_url: str) -> None:
    seed(db_url)

    with psycopg.connect(db_url) as conn:
        gaps = reconcile(conn, START, END)

    assert gaps == [
        CostGap("openai", "house-llm", "acct_2", 0, "operation.cost", D("0"), D("0"), D("0"), None, 1, D("0.3")),
        CostGap("openai", "o3", "acct_2", 1, "operation.cost", D("0.028"), D("0.02"), D("-0.008"),
                D("-28.57"), 0, D("0")),
        CostGap("openai", "gpt-4o", "acct_1", 2, "gen_ai.usage.cost, llm.cost.total", D("0.0090"), D("0.0095"),
                D("0.0005"), D("5.56"), 0, D("0")),
    ]  # fmt: skip


def test_limit_and_empty_ranges(db_url: str) -> None:
    seed(db_url)

    with psycopg.connect(db_url) as conn:
        assert len(reconcile(conn, START, END, limit=1)) == 1
        assert reconcile(conn, datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)) == []
