"""Showing a run: money for people, exact strings for machines."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console

from otel_margin_backend.simulator.render import table, to_csv, to_json
from otel_margin_backend.simulator.report import CandidateResult, GroupResult, Simulation, TierShare

CANDIDATE = CandidateResult(
    candidate="openai/gpt-4.1-mini",
    model="openai/gpt-4.1-mini",
    simulated_cost=Decimal("1.232"),
    savings=Decimal("4.928"),
    savings_percent=Decimal("80.00"),
    quality=Decimal("65.0"),
    quality_per_dollar=Decimal("52.7597"),
    context_window=1_000_000,
    excluded=None,
    rank=1,
    suggested=True,
)
RUN = Simulation(
    computed_at=datetime(2026, 11, 23, 12, tzinfo=UTC),
    start=datetime(2026, 10, 24, 12, tzinfo=UTC),
    end=datetime(2026, 11, 23, 12, tzinfo=UTC),
    feature=None,
    customer=None,
    price_version="genai-prices 0.2.3",
    override_version=None,
    quality_versions=("2026-11-23",),
    candidates=("openai/gpt-4.1-mini",),
    groups=(
        GroupResult(
            feature="digest",
            provider="openai",
            model="gpt-4.1",
            resolved_model="openai/gpt-4.1",
            events=20,
            skipped_events=0,
            unpriced_events=0,
            cost=Decimal("6.160"),
            current_cost=Decimal("6.16"),
            max_input_tokens=290_000,
            tokens=(3_000_000, 0, 0, 20_000, 0),
            tiers=(TierShare(0, 32_000, 10), TierShare(272_001, 512_000, 10)),
            benchmark="gpqa_diamond",
            quality=Decimal("66.3"),
            candidates=(CANDIDATE,),
        ),
    ),
    engineering_hours=Decimal(16),
    hourly_rate=Decimal(150),
)


def test_the_table_rounds_for_display_only() -> None:
    console = Console(width=250, record=True)
    console.print(table(RUN))
    (row,) = [line for line in console.export_text().splitlines() if "digest" in line]

    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:8] == ["digest", "openai/gpt-4.1", "20", "$6.16", "$6.16", "$1.23", "$4.93", "80.00%"]


def test_json_keeps_exact_strings_and_the_summary() -> None:
    body = to_json(RUN)
    (group,) = body["groups"]

    assert (group["cost"], group["current_cost"], group["simulated_cost"]) == ("6.160", "6.16", "1.232")
    assert (group["suggested"], group["quality_difference"]) == ("openai/gpt-4.1-mini", "-1.3")
    assert group["shape"]["input_tiers"][1] == {"min_input_tokens": 272_001, "max_input_tokens": 512_000, "events": 10}
    assert group["candidates"][0]["quality_per_dollar"] == "52.7597"


def test_csv_has_one_row_per_candidate() -> None:
    (row,) = csv.DictReader(io.StringIO(to_csv(RUN)))

    assert row["computed_at"] == "2026-11-23T12:00:00+00:00"
    assert (row["candidate"], row["simulated_cost"], row["savings"], row["suggested"]) == (
        "openai/gpt-4.1-mini",
        "1.232",
        "4.928",
        "true",
    )
    assert row["excluded_reason"] == "" and row["quality_current"] == "66.3"
