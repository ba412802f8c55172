"""Span attributes that change a price reach the price book: service tier, batch processing, API host.

Which attributes those are is configurable (``OTEL_MARGIN_PRICE_CONTEXT_ATTRIBUTES``); the configured ones are
then what normalization copies, what the book reads and what the writer stores.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from otel_margin_backend.normalize import Normalizer
from otel_margin_backend.pipeline.events import UsageEvent
from otel_margin_backend.pricing import PriceBook, PricingConfig, build_book
from tests.support.backend import AUTH, running_backend
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


def test_configured_context_attributes_are_copied_read_and_no_others() -> None:
    tiers = {"service_tier": ["acme.billed_tier"]}
    attrs = chat_attrs(model="o3", input_tokens=1_000_000, output_tokens=1_000_000)
    spans = [
        span(1, attrs | {"acme.billed_tier": "flex", "openai.response.service_tier": "priority"}, start=AT),
        span(2, attrs | {"openai.response.service_tier": "flex", "server.address": "api.openai.com"}, start=AT),
    ]
    first, second = Normalizer(context_attributes=tiers).normalize(request(spans)).events
    assert (first.attributes, second.attributes) == ({"acme.billed_tier": "flex"}, {"server.address": "api.openai.com"})
    book = build_book(PricingConfig(context_attributes=tiers))
    book.price(first)
    book.price(second)
    assert (first.cost_total, second.cost_total) == (Decimal("5"), Decimal("10"))  # flex; standard


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OTEL_MARGIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.mark.usefixtures("clean_env")
def test_a_context_attribute_set_in_the_environment_picks_the_price_and_is_stored(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_MARGIN_PRICE_CONTEXT_ATTRIBUTES", json.dumps({"service_tier": ["acme.billed_tier"]}))
    attrs = chat_attrs(model="o3", input_tokens=1_000_000, output_tokens=1_000_000)
    spans = [
        span(1, attrs | {"acme.billed_tier": "flex", "openai.response.service_tier": "priority"}, start=AT),
        span(2, attrs | {"openai.response.service_tier": "flex"}, start=AT),  # no longer read: standard price
        span(3, attrs, start=AT),
    ]
    with running_backend(db_url, tmp_path / "data") as backend:
        response = httpx.post(
            f"{backend.http_url}/v1/traces", content=request(spans).SerializeToString(),
            headers={"content-type": "application/x-protobuf", **AUTH}, timeout=30,
        )  # fmt: skip
        assert response.status_code == 200
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT span_id, cost_total, attributes FROM usage_events ORDER BY span_id").fetchall()
    assert rows == [
        ((1).to_bytes(8, "big"), Decimal("5"), {"acme.billed_tier": "flex"}),  # flex: $1 + $4
        ((2).to_bytes(8, "big"), Decimal("10"), None),  # standard: $2 + $8
        ((3).to_bytes(8, "big"), Decimal("10"), None),
    ]
