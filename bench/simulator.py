"""Time the model-swap cost simulator over many seeded calls (default 1M; ``--events 10000000``).

    .venv/bin/python bench/simulator.py                       # private TimescaleDB cluster, 1M calls
    .venv/bin/python bench/simulator.py --events 10000000     # 10M calls (about 3 GB of table)
    .venv/bin/python bench/simulator.py --url postgresql://... # an existing database (usage tables truncated!)

Seeds 30 days of calls (200 customers, 12 features, 6 models, inputs from 50 to ~300k tokens with a
long-context tail, cache reads on 40 % of calls, reasoning on o3) with one set-based INSERT per day, which
is faster than COPY from Python at this size, then runs the simulator with the default 13 candidates:
everything, one feature, one customer; each several times (median and best reported). The aggregate query
and the Python re-pricing are timed separately. Finally one customer's feature is re-priced call by call
with ``PriceBook.cost`` and compared with the simulator's figures, to the last digit.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.simulator import SimulationRequest, SimulatorConfig, create
from otel_margin_backend.simulator.shapes import ShapeQuery, fetch_shapes
from otel_margin_backend.storage.migrator import migrate

DAYS = 30
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = AT - timedelta(days=DAYS)

# One day of calls; %(n)s calls, numbered from %(first)s. Each customer has 2 habitual features and each
# feature 2 habitual models (of 6), so a day holds a realistic ~12 features x ~6 models.
_SEED_DAY = """
INSERT INTO usage_events (time, event_id, customer_id, feature, provider, request_model, response_model, model,
                          operation, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
                          reasoning_tokens, status, cost_input, cost_total, price_version)
SELECT %(day)s::timestamptz + (i - %(first)s) * (interval '86400 seconds' / %(n)s),
       decode(md5('bench' || i), 'hex'),
       'acct_' || c, 'feature_' || f, m.provider, m.model, m.model, m.model, 'chat',
       inp, cached, 0, outp, CASE WHEN m.model = 'o3' THEN outp / 2 ELSE 0 END,
       'priced', round(inp * 0.0000025 + outp * 0.00001, 9), round(inp * 0.0000025 + outp * 0.00001, 9), 'bench'
FROM (
    SELECT i, c, f,
           (abs(hashtext(f::text || '/' || ((i / 7) %% 2)::text)) %% 6) AS mi,
           inp, CASE WHEN random() < 0.4 THEN floor(random() * inp / 2)::bigint ELSE 0 END AS cached,
           10 + floor(random() * 4000)::bigint AS outp
    FROM (
        SELECT i, 1 + (i * 7919) %% 200 AS c,
               1 + ((i * 7919) %% 200 + (i / 3) %% 2 * 5) %% 12 AS f,
               CASE WHEN random() < 0.02 THEN 100000 + floor(random() * 200000)::bigint
                    ELSE 50 + floor(exp(random() * 9.5))::bigint END AS inp
        FROM generate_series(%(first)s::bigint, %(first)s::bigint + %(n)s - 1) AS i
    ) base
) calls
JOIN (VALUES (0, 'openai', 'gpt-4o'), (1, 'openai', 'gpt-4.1'), (2, 'anthropic', 'claude-sonnet-4-0'),
             (3, 'google', 'gemini-2.5-flash'), (4, 'openai', 'o3'), (5, 'openai', 'gpt-4o-mini'))
     AS m(idx, provider, model) ON m.idx = calls.mi
