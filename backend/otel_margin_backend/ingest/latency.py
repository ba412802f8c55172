"""Receive -> stored latency, kept in the database so ``doctor --acceptance`` reads the backend's own measure.

The batcher adds, per request, the seconds from its events reaching the batcher to their batch's commit, once per
event (so the median is the median event's). ``LatencyTally`` counts them into the buckets of
``pipeline.metrics.SECONDS_BUCKETS``; ``run_recorder`` writes what was counted as one ``ingest_latency`` row a
minute (and ``record`` once more at shutdown), and ``ingest_latency_summary()`` (migration 0081) merges the rows
into a median. The histogram ``otel_margin.ingest.latency`` serves the same measure live at ``/metrics``. A row is
one INSERT a minute per process, outside the write path, so it costs ingestion nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.pipeline.metrics import SECONDS_BUCKETS
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors

log = logging.getLogger(__name__)

RECORD_INTERVAL_S = 60.0
"""How often a ``serve`` process writes what it counted (one row when events were stored)."""


@dataclass(frozen=True, slots=True)
class LatencyCounts:
    """What was counted since the last ``take``."""

    window_start: datetime
    events: int
    requests: int
    counts: tuple[int, ...]
    """Events per bucket: at most ``SECONDS_BUCKETS[i]`` seconds, the last one above the largest bound."""
    max_s: float


class LatencyTally:
    """Counts events into latency buckets; ``take`` hands the counts over and starts again (one event loop)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._start = datetime.now(UTC)
        self._counts = [0] * (len(SECONDS_BUCKETS) + 1)
        self._events = 0
        self._requests = 0
        self._max_s = 0.0

    def add(self, seconds: float, events: int) -> None:
        """Count ``events`` events stored ``seconds`` after they were received."""
        self._counts[bisect.bisect_left(SECONDS_BUCKETS, seconds)] += events
        self._events += events
        self._requests += 1
        self._max_s = max(self._max_s, seconds)

    def take(self) -> LatencyCounts | None:
        """The counts since the last call (None when nothing was stored), and start counting again."""
        if self._events == 0:
            return None
        taken = LatencyCounts(self._start, self._events, self._requests, tuple(self._counts), self._max_s)
        self._reset()
        return taken


async def record(pool: AsyncConnectionPool[AsyncConn], tally: LatencyTally) -> bool:
    """Write what ``tally`` counted as one row; True if a row was written.

    A database error is logged and the counts are dropped (a minute of latency samples, never usage).
    """
    counts = tally.take()
    if counts is None:
        return False
    try:
        with db_errors():
            async with pool.connection(timeout=5.0) as conn:
                await conn.execute(
                    "INSERT INTO ingest_latency (window_start, events, requests, counts, max_s)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (counts.window_start, counts.events, counts.requests, list(counts.counts), counts.max_s),
                )
    except Exception as exc:
        log.warning("could not record the ingest latency: %s", exc)
        return False
    return True


async def run_recorder(
    pool: AsyncConnectionPool[AsyncConn], tally: LatencyTally, interval_s: float = RECORD_INTERVAL_S
) -> None:
    """Write the counts every ``interval_s`` until cancelled (the caller ``record``s once more after the batcher
    drained)."""
    while True:
        await asyncio.sleep(interval_s)
        await record(pool, tally)
