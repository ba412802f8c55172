"""Candidate specs: parsing, resolution in the price book, and the curated default list."""

from __future__ import annotations

import pytest

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.simulator import DEFAULT_CANDIDATES
from otel_margin_backend.simulator.candidates import UnknownCandidate, parse_spec, resolve_candidate
from tests.backend.simulator.calls import BOOK

QUALITY = QualityTable.load()


def test_specs_split_at_the_first_slash() -> None:
    assert parse_spec("openai/gpt-4.1-mini") == ("openai", "gpt-4.1-mini")
    assert parse_spec("gpt-4.1-mini") == (None, "gpt-4.1-mini")
    assert parse_spec("openrouter/anthropic/claude-3.5-sonnet") == ("openrouter", "anthropic/claude-3.5-sonnet")
    for bad in ("", "openai/", "/gpt-4.1"):
        with pytest.raises(UnknownCandidate, match="is not 'provider/model' or a model name"):
            parse_spec(bad)


def test_every_default_candidate_is_priced_sized_current_and_distinct() -> None:
    profiles = [resolve_candidate(BOOK, spec, QUALITY) for spec in DEFAULT_CANDIDATES]

    assert len({p.key for p in profiles}) == len(DEFAULT_CANDIDATES)
    assert len({p.key[0] for p in profiles}) >= 5  # across providers
    for p in profiles:
        assert p.facts.context_window is not None, p.label
        assert not p.facts.deprecated, p.label
        assert not p.embeddings, p.label
    assert sum(p.score("gpqa_diamond") is not None for p in profiles) >= 8


def test_resolution_infers_the_provider_of_a_bare_name() -> None:
    profile = resolve_candidate(BOOK, "claude-sonnet-4-20250514", QUALITY)

    assert (profile.provider, profile.resolved_name) == ("anthropic", "anthropic/claude-sonnet-4-0")
    assert str(profile.score("gpqa_diamond")) == "75.4"
    with pytest.raises(UnknownCandidate, match=r"candidate 'nonesuch-9' is not in the price book"):
        resolve_candidate(BOOK, "nonesuch-9", QUALITY)
