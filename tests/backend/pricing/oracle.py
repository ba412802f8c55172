"""The independent oracle: genai-prices' own ``calc_price``, and events built for pricing tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypedDict, Unpack

from genai_prices import Usage, calc_price
from genai_prices.types import PriceCalculation

from otel_margin_backend.pipeline.events import UsageEvent

NOW = datetime(2026, 11, 3, 10, 15, tzinfo=UTC)


class Tokens(TypedDict, total=False):
    """Token counts of a call, with OTel semantics (input includes cache, output includes reasoning)."""

    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int


def oracle(
    provider_id: str,
    model_ref: str,
    *,
    at: datetime = NOW,
    context: Mapping[str, str] | None = None,
    **tokens: Unpack[Tokens],
) -> PriceCalculation:
    """What genai-prices charges for the usage, OTel semantics passed straight through."""
    usage = Usage(
        input_tokens=tokens.get("input_tokens", 0),
        cache_read_tokens=tokens.get("cache_read_tokens", 0),
        cache_write_tokens=tokens.get("cache_write_tokens", 0),
        output_tokens=tokens.get("output_tokens", 0),
        output_reasoning_tokens=tokens.get("reasoning_tokens", 0),
    )
    return calc_price(usage, model_ref, provider_id=provider_id, genai_request_timestamp=at, price_context=context)


def call(
    provider: str,
    model: str,
    *,
    at: datetime = NOW,
    request_model: str | None = None,
    attributes: dict[str, str] | None = None,
    **tokens: Unpack[Tokens],
) -> UsageEvent:
    """A span-derived event for one model call (the response model is ``model``)."""
    return UsageEvent(
        time=at,
        event_id=b"test-event",
        provider=provider,
        request_model=request_model or model,
        response_model=model,
        input_tokens=tokens.get("input_tokens", 0),
        cache_read_tokens=tokens.get("cache_read_tokens", 0),
        cache_write_tokens=tokens.get("cache_write_tokens", 0),
        output_tokens=tokens.get("output_tokens", 0),
        reasoning_tokens=tokens.get("reasoning_tokens", 0),
        attributes=attributes or {},
    )
