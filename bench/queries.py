"""Query benchmark: a month's per-customer P&L, budget status and the simulator over N seeded events.

    python bench/queries.py [--events 10000000] [--url postgresql://...] [--explain]

Seeds a private TimescaleDB cluster (or the given, migrated-or-empty database, which it fills) with one month
of usage generated in SQL — 200 customers, 12 features, 6 models, realistic token shapes and exact costs — and
the hourly rollups built from it, plus a month of revenue and a few budgets. Then times each query (median
of 7 runs after a warm-up). --explain also prints EXPLAIN (ANALYZE, BUFFERS) of the P&L's and budget status's
queries. Figures go to docs/benchmarks.md. A database given by --url that already holds the events is reused
as it is (generate 10M once, then time as often as needed).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from otel_margin_backend.analytics.pnl import Period, read_pnl
from otel_margin_backend.pricing import PricingConfig, build_book
from otel_margin_backend.simulator.config import SimulatorConfig
from otel_margin_backend.simulator.simulator import SimulationRequest, Simulator
from otel_margin_backend.storage.migrator import migrate

MONTH = Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))

SEED_EVENTS = """
INSERT INTO usage_events (time, event_id, customer_id, feature, provider, request_model, response_model, model,
                          operation, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens, status,
                          cost_input, cost_output, cost_total, price_version)
SELECT t, decode(lpad(to_hex(n), 48, '0'), 'hex'), 'acct_' || (n %% 200), 'feature_' || (n %% 12),
       m.provider, m.model, m.model, m.model, 'chat', inp, cached, outp, 0, 'priced',
       (inp - cached) * m.in_price + cached * m.in_price / 4, outp * m.out_price,
       (inp - cached) * m.in_price + cached * m.in_price / 4 + outp * m.out_price, 'bench'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) n
CROSS JOIN LATERAL (SELECT timestamptz '2026-10-01' + (n * 2678400.0 / %(total)s) * interval '1 second' AS t,
                           200 + (n * 7919 %% 20000) AS inp, 20 + (n * 104729 %% 2000) AS outp) s
CROSS JOIN LATERAL (SELECT (inp * (n %% 3)) / 4 AS cached) c
JOIN (VALUES (0, 'openai', 'gpt-4o', 0.0000025, 0.00001), (1, 'openai', 'gpt-4o-mini', 0.00000015, 0.0000006),
             (2, 'anthropic', 'claude-sonnet-4-0', 0.000003, 0.000015), (3, 'google', 'gemini-2.5-flash', 0.0000003,
             0.0000025), (4, 'openai', 'o3', 0.000002, 0.000008), (5, 'deepseek', 'deepseek-chat', 0.00000027,
             0.0000011)) AS m(i, provider, model, in_price, out_price) ON m.i = (n * 31 %% 6)
"""

SEED_ROLLUP = """
INSERT INTO usage_hourly
SELECT date_bin('1 hour', time, timestamptz '2000-01-01 00:00:00+00'), customer_id, feature, provider, model,
       count(*), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),
       sum(reasoning_tokens), coalesce(sum(cost_total), 0), 0, 0, 0, 0
FROM usage_events GROUP BY 1, 2, 3, 4, 5
"""

SEED_REVENUE = """
INSERT INTO revenue_entries (source, source_id, kind, month, amount_minor, currency, customer_id, occurred_at)
SELECT 'manual', 'bench-' || c, 'revenue', date '2026-10-01', 50000 + c * 1000, 'USD', 'acct_' || c,
       timestamptz '2026-10-01'
FROM generate_series(0, 199) c
"""

SEED_BUDGETS = """
INSERT INTO budgets (name, description, customer_id, feature, period, currency, limit_amount, exceeded_percent,
                     managed_by)
