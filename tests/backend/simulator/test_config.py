"""The simulator's config: defaults, list parsing, and errors that name the key."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.simulator import DEFAULT_CANDIDATES, SimulatorConfig, create
from otel_margin_backend.simulator.candidates import UnknownCandidate
from tests.backend.simulator.calls import BOOK


def test_defaults() -> None:
    config = SimulatorConfig()

    assert config.candidates == DEFAULT_CANDIDATES
    assert config.benchmarks == ("gpqa_diamond", "mmlu_pro")
    assert (config.window_days, config.interval_s, config.keep_runs) == (30, 3600.0, 168)
    assert config.max_quality_drop == Decimal(10) and config.min_savings_percent == Decimal(0)
    assert (config.allow_unknown_context, config.allow_deprecated, config.ignore_modalities) == (False, False, ())


def test_lists_are_accepted_as_comma_separated_text() -> None:
    config = SimulatorConfig.model_validate({"candidates": " openai/gpt-4.1-mini, anthropic/claude-sonnet-4-0 ",
                                             "ignore_modalities": "audio,image"})  # fmt: skip

    assert config.candidates == ("openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-0")
    assert config.ignore_modalities == ("audio", "image")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"candidates": []}, "candidates\n  Tuple should have at least 1 item after validation, not 0"),
        ({"candidates": ["a/b", "a/b"]}, "candidates\n  Value error, listed more than once: a/b"),
        ({"benchmarks": ["gpqa_diamond", " "]}, "benchmarks\n  Value error, entries must not be empty"),
        ({"window_days": 0}, "window_days\n  Input should be greater than or equal to 1"),
        ({"interval_s": 0.5}, "interval_s\n  Input should be greater than or equal to 1"),
        ({"min_savings_percent": 100}, "min_savings_percent\n  Input should be less than 100"),
        ({"candiates": ["a/b"]}, "candiates\n  Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SimulatorConfig.model_validate(values)
    assert message in str(caught.value)


def test_create_refuses_what_the_book_or_quality_table_lacks() -> None:
    with pytest.raises(PermanentError, match=r"^benchmarks: house_eval not in the quality table \(known: "):
        create(SimulatorConfig(benchmarks=("gpqa_diamond", "house_eval")), BOOK)
    with pytest.raises(UnknownCandidate, match=r"^candidate 'openai/gpt-9' is not in the price book"):
        create(SimulatorConfig(candidates=("openai/gpt-9",)), BOOK)


def test_none_lifts_the_quality_drop_limit() -> None:
    assert SimulatorConfig.model_validate({"max_quality_drop": "none"}).max_quality_drop is None
    assert SimulatorConfig.model_validate({"max_quality_drop": ""}).max_quality_drop is None
    assert SimulatorConfig.model_validate({"max_quality_drop": "2.5"}).max_quality_drop == Decimal("2.5")
