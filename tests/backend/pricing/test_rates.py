"""Cache, reasoning, tiers and request fees priced exactly as the data defines them, nothing counted twice."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from genai_prices.types import ModelPrice, StartDateConstraint, Tier, TieredPrices

from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.pricing.rates import UnpriceableError, compile_rates
from tests.backend.pricing.oracle import call, oracle


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook.bundled()


def test_openai_cache_read_and_reasoning(book: PriceBook) -> None:
    """o4-mini: input $1.10, cached input $0.275, output $4.40 per Mtok; reasoning bills as output."""
    event = call(
        "openai", "o4-mini", input_tokens=10_000, cache_read_tokens=4_000, output_tokens=2_000, reasoning_tokens=500
    )
    book.price(event)

    assert event.cost_cache_read == Decimal("0.0011")  # 4,000 * 0.275
    assert event.cost_input == Decimal("0.0077")  # 6,000 * 1.10 + the cache read: input includes cache
    assert event.cost_output == Decimal("0.0088")  # 2,000 * 4.40: all output, reasoning included
    assert event.cost_reasoning == Decimal("0.0022")  # 500 * 4.40, the reasoning share of cost_output
    assert event.cost_cache_write == Decimal(0)
    assert event.cost_total == Decimal("0.0165") == event.cost_input + event.cost_output
    assert (
        event.cost_total
        == oracle(
            "openai", "o4-mini", input_tokens=10_000, cache_read_tokens=4_000, output_tokens=2_000, reasoning_tokens=500
        ).total_price
    )


def test_anthropic_cache_read_and_write(book: PriceBook) -> None:
    """Claude Sonnet 4: input $3, cache write $3.75, cache read $0.30, output $15 per Mtok."""
    event = call(
        "anthropic",
        "claude-sonnet-4-20250514",
        input_tokens=100_000,
        cache_read_tokens=60_000,
        cache_write_tokens=30_000,
        output_tokens=4_000,
        reasoning_tokens=1_000,
    )
    book.price(event)

    assert event.cost_cache_read == Decimal("0.018")  # 60,000 * 0.30
    assert event.cost_cache_write == Decimal("0.1125")  # 30,000 * 3.75
    assert event.cost_input == Decimal("0.1605")  # 10,000 * 3 uncached + both cache parts
    assert event.cost_output == Decimal("0.06")  # 4,000 * 15 (thinking tokens are output tokens)
    assert event.cost_reasoning == Decimal("0.015")
    assert event.cost_total == Decimal("0.2205")
    assert (
        event.cost_total
        == oracle(
            "anthropic",
            "claude-sonnet-4-20250514",
            input_tokens=100_000,
            cache_read_tokens=60_000,
            cache_write_tokens=30_000,
            output_tokens=4_000,
            reasoning_tokens=1_000,
        ).total_price
    )


def test_google_cache_read_and_thinking(book: PriceBook) -> None:
    """Gemini 2.5 Pro at ≤200k input: input $1.25, cached $0.125, output $10 per Mtok."""
    event = call(
        "gcp.gemini",
        "gemini-2.5-pro",
        input_tokens=100_000,
        cache_read_tokens=80_000,
        output_tokens=10_000,
        reasoning_tokens=7_000,
    )
    book.price(event)

    assert event.cost_cache_read == Decimal("0.01")
    assert event.cost_input == Decimal("0.035")  # 20,000 * 1.25 + 0.01
    assert event.cost_output == Decimal("0.1")
    assert event.cost_reasoning == Decimal("0.07")
    assert event.cost_total == Decimal("0.135")


def test_reasoning_with_its_own_price_is_not_double_counted(book: PriceBook) -> None:
    """Sonar Deep Research prices reasoning at $3 and other output at $8 per Mtok."""
    event = call(
        "perplexity", "sonar-deep-research", input_tokens=1_000_000, output_tokens=1_000_000, reasoning_tokens=600_000
    )
    book.price(event)

    assert event.cost_reasoning == Decimal("1.8")  # 600k * 3
    assert event.cost_output == Decimal("5")  # 400k * 8 + the reasoning part
    assert event.cost_total == Decimal("7")
    assert (
        event.cost_total
        == oracle(
            "perplexity",
            "sonar-deep-research",
            input_tokens=1_000_000,
            output_tokens=1_000_000,
            reasoning_tokens=600_000,
        ).total_price
    )


def test_per_request_fee_is_in_the_total_only(book: PriceBook) -> None:
    """Sonar: $1 per Mtok in and out, plus $12 per 1,000 requests."""
    event = call("perplexity", "sonar", input_tokens=1_000, output_tokens=1_000)
    book.price(event)

    assert (event.cost_input, event.cost_output) == (Decimal("0.001"), Decimal("0.001"))
    assert event.cost_total == Decimal("0.014")  # 0.002 of tokens + 0.012 for the request
    assert event.cost_total == oracle("perplexity", "sonar", input_tokens=1_000, output_tokens=1_000).total_price


@pytest.mark.parametrize(
    ("input_tokens", "expected_total"),
    [
        (200_000, Decimal("0.35")),  # 200k * 1.25 + 10k * 10: at the threshold, base rates
        (200_001, Decimal("0.6500025")),  # 200,001 * 2.5 + 10k * 15: above it, every token at the tier rate
    ],
)
def test_long_context_tier(book: PriceBook, input_tokens: int, expected_total: Decimal) -> None:
    event = call("gcp.gemini", "gemini-2.5-pro", input_tokens=input_tokens, output_tokens=10_000)
    book.price(event)

    assert event.cost_total == expected_total
    assert (
        event.cost_total
        == oracle("google", "gemini-2.5-pro", input_tokens=input_tokens, output_tokens=10_000).total_price
    )


def test_reasoning_share_uses_the_tier_rate(book: PriceBook) -> None:
    event = call("gcp.gemini", "gemini-2.5-pro", input_tokens=300_000, output_tokens=10_000, reasoning_tokens=4_000)
    book.price(event)

    assert event.cost_reasoning == Decimal("0.06")  # 4,000 * $15, the >200k output rate


def test_custom_price_set_is_compiled_like_genai_prices() -> None:
    tiered = ModelPrice(input_mtok=TieredPrices(Decimal(1), [Tier(1_000, Decimal(2))]), output_mtok=Decimal(4))
    card = compile_rates(tiered)

    costs = card.costs((1_001, 0, 0, 10, 0))
    assert costs is not None
    assert costs.total == Decimal("0.002042")
    assert card.uses_tiers
    assert not card.has_reasoning_price


def test_a_price_set_genai_prices_refuses_is_refused() -> None:
    with pytest.raises(UnpriceableError, match="Missing ancestor price"):
        compile_rates(ModelPrice(cache_read_mtok=Decimal(1), output_mtok=Decimal(1)))


def _sample_times(model: object) -> set[datetime]:
    """Times either side of each dated price change, plus times of day inside and outside off-peak hours."""
    times = {
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 20, 3, tzinfo=UTC),
        datetime(2026, 11, 20, 12, tzinfo=UTC),
    }
    prices = getattr(model, "prices", None)
    constraints = [c.constraint for c in prices] if isinstance(prices, list) else []
    constraints += [v.constraint for v in getattr(model, "price_variants", None) or ()]
    for constraint in constraints:
        if isinstance(constraint, StartDateConstraint):
            start = datetime.combine(constraint.start_date, time(0), UTC)
            times |= {start, start - timedelta(seconds=1)}
    return times


def test_every_model_in_the_data_matches_calc_price(book: PriceBook) -> None:
    """The whole bundled data, at each price change and in each request context: same total, same digits."""
    usages = [(0, 0, 0, 0, 0), (250_000, 100_000, 20_000, 5_000, 3_000), (12_345, 345, 67, 890, 12)]
    contexts = [None, {"service_tier": "flex"}, {"service_tier": "priority"}, {"processing": "batch"}]
    compared = 0
    for provider in book.providers:
        for model in provider.models:
            for at in _sample_times(model):
                for usage in usages:
                    for context in contexts:
                        kwargs = dict(
                            zip(
                                (
                                    "input_tokens",
                                    "cache_read_tokens",
                                    "cache_write_tokens",
                                    "output_tokens",
                                    "reasoning_tokens",
                                ),
                                usage,
                                strict=True,
                            )
                        )
                        try:
                            expected = oracle(provider.id, model.id, at=at, context=context, **kwargs)
                        except (LookupError, ValueError):
                            expected = None
                        got = book.cost(provider.id, model.id, at=at, context=context, **kwargs)
                        if expected is None:
                            assert got is None, (provider.id, model.id, at, usage, context)
                            continue
                        assert got is not None, (provider.id, model.id, at, usage, context)
                        assert str(got.total) == str(expected.total_price), (provider.id, model.id, at, usage, context)
                        assert (got.input, got.output) == (expected.input_price, expected.output_price)
                        compared += 1
    assert compared > 50_000
