"""Receive -> stored latency: counted per event by the batcher, written once a minute, merged into a median by SQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import psycopg
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.ingest.batcher import Batcher
from otel_margin_backend.ingest.config import IngestConfig
from otel_margin_backend.ingest.latency import LatencyTally, record
from otel_margin_backend.storage.writer import UsageWriter
from tests.support.events import event, run


def test_each_event_lands_in_the_bucket_of_its_latency() -> None:
    tally = LatencyTally()
    assert tally.take() is None
    tally.add(0.0004, 3)  # within 1 ms
    tally.add(1.0, 2)  # exactly 1 s: the (0.5, 1] bucket
    tally.add(1.0001, 1)
    tally.add(42.0, 4)  # above the last bound
    taken = tally.take()
    assert taken is not None
    assert (taken.events, taken.requests, taken.max_s) == (10, 4, 42.0)
    assert taken.counts == (3, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 4)
    assert tally.take() is None  # counting starts again


def test_the_batcher_times_every_stored_request_and_the_row_gives_its_median(db_url: str) -> None:
    tally = LatencyTally()

    async def scenario() -> bool:
        async with AsyncConnectionPool(db_url, min_size=1, max_size=2, kwargs={"autocommit": True},
                                       open=False) as pool:  # fmt: skip
            await pool.open(wait=True)
            batcher = Batcher(UsageWriter(pool).write, IngestConfig(batch_max_wait_ms=20), latency=tally)
            await batcher.start()
            await asyncio.gather(batcher.submit([event(1), event(2), event(3)]), batcher.submit([event(4)]))
            await batcher.shutdown()
            return await record(pool, tally)

    assert run(scenario()) is True
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT events, requests, cardinality(counts), max_s FROM ingest_latency").fetchone()
        summary = conn.execute(
            "SELECT events, requests, rows_read, median_s <= max_s, under_1s_pct FROM"
            " ingest_latency_summary(now() - interval '1 hour')"
        ).fetchone()
    assert row is not None and row[:3] == (4, 2, 13) and 0 < row[3] < 60
    assert summary is not None and summary[:4] == (4, 2, 1, True)
    assert Decimal(0) <= summary[4] <= Decimal(100)  # how fast depends on the machine: not asserted
