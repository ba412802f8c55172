"""Span attributes that change a price reach the price book: service tier, batch processing, API host."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from otel_margin_backend.normalize import Normalizer
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.pricing import PriceBook
from tests.support.spans import chat_attrs, request, span

AT = datetime(2026, 11, 3, 10, 15, tzinfo=UTC)
BOOK = PriceBook.bundled()


def normalize_one(extra: dict[str, str | int]) -> UsageEvent:
    attrs = chat_attrs(model="o3", input_tokens=1_000_000, output_tokens=1_000_000) | extra
    (event,) = Normalizer().normalize(request([span(1, attrs, start=AT)])).events
    return event


def test_the_service_tier_and_host_are_kept_and_priced() -> None:
    event = normalize_one({"openai.response.service_tier": "flex", "openai.request.service_tier": "auto",
                           "server.address": "api.openai.com"})  # fmt: skip

    assert event.attributes == {
        "openai.response.service_tier": "flex",
        "openai.request.service_tier": "auto",
        "server.address": "api.openai.com",
    }
    BOOK.price(event)
    assert event.cost_total == Decimal("5")  # flex: $1 + $4 (standard: $2 + $8)


def test_batch_processing_is_kept_and_priced() -> None:
    event = normalize_one({"otel_margin.processing": "batch", "gen_ai.openai.request.service_tier": "default"})

    assert event.attributes == {
        "otel_margin.processing": "batch",
        "gen_ai.openai.request.service_tier": "default",
    }
    BOOK.price(event)
    assert event.cost_total == Decimal("5")  # batch: $1 + $4


def test_without_them_nothing_is_added() -> None:
    event = normalize_one({})

    assert event.attributes == {}
    BOOK.price(event)
    assert event.cost_total == Decimal("10")


def test_they_never_make_a_span_genai() -> None:
    result = Normalizer().normalize(request([span(1, {"server.address": "api.openai.com"}, start=AT)]))

    assert (result.events, result.ignored_non_genai) == ([], 1)
