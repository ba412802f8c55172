"""usage_monthly (0086) stays the sum of the raw rows and of usage_daily, and usage_rollup_read() (0087) counts
every call of a range exactly once, across months, days and edge hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.pricedata.reprice import Repricer
from otel_margin_backend.storage.retention import apply_retention
from otel_margin_backend.storage.writer import WriteResult
from tests.backend.storage.test_calls import DISCOUNT, detailed, sparse
from tests.backend.storage.test_writer import mismatched
from tests.support.events import event, run, write

SUMS = """
count(*) AS calls, sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens,
sum(cache_write_tokens) AS cache_write_tokens, sum(output_tokens) AS output_tokens,
sum(reasoning_tokens) AS reasoning_tokens, coalesce(sum(cost_total), 0) AS cost,
count(*) FILTER (WHERE status = 'unpriced') AS unpriced_calls,
count(*) FILTER (WHERE status = 'missing_usage') AS missing_usage_calls,
count(*) FILTER (WHERE tokens_estimated) AS estimated_calls, coalesce(sum(reported_cost), 0) AS reported_cost
"""
ROLLED = """
sum(calls) AS calls, sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens,
sum(cache_write_tokens) AS cache_write_tokens, sum(output_tokens) AS output_tokens,
sum(reasoning_tokens) AS reasoning_tokens, sum(cost) AS cost, sum(unpriced_calls) AS unpriced_calls,
sum(missing_usage_calls) AS missing_usage_calls, sum(estimated_calls) AS estimated_calls,
sum(reported_cost) AS reported_cost
"""
MONTH = "date_trunc('month', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
# Every usage_monthly group next to the same sums computed from {source}; any difference is a row here.
MONTHLY_VS = """
WITH expected AS ({source})
SELECT * FROM expected e FULL JOIN usage_monthly m USING (month, customer_id, feature, provider, model)
WHERE (e.calls, e.input_tokens, e.cache_read_tokens, e.cache_write_tokens, e.output_tokens, e.reasoning_tokens,
       e.cost, e.unpriced_calls, e.missing_usage_calls, e.estimated_calls, e.reported_cost)
      IS DISTINCT FROM
      (m.calls, m.input_tokens, m.cache_read_tokens, m.cache_write_tokens, m.output_tokens, m.reasoning_tokens,
       m.cost, m.unpriced_calls, m.missing_usage_calls, m.estimated_calls, m.reported_cost)
