"""Bill reconciliation: what the providers billed against what otel-margin computed from spans, per day and model.

Every query reads ``bill_reconcile_by()`` / ``bill_reconcile_projects()`` (migration 0091), the functions behind
``otel-margin bills reconcile`` and ``GET /v1/bills/reconcile``; docs/reconciliation.md explains the columns.
"""

from __future__ import annotations

from otel_margin_dashboards.panels import (
    GREEN,
    RED,
    YELLOW,
    Grid,
    Overrides,
    build_dashboard,
    stat_panel,
    steps,
    table_panel,
    timeseries_panel,
)

UID = "otel-margin-bills"

BILLED, COMPUTED, GAP, COVERAGE = 1, 2, 3, 4
PER_DAY, COVERAGE_PER_DAY, TOP_GAPS, PROJECTS, IMPORTS = 5, 6, 7, 8, 9

DAYS = "(($__timeFrom())::timestamptz AT TIME ZONE 'UTC')::date, (($__timeTo())::timestamptz AT TIME ZONE 'UTC')::date"
"""The dashboard's range as the UTC days it covers (Grafana's end is inclusive: ...T23:59:59.999Z)."""


def build() -> dict[str, object]:
    grid = Grid()
    total = f"FROM bill_reconcile_by({DAYS}, 'provider')"
    money = Overrides()
    for column in ("billed", "computed", "gap", "unseen", "price_diff", "unpriced", "attributed"):
        money.add(column, unit="currencyUSD", decimals=4)
    panels = [
        stat_panel(grid, BILLED, "Billed", f'SELECT sum(billed) AS "Billed" {total}', unit="currencyUSD",
                   decimals=2, description="What the providers billed for the range (each day's latest import)."),
        stat_panel(grid, COMPUTED, "Computed from spans", f'SELECT sum(computed) AS "Computed" {total}',
                   unit="currencyUSD", decimals=2,
                   description="What otel-margin priced for the same providers and days."),
        stat_panel(grid, GAP, "Gap", f"""
            SELECT CASE WHEN sum(billed) <> 0 THEN (sum(billed) - sum(computed)) / sum(billed) * 100 END AS "Gap"
            {total}""", unit="percent", decimals=2,
                   thresholds=steps((None, GREEN), (2, YELLOW), (5, RED)),
                   description="(billed - computed) / billed: the share of the bill the spans do not explain."),
        stat_panel(grid, COVERAGE, "Attribution coverage", f"""
            SELECT CASE WHEN sum(billed) <> 0 THEN sum(attributed) / sum(billed) * 100 END AS "Coverage"
            {total}""", unit="percent", decimals=2,
                   thresholds=steps((None, RED), (80, YELLOW), (90, GREEN)),
                   description="Share of the billed money on calls otel-margin attributed to a customer."),
        timeseries_panel(grid, PER_DAY, "Billed vs computed per day", f"""
            SELECT day::timestamp AT TIME ZONE 'UTC' AS time, provider, billed, computed
            FROM bill_reconcile_by({DAYS}, 'day')
            ORDER BY 1, 2
            """, unit="currencyUSD", min_interval="1d", bars=True,
            description="Per UTC day and provider: the bill and otel-margin's computed cost."),
        timeseries_panel(grid, COVERAGE_PER_DAY, "Gap and coverage per day", f"""
            SELECT day::timestamp AT TIME ZONE 'UTC' AS time, provider, gap_pct, coverage_pct
            FROM bill_reconcile_by({DAYS}, 'day')
            ORDER BY 1, 2
            """, unit="percent", min_interval="1d",
            description="Per UTC day and provider: the gap in % of billed (alert above the configured 2 %) and the "
                        "attribution coverage (alert below the floor, 90 %)."),
        table_panel(grid, TOP_GAPS, "Top gaps by model", f"""
            SELECT provider, model, billed, computed, gap, gap_pct, unseen, price_diff, unpriced, attributed,
                   coverage_pct, unpriced_calls, missing_from
            FROM bill_reconcile_by({DAYS}, 'model')
            ORDER BY abs(gap) DESC, provider, model
            LIMIT 50
            """, h=10, overrides=money.add("gap_pct", unit="percent").add("coverage_pct", unit="percent"),
            description="The gap split into its causes: unseen (calls no span shows: instrument missing_from), "
                        "price_diff (same tokens, other money: fix the price or add the discount), unpriced "
                        "(calls otel-margin could not price: add an override)."),
        table_panel(grid, PROJECTS, "Bill by project or workspace", f"""
            SELECT provider, project, services, billed, billed_tokens, seen_tokens, unseen
            FROM bill_reconcile_projects({DAYS})
            """, w=12, h=9, overrides=Overrides().add("billed", unit="currencyUSD", decimals=4)
                                                  .add("unseen", unit="currencyUSD", decimals=4),
            description="Each provider project (OpenAI) or workspace (Anthropic), the services the bills mapping "
                        "file maps it to, and the billed money no span of those services explains."),
        table_panel(grid, IMPORTS, "Bill imports", """
            SELECT provider, status, started_at, last_success_at, error
            FROM bill_import_status
            ORDER BY provider
            """, w=12, h=9, overrides=Overrides().states("status", {"ok": GREEN, "failed": RED, "running": YELLOW}),
            description="The latest import of each provider's bill, and its last success (alert: failing)."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Bill reconciliation",
        "otel-margin: the providers' bills against the computed cost: the gap's causes and attribution coverage.",
        panels,
        time_from="now-30d",
    )
