"""Benchmark the usage writer against a plain COPY of the same rows into the same table.

    python bench/store.py                    # private TimescaleDB and PostgreSQL 15 clusters (as the tests use)
    python bench/store.py --url postgresql://...   # an existing, migrated-or-empty database (it is truncated!)

The writer does a (text) COPY into a staging table, de-duplicates by event identity and updates the
hourly rollups in the same transaction; plain COPY only appends rows. Both write the same batches,
each batch in its own transaction. Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus, span_event_id
from otel_margin_backend.storage.migrator import migrate
from otel_margin_backend.storage.writer import COLUMN_LIST, row, write_batch

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4"),
    ("google", "gemini-2.5-flash"),
    ("openai", "o3"),
]


def make_events(count: int, seed: int = 7, *, spread: bool = False) -> list[UsageEvent]:
    """A day of traffic from 200 customers with exact costs.

    Realistic mix (default): each customer uses 2 of 12 features and 2 of 5 models, so an hour holds
    about 800 rollup groups. ``spread=True`` is the worst case: every call picks any feature and
    model, so nearly every row is its own rollup group.
    """
    rnd = random.Random(seed)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    habits = {c: (rnd.sample(range(1, 13), 2), rnd.sample(MODELS, 2)) for c in range(1, 201)}
    events = []
    for n in range(count):
        customer = rnd.randint(1, 200)
        features, models = habits[customer]
        feature = rnd.randint(1, 12) if spread else rnd.choice(features)
        provider, model = rnd.choice(MODELS) if spread else rnd.choice(models)
        inp = rnd.randint(50, 20_000)
        cached = rnd.randint(0, inp // 2) if rnd.random() < 0.4 else 0
        out = rnd.randint(10, 2_000)
        cost = (
            Decimal(inp - cached) * Decimal("0.0000025")
            + Decimal(cached) * Decimal("0.00000125")
            + Decimal(out) * Decimal("0.00001")
        )
        trace, span = rnd.randbytes(16), rnd.randbytes(8)
        events.append(
            UsageEvent(
                time=start + timedelta(milliseconds=n * 86_400_000 // count),
                event_id=span_event_id(trace, span),
                trace_id=trace,
                span_id=span,
                customer_id=f"acct_{customer}",
                feature=f"feature_{feature}",
                service="api",
                environment="prod",
                provider=provider,
                request_model=model,
                response_model=model,
                operation="chat",
                input_tokens=inp,
                cache_read_tokens=cached,
                output_tokens=out,
                status=UsageStatus.PRICED,
                cost_input=cost,
                cost_total=cost,
                price_version="bench",
            )
        )
    return events


def batches(events: Sequence[UsageEvent], size: int) -> list[Sequence[UsageEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


async def plain_copy(url: str, parts: list[Sequence[UsageEvent]]) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for part in parts:
            copy_sql = f"COPY usage_events ({COLUMN_LIST}) FROM STDIN"
            async with conn.transaction(), conn.cursor().copy(copy_sql) as cp:
                for event in part:
                    await cp.write_row(row(event))
        return time.perf_counter() - started


async def writer(url: str, parts: list[Sequence[UsageEvent]]) -> tuple[float, int, int]:
    inserted = duplicates = 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for part in parts:
            result = await write_batch(conn, part)
            inserted += result.inserted
            duplicates += result.duplicates
        return time.perf_counter() - started, inserted, duplicates


def truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE usage_events, usage_hourly")
        conn.execute("VACUUM ANALYZE usage_hourly")


def measure(label: str, url: str, events: list[UsageEvent], batch: int) -> dict[str, float]:
    """Plain COPY, then the writer, then the writer again on the same rows (all duplicates)."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, reader_role="otel_margin_reader", reader_password=None)
        edition = conn.execute(
            "SELECT coalesce((SELECT 'TimescaleDB ' || extversion FROM pg_extension"
            " WHERE extname = 'timescaledb'), 'PostgreSQL ' || current_setting('server_version'))"
        ).fetchone()
    parts = batches(events, batch)
    n = len(events)
    truncate(url)
    t_copy = asyncio.run(plain_copy(url, parts))
    truncate(url)
    t_writer, inserted, _ = asyncio.run(writer(url, parts))
    t_redeliver, _, dups = asyncio.run(writer(url, parts))
    assert inserted == n and dups == n, (inserted, dups)
    figures = {"copy": n / t_copy, "writer": n / t_writer, "redelivery": n / t_redeliver}
    print(f"{label} ({edition[0] if edition else '?'}), {n:,} rows in batches of {batch:,}:")
    print(f"  plain COPY        {figures['copy']:>10,.0f} rows/s")
    print(
        f"  writer            {figures['writer']:>10,.0f} rows/s   ({figures['writer'] / figures['copy']:.0%} of COPY)"
    )
    print(f"  writer, all dups  {figures['redelivery']:>10,.0f} rows/s")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="database to use (its usage tables are truncated)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--spread", action="store_true", help="worst case: nearly every row its own rollup group")
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )
    events = make_events(args.rows, spread=args.spread)
    if args.url:
        measure("given database", args.url, events, args.batch)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the private clusters the tests use
    from tests.support.pgcluster import PgCluster
    from tests.support.stores import TIMESCALE_SETTINGS

    # Durable settings (fsync on), unlike the test clusters: a benchmark should pay for real commits.
    durable = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}
    for label, settings in (("TimescaleDB", {**TIMESCALE_SETTINGS, **durable}), ("PostgreSQL", durable)):
        with PgCluster(settings=settings) as cluster:
            with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            measure(label, cluster.dsn("bench"), events, args.batch)


if __name__ == "__main__":
    main()
