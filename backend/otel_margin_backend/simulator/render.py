"""A simulation as JSON (CLI and REST alike), CSV (one row per candidate) or a terminal table.

JSON and CSV carry exact amounts as decimal strings; the table rounds for reading (cents from $1 up, four
decimals below) and says so in its caption.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.table import Table

from otel_margin_backend.pipeline.money import cost_text, money
from otel_margin_backend.simulator.report import CandidateResult, GroupResult, Payback, Simulation
from otel_margin_backend.simulator.results import RESULT_COLUMNS, result_rows


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


NO_PAYBACK = "no payback"
"""What the table shows when a swap's monthly savings are not above $0.00 (JSON: ``payback_months`` null)."""


def payback_json(p: Payback | None) -> dict[str, Any]:
    """A payback as JSON-ready values (exact decimal strings; all null when it was not computed).

    Args:
        p: The payback, or None.

    Returns:
        ``migration_cost``, ``monthly_savings`` and ``payback_months``.
    """
    return {
        "migration_cost": _text(p.migration_cost) if p else None,
        "monthly_savings": _text(p.monthly_savings) if p else None,
        "payback_months": _text(p.payback_months) if p else None,
    }


def candidate_json(c: CandidateResult) -> dict[str, Any]:
    """One candidate as JSON-ready values (amounts as exact decimal strings).

    Args:
        c: The candidate result.

    Returns:
        The mapping.
    """
    return {
        "candidate": c.candidate,
        "model": c.model,
        "rank": c.rank,
        "suggested": c.suggested,
        "simulated_cost": _text(c.simulated_cost),
        "savings": _text(c.savings),
        "savings_percent": _text(c.savings_percent),
        "quality": _text(c.quality),
        "quality_per_dollar": _text(c.quality_per_dollar),
        "context_window": c.context_window,
        "excluded": c.excluded,
        **payback_json(c.payback),
    }


def group_json(g: GroupResult) -> dict[str, Any]:
    """One feature and model as JSON-ready values.

    Args:
        g: The group result.

    Returns:
        The mapping.
    """
    suggestion = g.suggested
    tokens = dict(zip(("input", "cache_read", "cache_write", "output", "reasoning"), g.tokens, strict=True))
    return {
        "feature": g.feature,
        "provider": g.provider,
        "model": g.model,
        "resolved_model": g.resolved_model,
        "events": g.events,
        "skipped_events": g.skipped_events,
        "unpriced_events": g.unpriced_events,
        "cost": _text(g.cost),
        "current_cost": _text(g.current_cost),
        "suggested": suggestion.candidate if suggestion else None,
        "simulated_cost": _text(suggestion.simulated_cost) if suggestion else None,
        "savings": _text(suggestion.savings) if suggestion else None,
        "savings_percent": _text(suggestion.savings_percent) if suggestion else None,
        **payback_json(suggestion.payback if suggestion else None),
        "benchmark": g.benchmark,
        "quality": _text(g.quality),
        "quality_difference": _text(g.quality_difference),
        "shape": {
            "tokens": tokens,
            "max_input_tokens": g.max_input_tokens,
            "input_tiers": [
                {"min_input_tokens": t.min_input_tokens, "max_input_tokens": t.max_input_tokens, "events": t.events}
                for t in g.tiers
            ],
        },
        "candidates": [candidate_json(c) for c in g.candidates],
    }


def to_json(simulation: Simulation) -> dict[str, Any]:
    """A whole run as JSON-ready values: the body of ``GET /v1/simulate`` and ``simulate --format json``.

    Args:
        simulation: The run.

    Returns:
        The mapping.
    """
    return {
        "computed_at": simulation.computed_at.isoformat(),
        "from": simulation.start.isoformat(),
        "to": simulation.end.isoformat(),
        "feature": simulation.feature,
        "customer": simulation.customer,
        "currency": "USD",
        "price_version": simulation.price_version,
        "override_version": simulation.override_version,
        "quality_versions": list(simulation.quality_versions),
        "candidates": list(simulation.candidates),
        "engineering_hours": str(simulation.engineering_hours),
        "hourly_rate": str(simulation.hourly_rate),
        "groups": [group_json(g) for g in simulation.groups],
    }


def to_csv(simulation: Simulation) -> str:
    """One row per feature, current model and candidate: the columns of ``simulator_results``, then the payback's.

    Args:
        simulation: The run.

    Returns:
        CSV text with a header line.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = RESULT_COLUMNS[1:]
    writer.writerow([*columns, *PAYBACK_COLUMNS])
    paybacks = [c.payback for g in simulation.groups for c in g.candidates]
    for row, payback in zip(result_rows(simulation), paybacks, strict=True):
        writer.writerow([_cell(v) for v in (*row[1:], *payback_json(payback).values())])
    return out.getvalue()


PAYBACK_COLUMNS = ("migration_cost", "monthly_savings", "payback_months")
"""The CSV's columns after ``simulator_results``'s (those of ``simulator_latest_payback``)."""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def table(simulation: Simulation) -> Table:
    """The reference table: Current model | Events | Cost | Simulated cost | Savings ($) | Savings (%), plus
    the suggested model and the quality difference, one row per feature and current model.

    Args:
        simulation: The run.

    Returns:
        A rich table.
    """
    title = (
        f"Model-swap simulation, calls {simulation.start:%Y-%m-%d %H:%M} to {simulation.end:%Y-%m-%d %H:%M} UTC"
        + (f", feature {simulation.feature}" if simulation.feature else "")
        + (f", customer {simulation.customer}" if simulation.customer else "")
    )
    t = Table(
        title=title,
        caption=(
            f"Cost: as recorded. Cost now and Simulated cost: the same calls at prices of "
            f"{simulation.computed_at:%Y-%m-%d %H:%M} UTC ({simulation.price_version}). Amounts rounded for "
            "display; --format json or csv gives exact figures and every candidate. Payback: months until the "
            f"suggestion's monthly savings (its savings scaled to 30 days) repay {simulation.engineering_hours} "
            f"engineering hours at {money(simulation.hourly_rate)}/h = {money(_migration_cost(simulation))}."
        ),
    )
    for name in ("Feature", "Current model"):
        t.add_column(name)
    for name in ("Events", "Cost", "Cost now", "Simulated cost", "Savings ($)", "Savings (%)"):
        t.add_column(name, justify="right")
    for name in ("Suggested model", "Quality Δ"):
        t.add_column(name)
    t.add_column("Payback", justify="right")
    for g in simulation.groups:
        s = g.suggested
        quality = g.quality_difference
        t.add_row(
            g.feature,
            f"{g.provider}/{g.model}" if g.provider else g.model,
            f"{g.events:,}",
            cost_text(g.cost, g.unpriced_events, small_places=4),
            money(g.current_cost, small_places=4),
            money(s.simulated_cost, small_places=4) if s else "—",
            money(s.savings, small_places=4) if s else "—",
            f"{s.savings_percent}%" if s and s.savings_percent is not None else "—",
            s.candidate if s else _no_suggestion(g),
            (f"{quality:+} {g.benchmark}" if quality is not None else "—"),
            _payback_text(s.payback) if s else "—",
        )
    return t


def _migration_cost(simulation: Simulation) -> Decimal:
    return simulation.engineering_hours * simulation.hourly_rate


def _payback_text(p: Payback | None) -> str:
    if p is None:
        return "—"
    return NO_PAYBACK if p.payback_months is None else f"{p.payback_months} mo"


def _no_suggestion(g: GroupResult) -> str:
    if not g.events:
        return "(no calls with token counts)"
    if g.current_cost is None:
        return "(current model has no price)"
    return "keep current"
