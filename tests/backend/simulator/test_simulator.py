"""The simulator against real databases (TimescaleDB and plain PostgreSQL), with exact figures."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pricing import CurrentPriceBook, PriceData
from otel_margin_backend.simulator import GroupResult, Simulation, SimulationRequest, SimulatorConfig, create
from otel_margin_backend.simulator.candidates import UnknownCandidate
from otel_margin_backend.simulator.shapes import ShapeQuery, fetch_shapes
from tests.backend.simulator.calls import AT, BOOK, CALL_TIME, Vector, book_total, call, genai_prices_total
from tests.support.events import run, write

SMALL_DATA = Path(__file__).parents[1] / "pricing" / "testdata" / "data_small.json"
"""A two-model genai-prices data file (the pricing tests' own)."""

EXACTNESS_CANDIDATES = (
    "openai/gpt-5.4",  # long-context tier above 272,000 input tokens
    "google/gemini-1.5-pro",  # tier above 128,000
    "anthropic/claude-opus-4-6",  # tier above 200,000, cache read and write prices
    "x-ai/grok-4.3",  # tier above 199,999: a one-token interval at 200,000
    "openai/gpt-4.1-mini",  # flat, cache reads
    "perplexity/sonar-pro",  # a per-request fee
    "perplexity/sonar-deep-research",  # reasoning tokens priced on their own
    "deepseek/deepseek-chat",  # time-of-day prices
)


def store(url: str, events: Sequence[UsageEvent]) -> None:
    result = run(write(url, events))
    assert result.inserted == len(events)


def simulate(url: str, request: SimulationRequest | None = None, **config: object) -> Simulation:
    simulator = create(SimulatorConfig.model_validate(config), BOOK)
    with psycopg.connect(url) as conn:
        return simulator.simulate(conn, request, at=AT)


def group(simulation: Simulation, feature: str, model: str | None = None) -> GroupResult:
    found = [g for g in simulation.groups if g.feature == feature and (model is None or g.model == model)]
    assert len(found) == 1, [(g.feature, g.model) for g in simulation.groups]
    return found[0]


def varied_vectors(count: int, seed: int = 11) -> list[Vector]:
    """Token vectors of every kind, with inputs on and around every tier threshold of the candidates."""
    rnd = random.Random(seed)
    edges = [0, 1, 2, 31_999, 32_000, 32_001, 127_999, 128_000, 128_001, 199_998, 199_999, 200_000, 200_001,
             271_999, 272_000, 272_001, 290_000]  # fmt: skip
    inputs = edges + [rnd.choice([rnd.randint(0, 4_000), rnd.randint(4_000, 60_000), rnd.randint(60_000, 300_000)])
                      for _ in range(count - len(edges))]  # fmt: skip
    vectors = []
    for inp in inputs:
        cache_read = rnd.randint(0, inp) if rnd.random() < 0.5 else 0
        cache_write = rnd.randint(0, inp - cache_read) if rnd.random() < 0.3 else 0
        output = rnd.randint(0, 5_000)
        reasoning = rnd.randint(0, output) if rnd.random() < 0.4 else 0
        vectors.append((inp, cache_read, cache_write, output, reasoning))
    return vectors


@pytest.mark.store
def test_savings_equal_an_independent_recomputation_of_the_same_calls(db_url: str) -> None:
    vectors = varied_vectors(240)
    events = [call(v, feature="research", provider="anthropic", model="claude-sonnet-4-5-20250929") for v in vectors]
    store(db_url, events)

    result = group(simulate(db_url, SimulationRequest(candidates=EXACTNESS_CANDIDATES)), "research")

    current = book_total("anthropic", "claude-sonnet-4-5-20250929", vectors)
    assert current == genai_prices_total("anthropic", "claude-sonnet-4-5-20250929", vectors)
    assert result.events == len(vectors)
    assert result.cost == sum(e.cost_total or Decimal(0) for e in events)
    assert result.current_cost == current
    assert result.tokens == tuple(sum(v[k] for v in vectors) for k in range(5))
    assert len(result.candidates) == len(EXACTNESS_CANDIDATES)
    for candidate in result.candidates:
        provider, model = candidate.candidate.split("/", 1)
        independent = book_total(provider, model, vectors)
        assert independent == genai_prices_total(provider, model, vectors), candidate.candidate
        assert candidate.simulated_cost == independent, candidate.candidate
        assert candidate.savings == current - independent, candidate.candidate


@pytest.mark.store
def test_the_exact_figures_of_a_small_case(db_url: str) -> None:
    vectors: list[Vector] = [(1_000, 400, 100, 300, 120), (250_000, 0, 0, 2_000, 0)]
    store(db_url, [call(v, feature="chat", provider="anthropic", model="claude-sonnet-4-5-20250929") for v in vectors])

    result = group(simulate(db_url, SimulationRequest(candidates=("anthropic/claude-opus-4-6",))), "chat")

    # claude-sonnet-4-5: $3 input, $0.3 cache read, $3.75 cache write, $15 output per Mtok; above 200k input
    # every token pays the tier: $6 input, $22.5 output.
    # call 1: 500 * 3 + 400 * 0.3 + 100 * 3.75 + 300 * 15 = 1500 + 120 + 375 + 4500 = 6495 -> $0.006495
    # call 2: 250000 * 6 + 2000 * 22.5 = 1,500,000 + 45,000 -> $1.545
    assert result.current_cost == Decimal("1.551495")
    # claude-opus-4-6 has been flat since 2026-03-13 (its long-context tier ended): $5 / $0.5 / $6.25 / $25.
    # call 1: 500 * 5 + 400 * 0.5 + 100 * 6.25 + 300 * 25 = 2500 + 200 + 625 + 7500 = 10825 -> $0.010825
    # call 2: 250000 * 5 + 2000 * 25 = 1,250,000 + 50,000 -> $1.30
    (opus,) = result.candidates
    assert opus.simulated_cost == Decimal("1.310825")
    assert opus.savings == Decimal("0.240670")
    assert opus.savings_percent == Decimal("15.51")
    assert opus.rank == 1
    assert opus.quality is None and not opus.suggested  # no published score: never suggested
    assert result.suggested is None


@pytest.mark.store
def test_never_proposes_a_model_whose_context_window_is_smaller_than_observed(db_url: str) -> None:
    long_calls: list[Vector] = [(150_000, 0, 0, 800, 0), (20_000, 0, 0, 500, 0), (3_000, 0, 0, 200, 0)]
    short_calls: list[Vector] = [(100_000, 0, 0, 800, 0), (2_000, 0, 0, 100, 0)]
    events = [call(v, feature="contracts", provider="openai", model="gpt-4.1") for v in long_calls]
    events += [call(v, feature="chat", provider="openai", model="gpt-4.1") for v in short_calls]
    store(db_url, events)
    candidates = ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4-0")

    simulation = simulate(db_url, SimulationRequest(candidates=candidates))

    contracts = group(simulation, "contracts")
    assert contracts.max_input_tokens == 150_000
    by_name = {c.candidate: c for c in contracts.candidates}
    mini = by_name["openai/gpt-4o-mini"]
    assert mini.context_window == 128_000
    assert mini.excluded == "context window 128,000 < largest input 150,000 tokens"
    assert mini.rank is None and not mini.suggested
    assert mini.simulated_cost == book_total("openai", "gpt-4o-mini", long_calls)  # still shown, never proposed
    sonnet = by_name["anthropic/claude-sonnet-4-0"]
    assert sonnet.context_window == 200_000
    assert sonnet.excluded is None and sonnet.rank == 1
    # the same small model fits the feature whose largest input is 100,000 tokens
    chat_mini = {c.candidate: c for c in group(simulation, "chat").candidates}["openai/gpt-4o-mini"]
    assert chat_mini.excluded is None and chat_mini.rank is not None

    everything = simulate(db_url)  # the default candidates
    for g in everything.groups:
        for c in g.candidates:
            if c.rank is not None or c.suggested:
                assert c.context_window is not None and c.context_window >= g.max_input_tokens, (g.feature, c)


@pytest.mark.store
def test_a_bimodal_feature_is_priced_by_its_distribution_not_its_mean(db_url: str) -> None:
    small, large = (10_000, 0, 0, 1_000, 0), (290_000, 0, 0, 1_000, 0)
    vectors: list[Vector] = [small] * 10 + [large] * 10
    store(db_url, [call(v, feature="digest", provider="openai", model="gpt-4.1") for v in vectors])

    result = group(simulate(db_url, SimulationRequest(candidates=("openai/gpt-5.4",))), "digest")

    # gpt-5.4: $2.5 input / $15 output per Mtok; above 272,000 input tokens the whole call pays $5 / $22.5.
    # small call: 10,000 * 2.5 + 1,000 * 15 = $0.04; large call: 290,000 * 5 + 1,000 * 22.5 = $1.4725
    (gpt54,) = result.candidates
    assert gpt54.simulated_cost == Decimal("15.125")  # 10 * 0.04 + 10 * 1.4725
    mean = BOOK.cost("openai", "gpt-5.4", at=AT, input_tokens=150_000, output_tokens=1_000)
    assert mean is not None
    assert mean.total * 20 == Decimal("7.80")  # the mean shape (150,000 in, 1,000 out) never reaches the tier
    # gpt-4.1 is flat ($2 / $8): 10 * (0.02 + 0.008) + 10 * (0.58 + 0.008)
    assert result.current_cost == Decimal("6.160")
    assert gpt54.savings == Decimal("-8.965")
    assert [(t.min_input_tokens, t.max_input_tokens, t.events) for t in result.tiers] == [
        (0, 32_000, 10),
        (272_001, 512_000, 10),
    ]


@pytest.mark.store
def test_skipped_and_unpriced_calls_are_counted_not_hidden(db_url: str) -> None:
    events = [
        call((2_000, 0, 0, 100, 0), feature="notes", provider="openai", model="gpt-4.1"),
        call((0, 0, 0, 0, 0), feature="notes", provider="openai", model="gpt-4.1", status=UsageStatus.MISSING_USAGE),
        call((100, 300, 0, 50, 0), feature="notes", provider="openai", model="gpt-4.1"),  # cache read > input
        call((100, 0, 0, 50, 60), feature="notes", provider="openai", model="gpt-4.1"),  # reasoning > output
        call((5_000, 0, 0, 500, 0), feature="notes", provider="acme", model="house-llm-7b"),
    ]
    store(db_url, events)

    simulation = simulate(db_url, SimulationRequest(candidates=("openai/gpt-4.1-mini",)))

    known = group(simulation, "notes", "gpt-4.1")
    assert (known.events, known.skipped_events, known.unpriced_events) == (1, 3, 0)
    assert known.current_cost == book_total("openai", "gpt-4.1", [(2_000, 0, 0, 100, 0)])
    assert known.cost == events[0].cost_total
    unknown = group(simulation, "notes", "house-llm-7b")
    assert (unknown.events, unknown.unpriced_events, unknown.resolved_model) == (1, 1, None)
    assert unknown.cost is None and unknown.current_cost is None  # unpriced, never 0
    (mini,) = unknown.candidates
    assert mini.simulated_cost == book_total("openai", "gpt-4.1-mini", [(5_000, 0, 0, 500, 0)])
    assert mini.savings is None and not mini.suggested and mini.rank == 1


@pytest.mark.store
def test_feature_customer_and_range_select_the_calls(db_url: str) -> None:
    v: Vector = (1_000, 0, 0, 100, 0)
    store(
        db_url,
        [
            call(v, feature="a", provider="openai", model="gpt-4.1", customer="acct_1"),
            call(v, feature="a", provider="openai", model="gpt-4.1", customer="acct_2"),
            call(v, feature="b", provider="openai", model="gpt-4.1", customer="acct_1"),
            call(v, feature="a", provider="openai", model="gpt-4.1", time=AT - timedelta(days=45)),
        ],
    )
    candidates = ("openai/gpt-4.1-mini",)

    assert [(g.feature, g.events) for g in simulate(db_url, SimulationRequest(candidates=candidates)).groups] == [
        ("a", 2),
        ("b", 1),
    ]
    only_a = simulate(db_url, SimulationRequest(feature="a", customer="acct_1", candidates=candidates))
    assert [(g.feature, g.events) for g in only_a.groups] == [("a", 1)]
    older = SimulationRequest(candidates=candidates, start=AT - timedelta(days=60), end=CALL_TIME)
    assert [(g.feature, g.events) for g in simulate(db_url, older).groups] == [("a", 1)]
    assert simulate(db_url, SimulationRequest(candidates=candidates), window_days=5).groups == ()


@pytest.mark.store
def test_modalities_embeddings_deprecation_and_unknown_context_exclude(db_url: str) -> None:
    store(
        db_url,
        [
            call((1_000, 0, 0, 100, 0), feature="voice", provider="google", model="gemini-2.5-flash"),
            call((800, 0, 0, 0, 0), feature="search", provider="openai", model="text-embedding-3-small",
                 operation="embeddings"),
        ],
    )  # fmt: skip
    candidates = ("openai/gpt-4.1-mini", "openai/text-embedding-3-large", "google/gemini-2.0-flash",
                  "google/gemini-2.5-pro")  # fmt: skip

    strict = simulate(db_url, SimulationRequest(candidates=candidates))
    voice = {c.candidate: c.excluded for c in group(strict, "voice").candidates}
    assert voice == {
        "openai/gpt-4.1-mini": "does not price input:audio (in use by the current model)",
        "openai/text-embedding-3-large": "does not price input:audio (in use by the current model); "
        "embeddings model (the feature generates text)",
        "google/gemini-2.0-flash": "deprecated by the provider",
        "google/gemini-2.5-pro": "context window unknown; does not price input:audio (in use by the current model)",
    }
    search = {c.candidate: c.excluded for c in group(strict, "search").candidates}
    assert search["openai/gpt-4.1-mini"] == "not an embeddings model (the feature makes embeddings calls)"
    assert search["openai/text-embedding-3-large"] is None

    relaxed = simulate(
        db_url,
        SimulationRequest(candidates=candidates),
        ignore_modalities=["audio"],
        allow_unknown_context=True,
        allow_deprecated=True,
    )
    voice = {c.candidate: c.excluded for c in group(relaxed, "voice").candidates}
    assert voice["openai/gpt-4.1-mini"] is None
    assert voice["google/gemini-2.0-flash"] is None
    assert voice["google/gemini-2.5-pro"] is None


@pytest.mark.store
def test_bad_requests_are_named(db_url: str) -> None:
    with pytest.raises(UnknownCandidate, match=r"candidate 'openai/gpt-4.1-mni' is not in the price book"):
        simulate(db_url, SimulationRequest(candidates=("openai/gpt-4.1-mni",)))
    with pytest.raises(PermanentError, match="the range is empty"):
        simulate(db_url, SimulationRequest(start=AT, end=AT - timedelta(days=1)))


@pytest.mark.store
def test_evaluate_reprices_shapes_read_separately(db_url: str) -> None:
    store(db_url, [call(v, feature="mix", provider="openai", model="gpt-4.1") for v in varied_vectors(40, seed=3)])
    simulator = create(SimulatorConfig(candidates=EXACTNESS_CANDIDATES[:3]), BOOK)
    request = SimulationRequest(feature="mix")
    with psycopg.connect(db_url) as conn:
        whole = simulator.simulate(conn, request, at=AT)
        query = ShapeQuery(start=whole.start, end=whole.end, feature="mix")
        shapes = fetch_shapes(conn, query, simulator.tier_starts)

    # evaluate leaves the payback (SQL's swap_payback) out; everything else is the same run.
    without_payback = replace(whole, groups=tuple(
        replace(g, candidates=tuple(replace(c, payback=None) for c in g.candidates)) for g in whole.groups
    ))  # fmt: skip
    assert any(c.payback is not None for g in whole.groups for c in g.candidates)
    assert simulator.evaluate(shapes, request, at=AT) == without_payback


@pytest.mark.store
def test_a_configured_candidate_a_newer_book_lacks_is_listed_unpriced_not_fatal(db_url: str) -> None:
    store(db_url, [call((1_000, 0, 0, 100, 0), feature="chat", provider="openai", model="gpt-4.1")])
    live = CurrentPriceBook(BOOK)
    simulator = create(SimulatorConfig(candidates=("openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-0")), live)
    live.swap(BOOK.with_data(PriceData.from_json_file(SMALL_DATA)))  # a price update without those models

    with psycopg.connect(db_url) as conn:
        chat = group(simulator.simulate(conn, at=AT), "chat")
        with pytest.raises(UnknownCandidate, match=r"candidate 'openai/gpt-4\.1-mini' is not in the price book"):
            simulator.simulate(conn, SimulationRequest(candidates=("openai/gpt-4.1-mini",)), at=AT)

    assert chat.current_cost is None and chat.resolved_model is None
    assert [(c.candidate, c.simulated_cost, c.rank, c.suggested) for c in chat.candidates] == [
        ("anthropic/claude-sonnet-4-0", None, None, False),
        ("openai/gpt-4.1-mini", None, None, False),
    ]
    assert {c.excluded for c in chat.candidates} == {"no price at the run's time; context window unknown"}
