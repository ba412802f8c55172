"""One row per provider call in the store, whatever the order, batching, redelivery or concurrency of its spans."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from otel_margin_backend.pipeline.events import UsageEvent, call_event_key, call_precedence, span_event_id
from otel_margin_backend.pricedata.reprice import RepriceApplied, Repricer
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.pricing.overrides import Overrides
from otel_margin_backend.storage.retention import apply_retention
from otel_margin_backend.storage.writer import WriteResult, write_batch
from tests.backend.pricing.stored import BUNDLED
from tests.backend.storage.test_writer import mismatched
from tests.support.events import run, write
from tests.support.stores import Server

D = Decimal
AT = datetime(2026, 11, 3, 10, 59, 59, 500000, tzinfo=UTC)
DISCOUNT = PriceBook.bundled(
    overrides=Overrides.parse(
        "version: 1\ndiscounts:\n  - provider: anthropic\n    percent: 20\n    effective_from: 2026-01-01\n"
    )
)


def trace(call: int) -> bytes:
    return (1000 + call).to_bytes(16, "big")


def detailed(call: int, span: int = 2, *, at: datetime = AT + timedelta(seconds=1)) -> UsageEvent:
    """The anthropic client's own span: inclusive input with cache read and write (detail 4)."""
    return _span(call, span, at, detail=4, input_tokens=5250, cache_read=4096, cache_write=1104, output=180)


def sparse(call: int, span: int = 1, *, at: datetime = AT) -> UsageEvent:
    """Another instrumentation's span of the same call, without cache counts (detail 2) and no response model:
    another hour and another model group, so replacing it moves the call between rollup groups."""
    event = _span(call, span, at, detail=2, input_tokens=50, cache_read=0, cache_write=0, output=180)
    event.response_model = None
    BUNDLED.price(event)
    return event


def _span(
    call: int,
    span: int,
    at: datetime,
    *,
    detail: int,
    input_tokens: int,
    cache_read: int,
    cache_write: int,
    output: int,
) -> UsageEvent:
    event = UsageEvent(
        time=at,
        event_id=span_event_id(trace(call), span.to_bytes(8, "big")),
        trace_id=trace(call),
        span_id=span.to_bytes(8, "big"),
        customer_id="acme",
        feature="support",
        provider="anthropic",
        request_model="claude-sonnet-4-5",
        response_model="claude-sonnet-4-5-20250929",
        operation="chat",
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=output,
        call_key=call_event_key(trace(call), f"msg_{call}"),
        call_detail=detail,
    )
    BUNDLED.price(event)
    assert event.cost_total is not None
    return event


def stored(url: str) -> list[tuple[object, ...]]:
    """Per stored row: call, span, time, model, tokens, cost."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT get_byte(trace_id, 15) + 256 * get_byte(trace_id, 14) - 1000, get_byte(span_id, 7), time, model,"
            " input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, cost_total, call_detail"
            " FROM usage_events ORDER BY event_id"
        ).fetchall()
    return [tuple(row) for row in rows]


def calls(url: str) -> list[tuple[object, ...]]:
    """Per call record: call, span stored, time, detail, tokens, reported."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT get_byte(event_id, 15) + 256 * get_byte(event_id, 14) - 1000 AS call, get_byte(event_id, 23),"
            " time, detail, tokens, reported FROM usage_calls ORDER BY call"
        ).fetchall()


def snapshot(url: str) -> tuple[list[tuple[object, ...]], ...]:
    with psycopg.connect(url) as conn:
        return tuple(
            conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5").fetchall()  # type: ignore[misc]
            for table in ("usage_events", "usage_hourly", "usage_daily", "usage_calls")
        )


def row_of(event: UsageEvent, call: int) -> tuple[object, ...]:
    return (
        call, event.event_id[-1], event.time, event.model, event.input_tokens, event.cache_read_tokens,
        event.cache_write_tokens, event.output_tokens, event.cost_total, event.call_detail,
    )  # fmt: skip


