"""Model facts for the simulator: what the data has (context window, priced modalities) and what it lacks."""

from __future__ import annotations

import pytest

from otel_margin_backend.modelinfo.facts import model_facts
from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricing import PriceBook


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook.bundled()


def test_facts_of_a_known_model(book: PriceBook) -> None:
    facts = model_facts(book, "gcp.vertex_ai", "gemini-2.0-flash-001", quality=QualityTable.load())

    assert facts.resolution.model_id == "gemini-2.0-flash"
    assert facts.context_window == 1_000_000
    assert "text" in facts.priced_input_modalities
    assert facts.quality is not None and facts.quality.model == "gemini-2.0-flash-001"


def test_priced_modalities_come_from_price_keys(book: PriceBook) -> None:
    facts = model_facts(book, "openai", "gpt-realtime")

    assert {"text", "audio"} <= facts.priced_input_modalities
    assert "audio" in facts.priced_output_modalities


def test_unknown_model_has_no_facts(book: PriceBook) -> None:
    facts = model_facts(book, "openai", "no-such-model")

    assert facts.context_window is None
    assert facts.priced_input_modalities == frozenset()
    assert facts.quality is None
