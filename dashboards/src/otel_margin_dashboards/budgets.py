"""Budgets: every budget's status in its current period, and the history of threshold crossings."""

from __future__ import annotations

from otel_margin_dashboards.overview import BUDGET_STATES
from otel_margin_dashboards.panels import (
    GREEN,
    ORANGE,
    RED,
    YELLOW,
    Grid,
    Overrides,
    build_dashboard,
    stat_panel,
    steps,
    table_panel,
)

UID = "otel-margin-budgets"

EXCEEDED, CRITICAL, WARNING, OPEN_ALERTS, STATUS, HISTORY = 1, 2, 3, 4, 5, 6

SEVERITIES = {"warning": "yellow", "critical": "orange", "exceeded": "red"}


def build() -> dict[str, object]:
    grid = Grid()

    def count(state: str) -> str:
        return f"SELECT count(*) FILTER (WHERE state = '{state}') AS \"{state}\" FROM budget_status"

    panels = [
        stat_panel(grid, EXCEEDED, "Budgets exceeded", count("exceeded"), unit="none",
                   thresholds=steps((None, GREEN), (1, RED)), description="Budgets over their limit this period."),
        stat_panel(grid, CRITICAL, "Budgets critical", count("critical"), unit="none",
                   thresholds=steps((None, GREEN), (1, ORANGE)),
                   description="Budgets past their critical threshold this period."),
        stat_panel(grid, WARNING, "Budgets at warning", count("warning"), unit="none",
                   thresholds=steps((None, GREEN), (1, YELLOW)),
                   description="Budgets past their warning threshold this period."),
        stat_panel(grid, OPEN_ALERTS, "Open budget alerts",
                   'SELECT count(*) AS "Open alerts" FROM budget_alerts WHERE resolved_at IS NULL', unit="none",
                   thresholds=steps((None, GREEN), (1, ORANGE)), description="Crossings not resolved yet."),
        table_panel(grid, STATUS, "Budget status", """
            SELECT budget, description, scope_label AS scope, period, period_start, period_end, currency,
                   limit_kind, percent_of_revenue, limit_amount, spend, percent_used, forecast, forecast_percent,
                   state, unpriced_calls, managed_by
            FROM budget_status
            ORDER BY percent_used DESC NULLS LAST, budget
            """, h=10,
            overrides=Overrides().percent("percent_of_revenue", "forecast_percent")
            .add("percent_used", unit="percent", decimals=2, min=0, max=100,
                 custom__cellOptions={"type": "gauge", "mode": "basic"})
            .states("state", BUDGET_STATES),
            description="budget_status: each budget in its current UTC period. Spend is converted to the "
                        "budget's currency; no_fx_rate means no exchange rate, and nothing alerts."),
        table_panel(grid, HISTORY, "Alert history", """
            SELECT crossed_at, budget, scope_label AS scope, severity, threshold_percent, currency,
                   spend_at_crossing, limit_at_crossing, period_start, resolved_at, resolution
            FROM budget_alerts
            WHERE crossed_at <= $__timeTo() AND (resolved_at IS NULL OR resolved_at >= $__timeFrom())
            ORDER BY crossed_at DESC, id DESC
            """, h=12,
            overrides=Overrides().percent("threshold_percent").states("severity", SEVERITIES),
            description="budget_alerts: threshold crossings open during the range, and how each was resolved."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Budgets",
        "otel-margin: AI cost budgets, their current state and the history of their alerts.",
        panels,
    )