def test_the_more_detailed_span_is_stored_whichever_arrives_first(db_url: str) -> None:
    # Call 1: the sparse span first, then the detailed one replaces it; call 2: the other way round.
    assert run(write(db_url, [sparse(1)])) == WriteResult(inserted=1, duplicates=0)
    assert run(write(db_url, [detailed(2)])) == WriteResult(inserted=1, duplicates=0)
    assert run(write(db_url, [detailed(1)])) == WriteResult(inserted=1, duplicates=0)  # replaced the sparse row
    assert run(write(db_url, [sparse(2)])) == WriteResult(inserted=0, duplicates=1)

    cost = detailed(1).cost_total
    assert cost == D("0.0082188")  # 50 x 3 + 4,096 x 0.30 + 1,104 x 3.75 + 180 x 15 per MTok
    assert stored(db_url) == [row_of(detailed(1), 1), row_of(detailed(2), 2)]
    assert calls(db_url) == [(n, 2, AT + timedelta(seconds=1), 4, 5430, False) for n in (1, 2)]
    # The rollups hold exactly the stored rows: the sparse row's hour (10:00) and model group is gone, not zero.
    assert mismatched(db_url) == []
    with psycopg.connect(db_url) as conn:
        hourly = conn.execute("SELECT bucket, model, calls, input_tokens, cost FROM usage_hourly").fetchall()
        daily = conn.execute("SELECT day, model, calls, input_tokens, cost FROM usage_daily").fetchall()
    assert hourly == [(datetime(2026, 11, 3, 11, tzinfo=UTC), "claude-sonnet-4-5-20250929", 2, 10500, 2 * cost)]
    assert daily == [(datetime(2026, 11, 3, tzinfo=UTC), "claude-sonnet-4-5-20250929", 2, 10500, 2 * cost)]


@pytest.mark.parametrize("reverse", [False, True])
def test_both_spans_in_one_batch_store_one_row(db_url: str, reverse: bool) -> None:
    events = [sparse(1), detailed(1), sparse(1), detailed(1)]
    if reverse:
        events.reverse()
    assert run(write(db_url, events)) == WriteResult(inserted=1, duplicates=3)
    assert stored(db_url) == [row_of(detailed(1), 1)]
    assert mismatched(db_url) == []


def test_equal_spans_go_to_the_smallest_event_id(db_url: str) -> None:
    run(write(db_url, [detailed(1, span=9)]))
    assert run(write(db_url, [detailed(1, span=3)])) == WriteResult(inserted=1, duplicates=0)
    run(write(db_url, [detailed(2, span=3)]))
    assert run(write(db_url, [detailed(2, span=9)])) == WriteResult(inserted=0, duplicates=1)
    assert [row[:2] for row in stored(db_url)] == [(1, 3), (2, 3)]


def test_detail_then_tokens_then_a_reported_cost_decide(db_url: str) -> None:
    plain = detailed(1, span=3)
    reported = detailed(1, span=9)  # as detailed, as many tokens, and a provider-reported cost: beats plain
    reported.reported_cost = D("0.0082")
    more = detailed(1, span=8)  # more tokens: beats the reported cost
    more.output_tokens = 181
    most = sparse(1, span=1)  # far more tokens, but less detail: beats nothing
    most.output_tokens = 50_000
    spans = [plain, reported, more, most]
    for event in spans:
        BUNDLED.price(event)
    results = [run(write(db_url, [event])) for event in spans]
    assert results == [WriteResult(1, 0), WriteResult(1, 0), WriteResult(1, 0), WriteResult(0, 1)]
    assert [row[:2] for row in stored(db_url)] == [(1, 8)]
    assert min(spans, key=call_precedence) is more
    assert mismatched(db_url) == []


def test_redelivery_of_either_span_changes_nothing(db_url: str) -> None:
    run(write(db_url, [sparse(1), detailed(2)]))
    run(write(db_url, [detailed(1), sparse(2)]))
    before = snapshot(db_url)
    assert run(write(db_url, [sparse(1), detailed(1), sparse(2), detailed(2)])) == WriteResult(0, 4)
    for event in (sparse(1), detailed(1), sparse(2), detailed(2)):
        assert run(write(db_url, [event])) == WriteResult(0, 1)
    assert snapshot(db_url) == before
    assert len(before[0]) == 2


def test_events_without_a_call_key_are_untouched(db_url: str) -> None:
    plain = [detailed(1, span=1), detailed(1, span=2)]
    for event in plain:
        event.call_key = None
    assert run(write(db_url, [*plain, detailed(2)])) == WriteResult(inserted=3, duplicates=0)
    assert calls(db_url) == [(2, 2, AT + timedelta(seconds=1), 4, 5430, False)]
    assert mismatched(db_url) == []


