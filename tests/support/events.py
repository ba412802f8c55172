"""Building usage events for tests with exact, readable values."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import psycopg

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus, span_event_id
from otel_margin_backend.storage.writer import WriteResult, write_batch

T = TypeVar("T")


def event(
    n: int = 1,
    *,
    time: datetime = datetime(2026, 11, 3, 10, 15, tzinfo=UTC),
    customer: str = "acct_1",
    feature: str = "summarize",
    provider: str = "openai",
    model: str = "gpt-4o",
    input_tokens: int = 1000,
    cache_read_tokens: int = 0,
    output_tokens: int = 200,
    reasoning_tokens: int = 0,
    cost: str | None = "0.0045",
    trace: bytes | None = None,
) -> UsageEvent:
    """A priced chat call whose identity is derived from ``n`` (same n, same event)."""
    trace_id = trace or n.to_bytes(16, "big")
    span_id = n.to_bytes(8, "big")
    return UsageEvent(
        time=time,
        event_id=span_event_id(trace_id, span_id),
        trace_id=trace_id,
        span_id=span_id,
        customer_id=customer,
        feature=feature,
        provider=provider,
        request_model=model,
        response_model=model,
        operation="chat",
        input_tokens=input_tokens,
        cache_read_tokens=cache_read_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning_tokens,
        status=UsageStatus.PRICED if cost is not None else UsageStatus.UNPRICED,
        cost_total=Decimal(cost) if cost is not None else None,
        cost_input=Decimal(cost) if cost is not None else None,
        price_version="test",
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def write(url: str, events: Sequence[UsageEvent]) -> WriteResult:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await write_batch(conn, events)
