"""Model calls for simulator tests: built with exact token vectors, priced by the real price book, stored."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from genai_prices import Usage, calc_price

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus, span_event_id
from otel_margin_backend.pricing import PriceBook

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
"""The simulated "now": the prices in force then are the current prices."""
CALL_TIME = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)
"""When seeded calls happen (inside the default 30-day window before ``AT``)."""

BOOK = PriceBook.bundled()
_ids = itertools.count(1)

Vector = tuple[int, int, int, int, int]
"""(input, cache read, cache write, output, reasoning) tokens; input includes cache, output includes reasoning."""


def call(
    vector: Vector,
    *,
    feature: str,
    provider: str,
    model: str,
    customer: str = "acct_1",
    time: datetime = CALL_TIME,
    operation: str = "chat",
    status: UsageStatus | None = None,
) -> UsageEvent:
    """One stored model call, priced by the bundled book at its time (unpriced if the model is unknown)."""
    n = next(_ids)
    trace, span = n.to_bytes(16, "big"), n.to_bytes(8, "big")
    event = UsageEvent(
        time=time,
        event_id=span_event_id(trace, span),
        trace_id=trace,
        span_id=span,
        customer_id=customer,
        feature=feature,
        provider=provider,
        request_model=model,
        response_model=model,
        operation=operation,
        input_tokens=vector[0],
        cache_read_tokens=vector[1],
        cache_write_tokens=vector[2],
        output_tokens=vector[3],
        reasoning_tokens=vector[4],
    )
    BOOK.price(event)
    if status is UsageStatus.MISSING_USAGE:
        event.status = status
        event.cost_input = event.cost_cache_read = event.cost_cache_write = None
        event.cost_output = event.cost_reasoning = event.cost_total = None
    return event


def book_total(provider: str, model: str, vectors: Sequence[Vector], *, at: datetime = AT) -> Decimal:
    """Each call priced one by one with ``PriceBook.cost``, summed: the independent recomputation."""
    total = Decimal(0)
    for v in vectors:
        costs = BOOK.cost(
            provider,
            model,
            at=at,
            input_tokens=v[0],
            cache_read_tokens=v[1],
            cache_write_tokens=v[2],
            output_tokens=v[3],
            reasoning_tokens=v[4],
        )
        assert costs is not None, (provider, model, v)
        total += costs.total
    return total


def genai_prices_total(provider: str, model: str, vectors: Sequence[Vector], *, at: datetime = AT) -> Decimal:
    """Each call priced one by one with genai-prices' own ``calc_price``, summed."""
    resolution = BOOK.resolve(provider, model)
    assert resolution.provider_id is not None and resolution.model_ref is not None
    total = Decimal(0)
    for v in vectors:
        usage = Usage(
            input_tokens=v[0],
            cache_read_tokens=v[1],
            cache_write_tokens=v[2],
            output_tokens=v[3],
            output_reasoning_tokens=v[4],
        )
        price = calc_price(usage, resolution.model_ref, provider_id=resolution.provider_id, genai_request_timestamp=at)
        total += price.total_price
    return total