def race(url: str, left: Sequence[UsageEvent], right: Sequence[UsageEvent]) -> list[WriteResult]:
    barrier = threading.Barrier(2)
    results: list[WriteResult] = []

    def writer(events: Sequence[UsageEvent]) -> None:
        async def go() -> WriteResult:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute("SELECT usage_staging_open()")
                barrier.wait()
                return await write_batch(conn, events)

        results.append(asyncio.run(go()))

    threads = [threading.Thread(target=writer, args=(events,)) for events in (left, right)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    return results


def test_two_writers_racing_on_one_call_store_one_row(db_url: str) -> None:
    for call in range(1, 7):
        left, right = [sparse(call)], [detailed(call)]
        results = race(db_url, *((left, right) if call % 2 else (right, left)))
        # Sparse first, then replaced by the detailed span; or detailed first, and the sparse one a duplicate.
        assert sorted((r.inserted, r.duplicates) for r in results) in ([(1, 0), (1, 0)], [(0, 1), (1, 0)])
        assert stored(db_url) == [row_of(detailed(n), n) for n in range(1, call + 1)]
        assert mismatched(db_url) == []


def test_two_writers_racing_on_many_calls_in_opposite_orders(db_url: str) -> None:
    # 150 calls; each writer holds one span of every call, better or worse at random, keys met in opposite orders.
    rng = random.Random(61)
    left, right, winners = [], [], []
    for call in range(1, 151):
        pair = [sparse(call), detailed(call)]
        rng.shuffle(pair)
        left.append(pair[0])
        right.append(pair[1])
        winners.append(row_of(detailed(call), call))
    right.reverse()
    race(db_url, left, right)
    assert stored(db_url) == winners
    assert mismatched(db_url) == []
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), sum(tokens) FROM usage_calls").fetchone() == (150, 150 * 5430)


@pytest.fixture
def manual(db_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db_url, autocommit=False) as conn:
        yield conn


def test_a_reprice_prices_the_surviving_row(db_url: str, manual: psycopg.Connection[tuple[object, ...]]) -> None:
    run(write(db_url, [sparse(1), sparse(2)]))
    run(write(db_url, [detailed(1)]))  # replaces call 1's row; call 2 keeps its sparse row
    repricer = Repricer(manual, DISCOUNT, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))
    repricer.scan()
    assert repricer.apply() == RepriceApplied(updated=2, skipped=0, hour_groups=2)
    with psycopg.connect(db_url) as conn:
        costs = conn.execute("SELECT get_byte(span_id, 7), cost_total FROM usage_events ORDER BY event_id").fetchall()
    assert costs == [(2, D("0.0082188") * D("0.8")), (1, sparse(2).cost_total * D("0.8"))]  # type: ignore[operator]
    assert mismatched(db_url) == []
    # Ingestion still arbitrates on the re-priced rows: the sparse span again is a duplicate, the better one wins.
    assert run(write(db_url, [sparse(1), detailed(2)])) == WriteResult(inserted=1, duplicates=1)
    assert mismatched(db_url) == []


def test_a_session_staged_before_the_migration_gets_new_tables(db_url: str) -> None:
    async def go() -> WriteResult:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute("CREATE TEMP TABLE usage_staging (LIKE usage_events) ON COMMIT DELETE ROWS")
            await conn.execute("ALTER TABLE pg_temp.usage_staging DROP COLUMN call_key, DROP COLUMN call_detail")
            return await write_batch(conn, [sparse(1), detailed(1)])

    assert run(go()) == WriteResult(inserted=1, duplicates=1)
    assert stored(db_url) == [row_of(detailed(1), 1)]


def test_retention_forgets_calls_with_their_rows(db_url: str) -> None:
    old = AT - timedelta(days=500)
    run(write(db_url, [detailed(1, at=old), detailed(2)]))
    with psycopg.connect(db_url, autocommit=True) as conn:
        result = apply_retention(conn, AT - timedelta(days=400))
    assert result.calls_forgotten == 1
    assert [row[0] for row in calls(db_url)] == [2]


def test_a_better_span_for_a_call_whose_row_retention_removed_is_a_duplicate(postgres_server: Server) -> None:
    url, janitor = postgres_server.new_database()
    try:
        run(write(url, [sparse(1)]))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM usage_events")  # as retention would; the rollups keep the call
        before = snapshot(url)
        assert run(write(url, [detailed(1)])) == WriteResult(inserted=0, duplicates=1)
        assert snapshot(url) == before
    finally:
        janitor.drop()