"""


def seed(url: str, events: int) -> float:
    """Insert ``events`` calls spread over 30 days; returns seconds taken."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, reader_role="otel_margin_reader", reader_password=None)
        conn.execute("TRUNCATE usage_events, usage_hourly")
        conn.execute("SELECT setseed(0.42)")
        started = time.perf_counter()
        per_day, first = events // DAYS, 0
        for day in range(DAYS):
            n = per_day + (events - per_day * DAYS if day == DAYS - 1 else 0)
            conn.execute(_SEED_DAY, {"day": START + timedelta(days=day), "first": first, "n": n})
            first += n
        elapsed = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE usage_events")
        count = conn.execute("SELECT count(*) FROM usage_events").fetchone()
    assert count is not None and count[0] == events, count
    return elapsed


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, best) seconds of ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def verify(url: str, book: PriceBook) -> str:
    """One customer's busiest feature re-priced call by call vs the simulator, exact to the last digit."""
    simulator = create(SimulatorConfig(), book)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT feature, count(*) FROM usage_events WHERE customer_id = 'acct_1' GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()
        assert row is not None
        feature = row[0]
        simulation = simulator.simulate(conn, SimulationRequest(feature=feature, customer="acct_1"), at=AT)
        calls = conn.execute(
            "SELECT provider, model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,"
            " reasoning_tokens FROM usage_events WHERE customer_id = 'acct_1' AND feature = %s",
            (feature,),
        ).fetchall()
    checked = 0
    for group in simulation.groups:
        vectors = [c[2:] for c in calls if (c[0], c[1]) == (group.provider, group.model)]
        for candidate in group.candidates:
            provider, model = candidate.candidate.split("/", 1)
            total = Decimal(0)
            for v in vectors:
                costs = book.cost(provider, model, at=AT, input_tokens=v[0], cache_read_tokens=v[1],
                                  cache_write_tokens=v[2], output_tokens=v[3], reasoning_tokens=v[4])  # fmt: skip
                assert costs is not None
                total += costs.total
            assert total == candidate.simulated_cost, (group.model, candidate.candidate, total, candidate)
            checked += 1
    return f"{checked} candidate totals over {len(calls):,} calls of acct_1/{feature} equal the per-call sums"


def measure(url: str, events: int, repeats: int) -> None:
    seconds = seed(url, events)
    print(f"seeded {events:,} calls in {seconds:.1f} s ({events / seconds:,.0f} rows/s, set-based INSERT)")
    with psycopg.connect(url, autocommit=True) as conn:
        edition = conn.execute(
            "SELECT coalesce((SELECT 'TimescaleDB ' || extversion FROM pg_extension WHERE extname = 'timescaledb'),"
            " 'PostgreSQL') || ' on PostgreSQL ' || current_setting('server_version')"
        ).fetchone()
    print(f"database: {edition[0] if edition else '?'}")

    book = PriceBook.bundled()
    simulator = create(SimulatorConfig(), book)
    starts = simulator.tier_starts
    with psycopg.connect(url, autocommit=True) as conn:
        size_sql = (
            "hypertable_size('usage_events')"
            if "Timescale" in str(edition)
            else "pg_total_relation_size('usage_events')"
        )
        size = conn.execute(f"SELECT pg_size_pretty({size_sql})").fetchone()
        print(f"usage_events: {size[0] if size else '?'}")
        query = ShapeQuery(start=START, end=AT)
        groups = fetch_shapes(conn, query, starts)
        slices = sum(len(g.slices) for g in groups)
        print(f"{len(groups)} feature x model groups, {slices} tier slices, "
              f"{len(simulator.config.candidates)} candidates")  # fmt: skip
        cases: list[tuple[str, Callable[[], object]]] = [
            ("aggregate query only, all calls", lambda: fetch_shapes(conn, query, starts)),
            ("simulate, all calls", lambda: simulator.simulate(conn, at=AT)),
            ("simulate, one feature", lambda: simulator.simulate(conn, SimulationRequest(feature="feature_3"), at=AT)),
            ("simulate, one customer", lambda: simulator.simulate(conn, SimulationRequest(customer="acct_7"), at=AT)),
        ]
        cases.append(("re-pricing and ranking only", lambda: simulator.evaluate(groups, at=AT)))
        for label, fn in cases:
            median, best = timed(fn, repeats)
            print(f"  {label:<34} median {median * 1000:>8,.1f} ms   best {best * 1000:>8,.1f} ms")
    print(verify(url, book))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="database to use (its usage tables are truncated)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")  # fmt: skip
    if args.url:
        measure(args.url, args.events, args.repeats)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the private clusters the tests use
    from tests.support.pgcluster import PgCluster
    from tests.support.stores import TIMESCALE_SETTINGS

    settings = {**TIMESCALE_SETTINGS, "shared_buffers": "1GB", "work_mem": "64MB"}
    with PgCluster(settings=settings) as cluster:
        with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        measure(cluster.dsn("bench"), args.events, args.repeats)


if __name__ == "__main__":
    main()