SELECT 'bench-' || f, 'bench', NULL, 'feature_' || f, 'month', 'USD', 5000, 100, 'api' FROM generate_series(0, 11) f
"""


def timed(label: str, fn: Callable[[], object], runs: int = 7) -> float:
    fn()  # warm-up: plans, caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples) * 1000
    print(f"  {label:<44} {median:>9,.1f} ms (median of {runs})")
    return median


def seed(url: str, events: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, reader_role="otel_margin_reader", reader_password=None)
        already = conn.execute("SELECT count(*) FROM usage_events").fetchone()
        if already and already[0] >= events:
            return
        chunk = 1_000_000
        started = time.perf_counter()
        for first in range(0, events, chunk):
            last = min(first + chunk, events) - 1
            conn.execute(SEED_EVENTS, {"first": first, "last": last, "total": events})
            print(f"  seeded {last + 1:,} events ({time.perf_counter() - started:,.0f} s)", flush=True)
        conn.execute(SEED_ROLLUP)
        conn.execute(SEED_ROLLUP.replace("usage_hourly", "usage_daily").replace("'1 hour'", "'1 day'"))
        conn.execute(SEED_REVENUE)
        conn.execute(SEED_BUDGETS)
        conn.execute("VACUUM ANALYZE")
        for table in ("usage_hourly", "usage_daily", "usage_monthly"):
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            print(f"  {table} rows: {rows[0] if rows else 0:,}")


def measure(url: str) -> None:
    simulator = Simulator(SimulatorConfig(), build_book(PricingConfig()))
    with psycopg.connect(url, autocommit=True) as conn:
        timed("P&L, one month, by customer (pnl())", lambda: read_pnl(conn, MONTH, "customer"))
        timed("P&L, one month, organization", lambda: read_pnl(conn, MONTH, "organization"))
        timed("P&L, one month, by feature", lambda: read_pnl(conn, MONTH, "feature"))
        timed(
            "P&L data quality, one month",
            lambda: conn.execute("SELECT * FROM pnl_data_quality(%s, %s)", (MONTH.start, MONTH.end)).fetchall(),
        )
        timed(
            "budget status (12 budgets)",
            lambda: conn.execute(
                "SELECT * FROM budget_status_at(%s)", (datetime(2026, 10, 20, tzinfo=UTC),)
            ).fetchall(),
        )
        timed(
            "simulator, one month, all features",
            lambda: simulator.simulate(conn, SimulationRequest(start=MONTH.start, end=MONTH.end), at=MONTH.end),
            runs=3,
        )


EXPLAINED = {
    "cost of the month by customer (pnl_usage)": "SELECT * FROM pnl_usage(%(start)s, %(end)s, 'customer')",
    "revenue of the month (pnl_revenue)": "SELECT * FROM pnl_revenue(%(start)s, %(end)s)",
    "one month budget's spend (budget_measure)": (
        "SELECT m.* FROM budgets b CROSS JOIN LATERAL budget_period_bounds(b.period, %(at)s) p"
        " CROSS JOIN LATERAL budget_measure(b, p.period_start, p.period_end) m WHERE b.name = 'bench-0'"
    ),
}


def explain(url: str) -> None:
    params = {"start": MONTH.start, "end": MONTH.end, "at": datetime(2026, 10, 20, tzinfo=UTC)}
    with psycopg.connect(url, autocommit=True) as conn:
        for label, query in EXPLAINED.items():
            conn.execute(query, params).fetchall()  # warm
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}", params).fetchall()
            print(f"\n-- {label}")
            print("\n".join(str(row[0]) for row in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--url", help="a database to fill and query (default: a private TimescaleDB cluster)")
    parser.add_argument("--explain", action="store_true", help="also print the query plans")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )
    if args.url:
        seed(args.url, args.events)
        measure(args.url)
        if args.explain:
            explain(args.url)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the private clusters the tests use
    from tests.support.pgcluster import PgCluster
    from tests.support.stores import TIMESCALE_SETTINGS

    settings = {**TIMESCALE_SETTINGS, "shared_buffers": "1GB", "work_mem": "64MB", "max_wal_size": "4GB"}
    with PgCluster(settings=settings) as cluster:
        print(f"TimescaleDB, {args.events:,} events in October 2026:")
        seed(cluster.dsn("postgres"), args.events)
        measure(cluster.dsn("postgres"))
        if args.explain:
            explain(cluster.dsn("postgres"))


if __name__ == "__main__":
    main()
