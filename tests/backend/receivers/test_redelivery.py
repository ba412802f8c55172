"""Redelivered usage over REST and OTLP: reported as duplicates (named when it differs), and /v1/stats counts rows."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from otel_margin_backend.receivers.rest_usage import DIFFERS_REASON
from tests.backend.receivers import test_one_row_per_call as calls
from tests.backend.receivers.test_rest_usage import event, post, rows
from tests.backend.storage.test_writer import mismatched
from tests.support.backend import AUTH, BackendThread
from tests.support.rows import count


def answer(accepted: int, duplicates: int, differing: tuple[tuple[int, str], ...] = ()) -> dict[str, Any]:
    named = [{"index": i, "request_id": r, "reason": DIFFERS_REASON} for i, r in differing]
    return {"accepted": accepted, "duplicates": duplicates, "differing": named, "rejected": []}


def stats(backend: BackendThread) -> dict[str, int]:
    body: dict[str, int] = httpx.get(f"{backend.http_url}/v1/stats", headers=AUTH, timeout=10).json()
    return body


COUNTERS = (
    "events_stored",
    "events_redelivered",
    "events_redelivered_differing",
    "spans_folded_by_store",
    "spans_replaced",
)


def test_a_rest_redelivery_is_a_duplicate_and_one_with_other_numbers_is_named(
    backend: BackendThread, db_url: str
) -> None:
    first = post(backend, event("req-1"))
    assert first.status_code == 200 and first.json() == answer(1, 0)
    again = post(backend, event("req-1"))
    assert again.status_code == 200 and again.json() == answer(0, 1)
    other = post(backend, [event("req-2"), event("req-1", prompt_tokens=9000, completion_tokens=1)])
    assert other.status_code == 200 and other.json() == answer(1, 1, ((1, "req-1"),))
    twice = post(backend, [event("req-3"), event("req-3", customer_id="acct_7"), event("req-3")])
    assert twice.json() == answer(1, 2, ((1, "req-3"),))

    stored = rows(db_url)
    assert [(r[0], r[1], r[5], r[7]) for r in stored] == [
        ("req-1", "acct_9", 2000, 150),  # the first delivery's numbers stay
        ("req-2", "acct_9", 2000, 150),
        ("req-3", "acct_9", 2000, 150),
    ]
    counters = stats(backend)
    assert [counters[name] for name in COUNTERS] == [3, 4, 2, 0, 0]
    assert counters["events_stored"] == count(db_url)


def test_stats_count_the_rows_stored_after_new_redelivered_and_differing_rest_and_otlp(
    backend: BackendThread, db_url: str
) -> None:
    # REST: two new events, a redelivery, a redelivery with other numbers.
    post(backend, [event("req-1"), event("req-2")])
    post(backend, event("req-1"))
    post(backend, event("req-2", cached_tokens=500))

    def span(trace: int, number: int, attrs: dict[str, calls.Attr]) -> calls.ExportTraceServiceRequest:
        return calls.export(("anthropic", [calls.make_span(trace, number, None, "chat", attrs, number)]))

    # OTLP, call 1: the client's own span, again, a sparser span of the same call (folded), the first span again
    # with another output count (differing). Call 2: the sparse span first, then the better one replaces it.
    changed = {**calls.ANTHROPIC_OWN, "gen_ai.usage.output_tokens": 999}
    for request in (
        span(1, 11, calls.ANTHROPIC_OWN),
        span(1, 11, calls.ANTHROPIC_OWN),
        span(1, 10, calls.LOGFIRE_NO_RAW),
        span(1, 11, changed),
        span(2, 10, calls.LOGFIRE_NO_RAW),
        span(2, 11, calls.ANTHROPIC_OWN),
    ):
        calls.post(backend, request)

    counters = stats(backend)
    assert [counters[name] for name in COUNTERS] == [4, 4, 2, 1, 1]
    assert counters["events_stored"] == count(db_url) == 4
    with psycopg.connect(db_url) as conn:
        kept = conn.execute(
            "SELECT get_byte(span_id, 7), output_tokens FROM usage_events WHERE trace_id IS NOT NULL ORDER BY trace_id"
        ).fetchall()
    assert kept == [(11, 180), (11, 180)]
    assert mismatched(db_url) == []
