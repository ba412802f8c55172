"""The quality table: bundled figures with sources, user extensions, and errors with lines."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricing.errors import PricingFileError


def test_bundled_table_has_sourced_figures_for_at_least_25_models() -> None:
    table = QualityTable.load()

    assert len(table.models) >= 25
    assert {"mmlu_pro", "gpqa_diamond", "aa_intelligence_index"} <= set(table.benchmarks)
    for model in table.models:
        for score in model.scores.values():
            assert score.source.startswith("https://"), model.model
            assert Decimal(0) <= score.value <= Decimal(100)
            assert score.benchmark in table.benchmarks


def test_lookup_by_name_or_alias() -> None:
    table = QualityTable.load()
    by_alias = table.lookup("claude-3-5-sonnet-v2@20241022")

    assert by_alias is not None
    assert by_alias.model == "claude-3-5-sonnet-20241022"
    assert by_alias.scores["gpqa_diamond"].value == Decimal("65.0")
    assert by_alias.scores["mmlu_pro"].checked
    assert table.lookup(None, "nope", "o3") is not None
    assert table.lookup("nope") is None


def test_user_file_extends_and_overrides(tmp_path: Path) -> None:
    user = tmp_path / "quality.yaml"
    user.write_text(
        "version: mine-1\n"
        "benchmarks:\n"
        "  house_eval: {name: House eval, scale: percent, url: 'https://example.invalid/house'}\n"
        "models:\n"
        "  - vendor: openai\n"
        "    model: o3-2025-04-16\n"
        "    scores:\n"
        "      - {benchmark: house_eval, value: 91.25, source: 'https://example.invalid/r1', as_of: 2026-11-01}\n"
        "      - {benchmark: gpqa_diamond, value: 83.4, source: 'https://example.invalid/r2', as_of: 2026-11-01}\n"
    )
    table = QualityTable.load(user)
    o3 = table.lookup("o3")

    assert o3 is not None
    assert o3.scores["house_eval"].value == Decimal("91.25")
    assert o3.scores["gpqa_diamond"].value == Decimal("83.4")
    assert table.versions == ("2026-11-23", "mine-1")


def test_unknown_benchmark_names_the_line(tmp_path: Path) -> None:
    user = tmp_path / "quality.yaml"
    user.write_text(
        "version: x\nmodels:\n  - vendor: openai\n    model: o3\n    scores:\n"
        "      - {benchmark: mmlu, value: 1, source: 'https://example.invalid', as_of: 2026-01-01}\n"
    )
    with pytest.raises(
        PricingFileError, match=r"quality.yaml:6: models\[0\].scores\[0\].benchmark: unknown benchmark 'mmlu'"
    ):
        QualityTable.load(user)
