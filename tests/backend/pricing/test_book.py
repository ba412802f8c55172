"""PriceBook against genai-prices' own calc_price: same usage, same time, same total to the last digit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

import pytest

from otel_margin_backend.pipeline.events import PROVIDER_FROM_MODEL, UsageStatus
from otel_margin_backend.pricing import PriceBook, PriceData, PriceSource
from tests.backend.pricing.oracle import NOW, Tokens, call, oracle

AZURE_DEPLOYMENTS = {"prod-chat": "gpt-4o", "reasoning-east": "o3-mini", "Embed-Large": "text-embedding-3-large"}


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook(PriceData.bundled(), azure_deployments=AZURE_DEPLOYMENTS)


class Name(NamedTuple):
    """A model as a span names it, and how genai-prices is asked for the same price."""

    span_provider: str
    span_model: str
    provider_id: str
    model_ref: str


NAMES = [
    # OpenAI
    Name("openai", "gpt-4o", "openai", "gpt-4o"),
    Name("openai", "gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06"),
    Name("openai", "gpt-4o-2024-05-13", "openai", "gpt-4o-2024-05-13"),
    Name("openai", "gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini"),
    Name("openai", "gpt-4.1-2025-04-14", "openai", "gpt-4.1"),
    Name("openai", "gpt-4.1-nano", "openai", "gpt-4.1-nano"),
    Name("openai", "o3-mini-2025-01-31", "openai", "o3-mini"),
    Name("openai", "o4-mini", "openai", "o4-mini"),
    Name("openai", "gpt-5-2025-08-07", "openai", "gpt-5"),
    Name("openai", "gpt-5-mini", "openai", "gpt-5-mini"),
    Name("openai", "text-embedding-3-small", "openai", "text-embedding-3-small"),
    Name("openai", "gpt-3.5-turbo-0125", "openai", "gpt-3.5-turbo"),
    Name("litellm", "openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
    # Anthropic
    Name("anthropic", "claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet-20241022"),
    Name("anthropic", "claude-3-5-haiku-20241022", "anthropic", "claude-3-5-haiku-20241022"),
    Name("anthropic", "claude-3-7-sonnet-20250219", "anthropic", "claude-3-7-sonnet-20250219"),
    Name("anthropic", "claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4-20250514"),
    Name("anthropic", "claude-opus-4-1-20250805", "anthropic", "claude-opus-4-1-20250805"),
    Name("anthropic", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929"),
    Name("anthropic", "claude-3-haiku-20240307", "anthropic", "claude-3-haiku-20240307"),
    # Google (Gemini API and Vertex AI)
    Name("gcp.gemini", "gemini-2.5-pro", "google", "gemini-2.5-pro"),
    Name("gcp.gemini", "gemini-2.5-flash", "google", "gemini-2.5-flash"),
    Name("gcp.vertex_ai", "gemini-2.0-flash-001", "google", "gemini-2.0-flash-001"),
    Name("gcp.vertex_ai", "publishers/google/models/gemini-1.5-pro-002", "google", "gemini-1.5-pro-002"),
    Name("gcp.vertex_ai", "claude-3-5-sonnet-v2@20241022", "google", "claude-3-5-sonnet-v2@20241022"),
    # Mistral
    Name("mistral_ai", "mistral-large-latest", "mistral", "mistral-large-latest"),
    Name("mistral_ai", "mistral-small-latest", "mistral", "mistral-small-latest"),
    Name("mistral_ai", "codestral-latest", "mistral", "codestral-latest"),
    Name("mistral_ai", "open-mistral-nemo", "mistral", "open-mistral-nemo"),
    # DeepSeek
    Name("deepseek", "deepseek-chat", "deepseek", "deepseek-chat"),
    Name("deepseek", "deepseek-reasoner", "deepseek", "deepseek-reasoner"),
    # xAI
    Name("x_ai", "grok-3", "x-ai", "grok-3"),
    Name("xai", "grok-4-0709", "x-ai", "grok-4-0709"),
    Name("x_ai", "grok-3-mini", "x-ai", "grok-3-mini"),
    # Groq
    Name("groq", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile"),
    Name("groq", "llama-3.1-8b-instant", "groq", "llama-3.1-8b-instant"),
    Name("groq", "openai/gpt-oss-120b", "groq", "openai/gpt-oss-120b"),
    # AWS Bedrock
    Name(
        "aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"
    ),
    Name(
        "aws.bedrock",
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "aws",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    Name(
        "aws.bedrock",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "aws",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    Name(
        "aws.bedrock",
        "apac.anthropic.claude-sonnet-4-20250514-v1:0",
        "aws",
        "apac.anthropic.claude-sonnet-4-20250514-v1:0",
    ),
    Name("aws.bedrock", "amazon.nova-pro-v1:0", "aws", "amazon.nova-pro-v1:0"),
    Name("aws.bedrock", "meta.llama3-1-70b-instruct-v1:0", "aws", "meta.llama3-1-70b-instruct-v1:0"),
    Name("litellm", "bedrock/anthropic.claude-3-haiku-20240307-v1:0", "aws", "anthropic.claude-3-haiku-20240307-v1:0"),
    # Azure OpenAI, through the deployment map
    Name("azure.ai.openai", "prod-chat", "azure", "gpt-4o"),
    Name("azure.ai.openai", "reasoning-east", "azure", "o3-mini"),
    Name("az.ai.openai", "embed-large", "azure", "text-embedding-3-large"),
    Name("azure.ai.openai", "gpt-4o-2024-08-06", "azure", "gpt-4o-2024-08-06"),
    # OpenRouter
    Name("openrouter", "anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
    Name("openrouter", "openrouter/openai/gpt-4o", "openrouter", "openai/gpt-4o"),
    Name("openrouter", "google/gemini-2.5-pro", "openrouter", "google/gemini-2.5-pro"),
    Name("openrouter", "meta-llama/llama-3.3-70b-instruct", "openrouter", "meta-llama/llama-3.3-70b-instruct"),
]

USAGES: list[Tokens] = [
    {"input_tokens": 1_000, "output_tokens": 200},
    {
        "input_tokens": 12_345,
        "cache_read_tokens": 4_000,
        "cache_write_tokens": 1_500,
        "output_tokens": 2_222,
        "reasoning_tokens": 900,
    },
    {"input_tokens": 250_001, "cache_read_tokens": 50_000, "output_tokens": 8_000, "reasoning_tokens": 3_000},
]


@pytest.mark.parametrize("name", NAMES, ids=lambda n: f"{n.span_provider}:{n.span_model}")
@pytest.mark.parametrize("at", [NOW, datetime(2025, 3, 1, 20, 0, tzinfo=UTC)], ids=["2026-11", "2025-03"])
@pytest.mark.parametrize("usage", USAGES, ids=["plain", "cache+reasoning", "long-context"])
def test_total_equals_calc_price_to_the_last_digit(book: PriceBook, name: Name, at: datetime, usage: Tokens) -> None:
    event = call(name.span_provider, name.span_model, at=at, **usage)
    book.price(event)
    expected = oracle(name.provider_id, name.model_ref, at=at, **usage)

    assert event.status is UsageStatus.PRICED
    assert event.cost_total == expected.total_price
    assert str(event.cost_total) == str(expected.total_price)  # same digits, trailing zeros included
    assert event.cost_input == expected.input_price
    assert event.cost_output == expected.output_price
    assert event.price_version == book.version
    assert event.currency == "USD"


def test_at_least_40_names_across_every_family() -> None:
    assert len(NAMES) >= 40
    families = {n.provider_id for n in NAMES}
    assert {
        "openai",
        "anthropic",
        "google",
        "mistral",
        "deepseek",
        "x-ai",
        "groq",
        "aws",
        "azure",
        "openrouter",
    } <= families


def test_o3_price_change_on_2025_06_10(book: PriceBook) -> None:
    before = call(
        "openai", "o3", at=datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC), input_tokens=1_000_000, output_tokens=1_000_000
    )
    after = call(
        "openai", "o3", at=datetime(2025, 6, 10, 0, 0, tzinfo=UTC), input_tokens=1_000_000, output_tokens=1_000_000
    )
    book.price(before)
    book.price(after)

    assert (before.cost_input, before.cost_output, before.cost_total) == (Decimal(10), Decimal(40), Decimal(50))
    assert (after.cost_input, after.cost_output, after.cost_total) == (Decimal(2), Decimal(8), Decimal(10))
    assert (
        before.cost_total == oracle("openai", "o3", at=before.time, input_tokens=10**6, output_tokens=10**6).total_price
    )
    assert (
        after.cost_total == oracle("openai", "o3", at=after.time, input_tokens=10**6, output_tokens=10**6).total_price
    )


def test_deepseek_off_peak_hours_follow_the_start_time(book: PriceBook) -> None:
    peak = call(
        "deepseek",
        "deepseek-chat",
        at=datetime(2026, 11, 3, 12, 0, tzinfo=UTC),
        input_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    off_peak = call(
        "deepseek",
        "deepseek-chat",
        at=datetime(2026, 11, 3, 17, 0, tzinfo=UTC),
        input_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    book.price(peak)
    book.price(off_peak)

    assert peak.cost_total == Decimal("1.37")  # 0.27 + 1.1
    assert off_peak.cost_total == Decimal("0.685")  # 0.135 + 0.55


def test_service_tier_from_span_attributes(book: PriceBook) -> None:
    usage: Tokens = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    flex = call("openai", "gpt-5", attributes={"openai.response.service_tier": "flex"}, **usage)
    priority = call("openai", "gpt-5", attributes={"openai.request.service_tier": "priority"}, **usage)
    auto = call("openai", "gpt-5", attributes={"openai.request.service_tier": "auto"}, **usage)
    batch = call("openai", "gpt-5", attributes={"otel_margin.processing": "batch"}, **usage)
    for event in (flex, priority, auto, batch):
        book.price(event)

    assert (
        flex.cost_total
        == Decimal("5.625")
        == oracle("openai", "gpt-5", context={"service_tier": "flex"}, **usage).total_price
    )
    assert priority.cost_total == Decimal("22.5")
    assert auto.cost_total == Decimal("11.25")  # 'auto' says nothing about the tier billed: standard price
    assert (
        batch.cost_total
        == Decimal("5.625")
        == oracle("openai", "gpt-5", context={"processing": "batch"}, **usage).total_price
    )


def test_the_billed_service_tier_beats_the_requested_one(book: PriceBook) -> None:
    event = call(
        "openai",
        "gpt-5",
        input_tokens=1_000_000,
        attributes={"openai.request.service_tier": "priority", "openai.response.service_tier": "default"},
    )
    book.price(event)

    assert event.cost_total == Decimal("1.25")


def test_unknown_model_is_unpriced_never_zero(book: PriceBook) -> None:
    event = call("openai", "my-private-model-7", input_tokens=5_000, output_tokens=100)
    book.price(event)

    assert event.status is UsageStatus.UNPRICED
    assert (event.cost_input, event.cost_cache_read, event.cost_cache_write) == (None, None, None)
    assert (event.cost_output, event.cost_reasoning, event.cost_total) == (None, None, None)
    assert (event.provider, event.request_model, event.response_model) == (
        "openai",
        "my-private-model-7",
        "my-private-model-7",
    )
    assert event.price_version == book.version


def test_unknown_provider_and_model_are_unpriced(book: PriceBook) -> None:
    event = call("ibm.watsonx.ai", "granite-99b-instruct", input_tokens=10)
    book.price(event)

    assert event.status is UsageStatus.UNPRICED
    assert event.cost_total is None
    assert event.provider == "ibm.watsonx.ai"


@pytest.mark.parametrize(
    ("model", "provider"),
    [("gpt-4o", "openai"), ("claude-sonnet-4-20250514", "anthropic"), ("gemini-2.5-flash", "gcp.gen_ai"),
     ("mistral-large-latest", "mistral_ai"), ("grok-3", "x_ai"), ("deepseek-chat", "deepseek")],
)  # fmt: skip
def test_a_call_without_provider_gets_the_one_its_model_resolves_to(book: PriceBook, model: str,
                                                                    provider: str) -> None:  # fmt: skip
    named = call(provider, model, input_tokens=1_000, output_tokens=100)
    unnamed = call("", model, input_tokens=1_000, output_tokens=100)
    book.price(named)
    book.price(unnamed)

    assert (unnamed.provider, unnamed.provider_source) == (provider, PROVIDER_FROM_MODEL)
    assert (named.provider, named.provider_source) == (provider, None)
    assert unnamed.status is UsageStatus.PRICED and unnamed.cost_total == named.cost_total


def test_a_call_without_provider_whose_model_does_not_resolve_keeps_none(book: PriceBook) -> None:
    event = call("", "my-private-model-7", input_tokens=10)
    book.price(event)

    assert (event.provider, event.provider_source, event.status) == ("", None, UsageStatus.UNPRICED)


def test_missing_usage_is_left_alone(book: PriceBook) -> None:
    event = call("openai", "gpt-4o")
    event.status = UsageStatus.MISSING_USAGE
    book.price(event)

    assert event.status is UsageStatus.MISSING_USAGE
    assert event.cost_total is None
    assert event.price_version is None


def test_a_call_with_zero_tokens_costs_zero_not_unpriced(book: PriceBook) -> None:
    event = call("openai", "gpt-4o")
    book.price(event)

    assert event.status is UsageStatus.PRICED
    assert event.cost_total == Decimal(0)


def test_contradictory_counts_are_unpriced(book: PriceBook) -> None:
    more_cache_than_input = call("openai", "gpt-4o", input_tokens=100, cache_read_tokens=500)
    negative = call("openai", "gpt-4o", input_tokens=-1)
    book.price(more_cache_than_input)
    book.price(negative)

    assert more_cache_than_input.status is UsageStatus.UNPRICED
    assert negative.status is UsageStatus.UNPRICED
    with pytest.raises(ValueError):
        oracle("openai", "gpt-4o", input_tokens=100, cache_read_tokens=500)


def test_response_model_first_then_request_model(book: PriceBook) -> None:
    both = call("openai", "gpt-4o-mini-2024-07-18", request_model="gpt-4o", input_tokens=1_000_000)
    fallback = call("openai", "gpt-4o-experimental-x", request_model="gpt-4o", input_tokens=1_000_000)
    book.price(both)
    book.price(fallback)

    assert both.cost_total == Decimal("0.15")  # gpt-4o-mini, as the response says
    assert fallback.cost_total == Decimal("2.5")  # the response model is unknown: the request model prices it
    assert "priced as the request model" in book.explain(fallback).steps[-1]


def test_a_provider_that_lacks_the_model_is_not_borrowed_from(book: PriceBook) -> None:
    """A self-hosted Llama behind the OpenAI SDK must not get Meta's or Groq's price."""
    event = call("openai", "llama-3.3-70b-versatile", input_tokens=1_000)
    book.price(event)

    assert event.status is UsageStatus.UNPRICED


def test_server_address_recognises_the_serving_provider(book: PriceBook) -> None:
    event = call("openai", "deepseek-chat", input_tokens=1_000_000, attributes={"server.address": "api.deepseek.com"})
    book.price(event)

    assert event.status is UsageStatus.PRICED
    assert book.explain(event).provider_id == "deepseek"


def test_cost_without_an_event(book: PriceBook) -> None:
    costs = book.cost("anthropic", "claude-sonnet-4-20250514", at=NOW, input_tokens=1_000_000, output_tokens=1_000_000)

    assert costs is not None
    assert costs.total == Decimal(18)
    assert book.cost("openai", "no-such-model", at=NOW, input_tokens=1) is None


def test_resolution_is_reported(book: PriceBook) -> None:
    resolution = book.resolve("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0")

    assert resolution.source is PriceSource.DATA
    assert (resolution.provider_id, resolution.model_id) == (
        "aws",
        "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
    )
    assert "provider 'aws.bedrock' → 'aws'" in resolution.steps