"""
FROM_RAW = (
    f"SELECT {MONTH.format(col='time')} AS month, customer_id, feature, provider, model, {SUMS}"
    " FROM usage_events GROUP BY 1, 2, 3, 4, 5"
)
FROM_DAILY = (
    f"SELECT {MONTH.format(col='day')} AS month, customer_id, feature, provider, model, {ROLLED}"
    " FROM usage_daily GROUP BY 1, 2, 3, 4, 5"
)
OCT_31 = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)


def monthly_off(url: str, source: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(MONTHLY_VS.format(source=source).encode()).fetchall()


def monthly(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT month, customer_id, model, calls, cost FROM usage_monthly ORDER BY 1, 2, 3"
        ).fetchall()
    return [tuple(row) for row in rows]


def demo(n: int, **kw: object) -> UsageEvent:
    e = event(n, **kw)  # type: ignore[arg-type]
    e.environment = "demo"
    return e


def test_monthly_equals_the_raw_rows_after_writes_replacements_deletes_and_retention(db_url: str) -> None:
    first = [
        event(1, time=OCT_31),
        event(2, time=OCT_31 + timedelta(hours=1), cost="0.01"),  # November 1, 00:30
        event(3, time=OCT_31 + timedelta(days=20), customer="acct_2", cost=None, model="my-model"),
        demo(4, time=OCT_31 + timedelta(hours=1), customer="acct_2"),
        demo(5, time=OCT_31 - timedelta(days=3), customer="acct_3"),  # the only call of its October group
    ]
    assert run(write(db_url, first)) == WriteResult(inserted=5, duplicates=0)
    assert run(write(db_url, first)) == WriteResult(inserted=0, duplicates=5)  # redelivery
    # call_key arbitration: the sparse span is stored, then replaced by the detailed one (another model group).
    assert run(write(db_url, [sparse(1), sparse(2)])) == WriteResult(inserted=2, duplicates=0)
    assert run(write(db_url, [detailed(1), sparse(2)])) == WriteResult(inserted=1, duplicates=1)
    assert monthly_off(db_url, FROM_RAW) == [] and mismatched(db_url) == []

    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT usage_delete_environment('demo')").fetchone() == (2,)
    assert monthly_off(db_url, FROM_RAW) == [] and monthly_off(db_url, FROM_DAILY) == []
    assert monthly(db_url) == [
        (datetime(2026, 10, 1, tzinfo=UTC), "acct_1", "gpt-4o", 1, Decimal("0.0045")),
        (datetime(2026, 11, 1, tzinfo=UTC), "acct_1", "gpt-4o", 1, Decimal("0.01")),
        (datetime(2026, 11, 1, tzinfo=UTC), "acct_2", "my-model", 1, Decimal("0")),
        (datetime(2026, 11, 1, tzinfo=UTC), "acme", "claude-sonnet-4-5", 1, sparse(2).cost_total),
        (datetime(2026, 11, 1, tzinfo=UTC), "acme", "claude-sonnet-4-5-20250929", 1, detailed(1).cost_total),
    ]

    with psycopg.connect(db_url) as manual:
        repricer = Repricer(manual, DISCOUNT, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))
        repricer.scan()
        repricer.apply()
        manual.commit()
    assert monthly_off(db_url, FROM_RAW) == [] and mismatched(db_url) == []

    # Retention drops October's raw rows; the rollups keep them, so monthly is still the sum of the daily rows.
    with psycopg.connect(db_url, autocommit=True) as conn:
        apply_retention(conn, datetime(2026, 11, 1, tzinfo=UTC))
    assert monthly_off(db_url, FROM_DAILY) == []
    assert monthly(db_url)[0] == (datetime(2026, 10, 1, tzinfo=UTC), "acct_1", "gpt-4o", 1, Decimal("0.0045"))


def test_monthly_follows_direct_changes_of_the_daily_rollup(db_url: str) -> None:
    run(write(db_url, [event(1), event(2, customer="acct_2")]))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE usage_daily SET cost = cost + 1, calls = calls + 2 WHERE customer_id = 'acct_1'")
        conn.execute("UPDATE usage_daily SET customer_id = 'acct_3' WHERE customer_id = 'acct_2'")
    assert monthly_off(db_url, FROM_DAILY) == []
    assert [(c, n, cost) for _, c, _, n, cost in monthly(db_url)] == [
        ("acct_1", 3, Decimal("1.0045")),
        ("acct_3", 1, Decimal("0.0045")),
    ]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM usage_daily WHERE customer_id = 'acct_1'")
    assert [row[1] for row in monthly(db_url)] == ["acct_3"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE usage_daily")
    assert monthly(db_url) == []


# Calls spread over three months, at 3 h 7 min steps so edge hours, days and months all hold some.
SPREAD = [
    event(
        n,
        time=datetime(2026, 9, 20, tzinfo=UTC) + n * timedelta(hours=3, minutes=7),
        customer=f"c{n % 3}",
        cost=f"0.{n:04d}",
    )
    for n in range(1, 600)
]
HOURS = (datetime(2026, 9, 15, tzinfo=UTC), 24 * 110)  # origin, and how many hours after it a bound may be


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, HOURS[1]), length=st.integers(-30, HOURS[1]))
def test_a_range_counts_every_call_once(db_url: str, start: int, length: int) -> None:
    with psycopg.connect(db_url) as conn:
        if conn.execute("SELECT count(*) FROM usage_events").fetchone() == (0,):
            run(write(db_url, SPREAD))
        lo = HOURS[0] + timedelta(hours=start)
        hi = lo + timedelta(hours=length)
        rolled = conn.execute(
            "SELECT customer_id, sum(calls), sum(cost) FROM usage_rollup_read(%s, %s) GROUP BY 1 ORDER BY 1",
            (lo, hi),
        ).fetchall()
        raw = conn.execute(
            "SELECT customer_id, count(*), sum(cost_total) FROM usage_events WHERE time >= %s AND time < %s"
            " GROUP BY 1 ORDER BY 1",
            (lo, hi),
        ).fetchall()
    assert rolled == raw
