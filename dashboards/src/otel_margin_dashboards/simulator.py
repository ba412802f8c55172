"""Cost simulator: the latest model-swap simulation (simulator_latest), with the suggested swaps' savings and
payback (simulator_latest_payback: swap_payback(), the function the CLI and REST use too)."""

from __future__ import annotations

from otel_margin_dashboards.panels import (
    GREEN,
    ORANGE,
    RED,
    Grid,
    Overrides,
    build_dashboard,
    null_map,
    stat_panel,
    steps,
    table_panel,
)

UID = "otel-margin-simulator"

SAVINGS, SUGGESTIONS, COMPUTED_AT, PERIOD, RESULTS, PRICES, PAYBACK = 1, 2, 3, 4, 5, 6, 7


def _payback(overrides: Overrides) -> Overrides:
    return overrides.money("migration_cost", "monthly_savings").add(
        "payback_months", unit="none", decimals=1, mappings=[null_map("no payback", ORANGE)]
    )


def build() -> dict[str, object]:
    grid = Grid()
    latest_run = "FROM simulator_runs ORDER BY computed_at DESC, run_id DESC LIMIT 1"
    panels = [
        stat_panel(grid, SAVINGS, "Savings of the suggested swaps",
                   'SELECT coalesce(sum(savings), 0) AS "Savings" FROM simulator_latest WHERE suggested',
                   unit="currencyUSD", decimals=2, thresholds=steps((None, "blue"), (0.01, GREEN)),
                   description="What the simulated period's calls would have cost less on the suggested models, "
                               "at current prices (USD)."),
        stat_panel(grid, SUGGESTIONS, "Suggested swaps",
                   'SELECT count(*) FILTER (WHERE suggested) AS "Suggested swaps" FROM simulator_latest',
                   unit="none", description="Feature and model groups with a suggested candidate."),
        stat_panel(grid, COMPUTED_AT, "Computed at", f'SELECT computed_at AS "Computed at" {latest_run}',
                   unit="dateTimeAsIso", description="When the latest simulator run was computed."),
        stat_panel(grid, PERIOD, "Simulated calls since",
                   f'SELECT period_start AS "Since" {latest_run}', unit="dateTimeAsIso",
                   description="Start of the period whose calls the latest run re-priced."),
        table_panel(grid, PAYBACK, "Payback of the suggested swaps", """
            SELECT feature, provider, model, candidate, savings, monthly_savings, engineering_hours, hourly_rate,
                   migration_cost, payback_months
            FROM simulator_latest_payback
            WHERE suggested
            ORDER BY payback_months NULLS LAST, monthly_savings DESC, feature, provider, model
            """, h=8,
            overrides=_payback(Overrides().money("savings", "hourly_rate")),
            description="Per suggested swap: the simulated period's savings, the same scaled to 30 days (monthly), "
                        "the migration cost (engineering hours x hourly rate, the run's OTEL_MARGIN_SIMULATOR_* "
                        "settings) and the months the monthly savings take to repay it (swap_payback(), as in "
                        "otel-margin simulate and GET /v1/simulate). No payback when the monthly savings are not "
                        "above $0.00."),
        table_panel(grid, RESULTS, "Latest simulation", """
            SELECT feature, provider, model, candidate, events, skipped_events, current_cost, simulated_cost,
                   savings, savings_percent, benchmark, quality_current, quality_candidate, quality_per_dollar,
                   rank, suggested, excluded_reason, monthly_savings, migration_cost, payback_months
            FROM simulator_latest_payback
            ORDER BY feature, provider, model, rank NULLS LAST, candidate
            """, h=18,
            overrides=_payback(Overrides().money("current_cost", "simulated_cost", "savings"))
            .colored("savings_percent", steps((None, RED), (0, ORANGE), (10, GREEN)), unit="percent"),
            description="Per feature, current model and candidate: the same calls' cost now and on the candidate, "
                        "quality scores, rank by quality per dollar, why a candidate was excluded, and the payback "
                        "a swap to it would have."),
        table_panel(grid, PRICES, "Prices in force", """
            SELECT provider, model, kind, condition, amount, list_amount, discount_percent, currency, valid_from,
                   source, price_version, override_version
            FROM model_prices_current
            WHERE model IN (SELECT model FROM simulator_latest UNION SELECT candidate_model FROM simulator_latest)
            ORDER BY provider, model, kind, condition
            """, h=12,
            description="The prices the simulation used: the current and candidate models' prices now in force "
                        "(model_prices_current; amount after your overrides' discount, list_amount as published, "
                        "USD per million tokens for *_mtok kinds)."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Cost simulator",
        "otel-margin: what your model calls would cost on other models, from the latest simulator run.",
        panels,
    )
