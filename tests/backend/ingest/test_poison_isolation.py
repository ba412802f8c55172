"""Poison isolation in the batcher, on the real database: a row the database refuses fails only itself.

The requests below share one batch (submitted together, well inside ``max_wait_s``). The refused batch is
written again request by request, and the refused request is bisected, so every valid row is stored once and
only the poison rows come back, with the database's reason.
"""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Sequence
from decimal import Decimal

import psycopg
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.ingest.batcher import Batcher, Refused
from otel_margin_backend.ingest.config import IngestConfig
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.storage.writer import UsageWriter, WriteResult
from tests.backend.storage.test_writer import mismatched, totals
from tests.support.events import event, run


def _random_text(size: int) -> str:
    rnd = random.Random(size)
    return "".join(rnd.choice(string.ascii_letters) for _ in range(size))


def _nul_customer(n: int) -> UsageEvent:
    e = event(n)
    e.customer_id = "a\x00b"
    return e


def _long_feature(n: int) -> UsageEvent:
    e = event(n)
    e.feature = _random_text(3000)
    return e


def _huge_cost(n: int) -> UsageEvent:
    e = event(n)
    e.reported_cost = Decimal("1e200000")
    return e


async def _submit_all(
    url: str, requests: Sequence[Sequence[UsageEvent]], **batcher_options: int
) -> tuple[list[list[Refused]], list[int]]:
    writes: list[int] = []
    async with AsyncConnectionPool(url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False) as pool:
        await pool.open(wait=True)
        writer = UsageWriter(pool)

        async def counted(events: Sequence[UsageEvent]) -> WriteResult:
            writes.append(len(events))
            return await writer.write(events)

        config = IngestConfig(batch_max_events=10_000, batch_max_wait_ms=200)
        batcher = Batcher(counted, config, **batcher_options)  # type: ignore[arg-type]
        await batcher.start()
        try:
            results = await asyncio.gather(*(batcher.submit(r) for r in requests))
        finally:
            await batcher.shutdown()
    return [written.refused for written in results], writes


def _stored_ids(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT span_id FROM usage_events ORDER BY span_id").fetchall()
    return [int.from_bytes(r[0], "big") for r in rows]


def test_poison_rows_fail_alone_and_every_valid_row_of_the_shared_batch_is_stored(db_url: str) -> None:
    a = [event(1), event(2), _nul_customer(3), event(4), event(5)]
    b = [event(11), event(12)]
    c = [_long_feature(21), event(22), _huge_cost(23)]
    results, writes = run(_submit_all(db_url, [a, b, c]))

    assert writes[0] == 10  # one batch held all three requests
    assert [[r.index for r in refused] for refused in results] == [[2], [], [0, 2]]
    assert "text fields cannot contain NUL" in results[0][0].reason
    assert "SQLSTATE 54000" in results[2][0].reason and "index row size" in results[2][0].reason
    assert "SQLSTATE 22003" in results[2][1].reason and "overflows numeric" in results[2][1].reason
    assert _stored_ids(db_url) == [1, 2, 4, 5, 11, 12, 22]
    raw, rolled = totals(db_url)
    assert raw == rolled == (7, 7000, 1400, Decimal("0.0315"))
    assert mismatched(db_url) == []


def test_one_poison_row_among_a_thousand_costs_a_few_writes(db_url: str) -> None:
    request = [event(n) for n in range(1, 1001)]
    request[617] = _nul_customer(618)
    results, writes = run(_submit_all(db_url, [request]))
    assert [(r.index, "cannot contain NUL" in r.reason) for r in results[0]] == [(617, True)]
    assert len(_stored_ids(db_url)) == 999
    assert len(writes) <= 1 + 2 * 10  # the batch, then two halves per level of a 10-level bisection


def test_the_bisection_budget_bounds_the_extra_writes(db_url: str) -> None:
    request = [_nul_customer(n) for n in range(1, 17)]
    results, writes = run(_submit_all(db_url, [request, [event(100)]], max_isolation_writes=4))
    assert [r.index for r in results[0]] == list(range(16))  # every row refused, past the budget as a block
    assert results[1] == []
    assert len(writes) <= 1 + 2 + 4  # the shared batch, one write per request, then the budget
    assert _stored_ids(db_url) == [100]
