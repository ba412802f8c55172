"""The COPY writer: durable once, rollups equal to the raw rows, on TimescaleDB and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.storage.writer import WriteResult, write_batch
from tests.support.events import event, run, write

TOTALS_RAW = """
SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(cost_total), 0)
FROM usage_events
"""
TOTALS_ROLLUP = """
SELECT coalesce(sum(calls), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
       coalesce(sum(cost), 0)
FROM usage_hourly
"""
# Every rollup group next to the sums of its raw rows; any difference is a row here. {table} and {width}:
# usage_hourly by '1 hour' (bucket), usage_daily by '1 day' (day).
MISMATCHED_GROUPS = """
WITH raw AS (
    SELECT date_bin('{width}', time, timestamptz '2000-01-01 00:00:00+00') AS {key}, customer_id, feature,
           provider, model, count(*) AS calls, sum(input_tokens) AS input_tokens,
           sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
           sum(output_tokens) AS output_tokens, sum(reasoning_tokens) AS reasoning_tokens,
           coalesce(sum(cost_total), 0) AS cost,
           count(*) FILTER (WHERE status = 'unpriced') AS unpriced_calls,
           count(*) FILTER (WHERE status = 'missing_usage') AS missing_usage_calls,
           count(*) FILTER (WHERE tokens_estimated) AS estimated_calls,
           coalesce(sum(reported_cost), 0) AS reported_cost
    FROM usage_events GROUP BY 1, 2, 3, 4, 5
)
SELECT * FROM raw FULL JOIN {table} h USING ({key}, customer_id, feature, provider, model)
WHERE h.calls IS DISTINCT FROM raw.calls OR h.input_tokens IS DISTINCT FROM raw.input_tokens
   OR h.cache_read_tokens IS DISTINCT FROM raw.cache_read_tokens
   OR h.cache_write_tokens IS DISTINCT FROM raw.cache_write_tokens
   OR h.output_tokens IS DISTINCT FROM raw.output_tokens OR h.reasoning_tokens IS DISTINCT FROM raw.reasoning_tokens
   OR h.cost IS DISTINCT FROM raw.cost OR h.unpriced_calls IS DISTINCT FROM raw.unpriced_calls
   OR h.missing_usage_calls IS DISTINCT FROM raw.missing_usage_calls
   OR h.estimated_calls IS DISTINCT FROM raw.estimated_calls OR h.reported_cost IS DISTINCT FROM raw.reported_cost
"""


def totals(url: str) -> tuple[tuple[object, ...], tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        raw = conn.execute(TOTALS_RAW).fetchone()
        rolled = conn.execute(TOTALS_ROLLUP).fetchone()
    assert raw is not None and rolled is not None
    return tuple(raw), tuple(rolled)


def mismatched(url: str) -> list[tuple[object, ...]]:
    """Rollup groups (hourly and daily) that differ from the sums of their raw rows."""
    out: list[tuple[object, ...]] = []
    with psycopg.connect(url) as conn:
        for table, width, key in (("usage_hourly", "1 hour", "bucket"), ("usage_daily", "1 day", "day")):
            out += conn.execute(MISMATCHED_GROUPS.format(table=table, width=width, key=key).encode()).fetchall()
    return out


def batch(start: int, count: int, **kw: object) -> list[UsageEvent]:
    return [event(n, **kw) for n in range(start, start + count)]  # type: ignore[arg-type]


def test_a_batch_is_stored_with_exact_values_and_rolled_up(db_url: str) -> None:
    events = [
        event(1, cost="0.0045", input_tokens=1000, output_tokens=200),
        event(2, cost="0.0000375", input_tokens=150, output_tokens=0, customer="acct_2"),
        event(3, cost=None, model="my-private-model", input_tokens=7, output_tokens=3),
    ]
    assert run(write(db_url, events)) == WriteResult(inserted=3, duplicates=0)

    with psycopg.connect(db_url) as conn:
        raw = conn.execute(
            "SELECT customer_id, model, input_tokens, output_tokens, cost_total, status FROM usage_events"
            " ORDER BY customer_id, model"
        ).fetchall()
        rolled = conn.execute(
            "SELECT customer_id, model, calls, input_tokens, output_tokens, cost, unpriced_calls FROM usage_hourly"
            " ORDER BY customer_id, model"
        ).fetchall()
    assert raw == [
        ("acct_1", "gpt-4o", 1000, 200, Decimal("0.0045"), "priced"),
        ("acct_1", "my-private-model", 7, 3, None, "unpriced"),  # unknown model: NULL cost, never $0
        ("acct_2", "gpt-4o", 150, 0, Decimal("0.0000375"), "priced"),
    ]
    assert rolled == [
        ("acct_1", "gpt-4o", 1, 1000, 200, Decimal("0.0045"), 0),
        ("acct_1", "my-private-model", 1, 7, 3, Decimal("0"), 1),
        ("acct_2", "gpt-4o", 1, 150, 0, Decimal("0.0000375"), 0),
    ]


def test_the_same_batch_twice_equals_one_delivery(db_url: str) -> None:
    events = batch(1, 50, cost="0.0123456789")
    first = run(write(db_url, events))
    once = totals(db_url)
    second = run(write(db_url, events))

    assert first == WriteResult(inserted=50, duplicates=0)
    assert second == WriteResult(inserted=0, duplicates=50)
    assert totals(db_url) == once
    raw, rolled = once
    assert raw == (50, 50_000, 10_000, Decimal("0.617283945"))
    assert rolled == raw


def test_duplicates_inside_one_batch_count_once(db_url: str) -> None:
    events = [event(1), event(2), event(1), event(2), event(3)]
    assert run(write(db_url, events)) == WriteResult(inserted=3, duplicates=2)
    raw, rolled = totals(db_url)
    assert raw == rolled == (3, 3000, 600, Decimal("0.0135"))


def test_overlapping_batches_written_concurrently_count_once(db_url: str) -> None:
    # Two connections, each with 0..399 overlapping 200..599; half the rows in reverse order so the
    # two transactions meet the shared keys from opposite ends.
    a = batch(0, 400)
    b = list(reversed(batch(200, 400)))
    barrier = threading.Barrier(2)
    results: list[WriteResult] = []

    def writer(events: list[UsageEvent]) -> None:
        async def go() -> WriteResult:
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                barrier.wait()
                return await write_batch(conn, events)

        results.append(asyncio.run(go()))

    threads = [threading.Thread(target=writer, args=(e,)) for e in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(r.inserted for r in results) == 600
    assert sum(r.duplicates for r in results) == 200
    raw, rolled = totals(db_url)
    assert raw == rolled == (600, 600_000, 120_000, Decimal("2.7000"))
    assert mismatched(db_url) == []


def test_a_constraint_violation_rejects_the_batch_and_writes_nothing(db_url: str) -> None:
    bad = event(2)
    bad.input_tokens = -5
    with pytest.raises(PermanentError, match=r"usage_events_input_tokens_check|check constraint"):
        run(write(db_url, [event(1), bad]))
    assert totals(db_url) == ((0, 0, 0, Decimal(0)), (0, 0, 0, Decimal(0)))


def test_only_the_stored_attributes_are_kept_on_the_row(db_url: str) -> None:
    carried = {"acme.billed_tier": "flex", "openai.response.service_tier": "flex", "server.address": "api.openai.com"}
    configured, default = event(1), event(2)
    configured.attributes, default.attributes = dict(carried), dict(carried)

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await write_batch(conn, [configured], frozenset({"acme.billed_tier"}))
            await write_batch(conn, [default])  # STORED_ATTRIBUTES: the default price-context attributes

    run(go())
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT span_id, attributes FROM usage_events ORDER BY span_id").fetchall()
    assert rows == [
        ((1).to_bytes(8, "big"), {"acme.billed_tier": "flex"}),
        ((2).to_bytes(8, "big"), {"openai.response.service_tier": "flex"}),
    ]


BASE = datetime(2026, 11, 1, tzinfo=UTC)
events_strategy = st.lists(
    st.builds(
        lambda n, hour, minute, cust, feat, model, inp, out, cost, estimated: _random_event(
            n, hour, minute, cust, feat, model, inp, out, cost, estimated
        ),
        st.integers(0, 400),
        st.integers(0, 72),
        st.integers(0, 59),
        st.sampled_from(["acct_1", "acct_2", "(unattributed)"]),
        st.sampled_from(["chat", "search"]),
        st.sampled_from(["gpt-4o", "claude-sonnet-4", "mystery"]),
        st.integers(0, 2_000_000),
        st.integers(0, 100_000),
        st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=12)),
        st.booleans(),
    ),
    max_size=60,
)


def _random_event(
    n: int,
    hour: int,
    minute: int,
    cust: str,
    feat: str,
    model: str,
    inp: int,
    out: int,
    cost: Decimal | None,
    estimated: bool,
) -> UsageEvent:
    # The identity (n) fixes the time and keys, as a redelivered span would; the rest varies freely
    # only across different n.
    e = event(
        n,
        time=BASE + timedelta(hours=n % 73, minutes=n % 60),
        customer=cust,
        feature=feat,
        model=model,
        input_tokens=inp,
        output_tokens=out,
        cost=None if cost is None else str(cost),
    )
    e.tokens_estimated = estimated
    if cost is not None:
        e.reported_cost = cost / 2
    return e


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(events_strategy, min_size=1, max_size=4))
def test_rollups_equal_raw_rows_after_a_random_workload(db_url: str, batches: list[list[UsageEvent]]) -> None:
    # Redelivery with different payloads for the same identity must keep the first one only; keep
    # the identity stable across the workload by taking the first version of each n.
    first: dict[bytes, UsageEvent] = {}
    for b in batches:
        for e in b:
            first.setdefault(e.event_id, e)
    for b in batches:
        run(write(db_url, [first[e.event_id] for e in b]))
        run(write(db_url, [first[e.event_id] for e in b[: len(b) // 2]]))  # partial redelivery
    assert mismatched(db_url) == []
