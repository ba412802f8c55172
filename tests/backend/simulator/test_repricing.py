"""Exact re-pricing of summed calls: equal, digit for digit, to pricing each call and adding up."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_margin_backend.simulator.repricing import NotAffine, ShapePricer, interval, interval_of, tier_starts
from otel_margin_backend.simulator.shapes import TierSlice
from tests.backend.simulator.calls import AT, BOOK, Vector, book_total

STARTS = tier_starts(BOOK)

MODELS = [
    ("openai", "gpt-5.4"),
    ("google", "gemini-1.5-pro"),
    ("x-ai", "grok-4.3"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-5-5"),
    ("openai", "gpt-4.1-mini"),
    ("perplexity", "sonar-pro"),
    ("perplexity", "sonar-deep-research"),
    ("deepseek", "deepseek-chat"),
]


def slices(vectors: list[Vector]) -> tuple[TierSlice, ...]:
    """What the aggregate query returns for these calls: per interval, the count and the summed vector."""
    groups: dict[int, list[Vector]] = defaultdict(list)
    for v in vectors:
        groups[interval_of(v[0], STARTS)].append(v)
    return tuple(
        TierSlice(index, len(vs), (sum(v[0] for v in vs), sum(v[1] for v in vs), sum(v[2] for v in vs),
                                   sum(v[3] for v in vs), sum(v[4] for v in vs)))
        for index, vs in sorted(groups.items())
    )  # fmt: skip


def test_tier_starts_are_every_threshold_in_the_data() -> None:
    assert tuple(sorted(set(STARTS))) == STARTS
    assert {100_000, 128_000, 199_999, 200_000, 272_000} <= set(STARTS)


def test_intervals_cover_every_input_once() -> None:
    assert interval(0, (100, 200)) == (0, 100)
    assert interval(1, (100, 200)) == (101, 200)
    assert interval(2, (100, 200)) == (201, None)
    assert [interval_of(n, (100, 200)) for n in (0, 100, 101, 200, 201)] == [0, 0, 1, 1, 2]
    assert interval(4, STARTS) == (199_999 + 1, 200_000)  # a one-token interval


inputs = st.one_of(
    st.integers(0, 3_000),
    st.integers(0, 400_000),
    st.sampled_from([0, 1, 2, 99_999, 100_000, 100_001, 127_999, 128_000, 128_001, 199_999, 200_000, 200_001,
                     272_000, 272_001, 524_288, 524_289]),
)  # fmt: skip


@st.composite
def vectors(draw: st.DrawFn) -> Vector:
    inp = draw(inputs)
    cache_read = draw(st.integers(0, inp))
    cache_write = draw(st.integers(0, inp - cache_read))
    output = draw(st.integers(0, 20_000))
    reasoning = draw(st.integers(0, output))
    return (inp, cache_read, cache_write, output, reasoning)


@settings(max_examples=60, deadline=None)
@given(calls=st.lists(vectors(), min_size=1, max_size=40), which=st.sampled_from(MODELS))
def test_summed_cost_equals_the_per_call_sum(calls: list[Vector], which: tuple[str, str]) -> None:
    provider, model = which
    pricer = ShapePricer(BOOK, AT, STARTS)

    assert pricer.cost(provider, model, slices(calls)) == book_total(provider, model, calls)


def test_no_price_is_none_never_zero() -> None:
    pricer = ShapePricer(BOOK, AT, STARTS)

    assert pricer.cost("acme", "house-llm-7b", slices([(10, 0, 0, 5, 0)])) is None
    assert pricer.cost("openai", "gpt-4.1-mini", ()) == Decimal(0)


def test_a_threshold_the_simulator_does_not_know_is_an_error_not_a_wrong_figure() -> None:
    pricer = ShapePricer(BOOK, AT, ())  # as if the data had no long-context tiers

    with pytest.raises(NotAffine, match=r"the price of openai/gpt-5.4 is not affine over 0..any input tokens"):
        pricer.cost("openai", "gpt-5.4", (TierSlice(0, 1, (1_000, 0, 0, 10, 0)),))
