"""Ranking by quality per dollar and the suggestion rules, on real model profiles and plain costs."""

from __future__ import annotations

from decimal import Decimal

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.simulator.candidates import ModelProfile, current_model, resolve_candidate
from otel_margin_backend.simulator.config import SimulatorConfig
from otel_margin_backend.simulator.ranking import Observed, exclusions, pick_benchmark, rank, savings_percent
from tests.backend.simulator.calls import BOOK

QUALITY = QualityTable.load()
CONFIG = SimulatorConfig(max_quality_drop=None)  # any drop: the rules below the limit, alone


def profile(spec: str) -> ModelProfile:
    return resolve_candidate(BOOK, spec, QUALITY)


def ranked(costs: dict[str, str], *, current_cost: str = "100", current_quality: str | None = "75.4",
           config: SimulatorConfig = CONFIG) -> list[tuple[str, int | None, bool]]:  # fmt: skip
    scored: list[tuple[ModelProfile, Decimal | None, list[str]]] = [
        (profile(spec), Decimal(cost), []) for spec, cost in costs.items()
    ]
    results = rank(
        scored,
        benchmark="gpqa_diamond",
        current_cost=Decimal(current_cost),
        current_quality=Decimal(current_quality) if current_quality else None,
        config=config,
    )
    return [(r.candidate, r.rank, r.suggested) for r in results]


def test_scored_candidates_rank_by_quality_per_dollar_unscored_after() -> None:
    # gpqa: o4-mini 81.4, gpt-4.1-mini 65.0, gpt-4o-mini 40.2; gpt-5-mini has no score
    result = ranked({"openai/o4-mini": "40", "openai/gpt-4.1-mini": "20", "openai/gpt-4o-mini": "20",
                     "openai/gpt-5-mini": "1"})  # fmt: skip

    assert result == [
        ("openai/gpt-4.1-mini", 1, True),  # 65.0 / 20 = 3.25 points per dollar
        ("openai/o4-mini", 2, False),  # 81.4 / 40 = 2.035
        ("openai/gpt-4o-mini", 3, False),  # 40.2 / 20 = 2.01
        ("openai/gpt-5-mini", 4, False),  # no score: after every scored candidate, however cheap
    ]


def test_the_suggestion_must_save_beat_the_current_quality_per_dollar_and_respect_the_drop_limit() -> None:
    # current: claude-sonnet-4-0 (75.4) at $100 -> 0.754 points per dollar
    assert ranked({"openai/o3": "120"})[0][2] is False  # costs more: no saving
    assert ranked({"openai/gpt-4o-mini": "99"})[0][2] is False  # saves, but 40.2 / 99 < 0.754
    assert ranked({"openai/o4-mini": "90"})[0][2] is True  # saves 10 %, better and cheaper
    assert (
        ranked(
            {"openai/o4-mini": "90"}, config=SimulatorConfig(min_savings_percent=Decimal(10), max_quality_drop=None)
        )[0][2]
        is False
    )
    assert (
        ranked(
            {"openai/o4-mini": "89.99"}, config=SimulatorConfig(min_savings_percent=Decimal(10), max_quality_drop=None)
        )[0][2]
        is True
    )
    limited = SimulatorConfig(max_quality_drop=Decimal(10))
    assert ranked({"openai/gpt-4.1-mini": "20"}, config=limited)[0][2] is False  # 65.0 is 10.4 points down
    assert ranked({"openai/gpt-4.1-mini": "20"}, config=SimulatorConfig(max_quality_drop=Decimal("10.4")))[0][2]
    # unknown current quality: the best saving scored candidate, unless a drop limit needs the current score
    assert ranked({"openai/gpt-4o-mini": "99"}, current_quality=None)[0][2] is True
    assert ranked({"openai/gpt-4o-mini": "99"}, current_quality=None, config=limited)[0][2] is False
    # unscored candidates are never suggested, however cheap
    assert ranked({"openai/gpt-5-mini": "1"}) == [("openai/gpt-5-mini", 1, False)]


def test_exclusions_list_every_reason() -> None:
    observed = Observed(max_input_tokens=150_000, embeddings_only=False, modalities=frozenset({"input:audio"}))

    assert exclusions(profile("openai/gpt-4o-mini"), None, observed, CONFIG) == [
        "no price at the run's time",
        "context window 128,000 < largest input 150,000 tokens",
        "does not price input:audio (in use by the current model)",
    ]
    assert exclusions(profile("google/gemini-2.5-flash"), Decimal(1), observed, CONFIG) == []
    fits = Observed(max_input_tokens=200_000, embeddings_only=False, modalities=frozenset())
    assert exclusions(profile("anthropic/claude-sonnet-4-0"), Decimal(1), fits, CONFIG) == []


def test_benchmark_falls_back_in_the_configured_order() -> None:
    sonnet = current_model(BOOK, "anthropic", "claude-sonnet-4-20250514", QUALITY)
    unknown = current_model(BOOK, "acme", "house-llm-7b", QUALITY)

    assert pick_benchmark(sonnet, CONFIG) == "gpqa_diamond"
    assert pick_benchmark(sonnet, SimulatorConfig(benchmarks=("mmlu_pro", "gpqa_diamond"))) == "gpqa_diamond"
    haiku = current_model(BOOK, "anthropic", "claude-3-5-haiku-latest", QUALITY)
    assert pick_benchmark(haiku, SimulatorConfig(benchmarks=("mmlu_pro", "gpqa_diamond"))) == "mmlu_pro"
    assert pick_benchmark(unknown, CONFIG) == "gpqa_diamond"


def test_savings_percent_rounds_half_even_to_cents_of_a_percent() -> None:
    assert savings_percent(Decimal("1"), Decimal("3")) == Decimal("33.33")
    assert savings_percent(Decimal("0.00005"), Decimal("1")) == Decimal("0.00")
    assert savings_percent(Decimal("0.00015"), Decimal("1")) == Decimal("0.02")
    assert savings_percent(Decimal("1"), Decimal("0")) is None
