"""Overview: revenue, AI cost, margin and margin % for the range; cost over time; unprofitable customers; budgets;
customer actions."""

from __future__ import annotations

from otel_margin_dashboards.panels import (
    MARGIN_PCT_STEPS,
    MARGIN_STEPS,
    PNL_RANGE,
    Grid,
    Overrides,
    build_dashboard,
    query_variable,
    stat_panel,
    table_panel,
    timeseries_panel,
)

UID = "otel-margin-overview"

BUDGET_STATES = {"ok": "green", "warning": "yellow", "critical": "orange", "exceeded": "red", "no_fx_rate": "purple"}

# Panel ids are stable: alert rules link to them (dashboards/provisioning/alerting/rules.yaml).
REVENUE, COST, MARGIN, MARGIN_PCT = 1, 2, 3, 4
COST_BY_FEATURE, COST_BY_MODEL = 5, 6
UNPROFITABLE, BUDGETS = 7, 8
ACTIONS = 9

ACTION_COLORS = {"reprice or throttle": "red", "unpriced": "purple", "no revenue": "orange", "monitor": "yellow",
                 "ok": "green"}  # fmt: skip

ACTIONS_MONTH = "(($__timeTo()::timestamptz - interval '1 millisecond') AT TIME ZONE 'UTC')::date"
"""The UTC month the range ends in: "This month" ends at 23:59:59.999 of its last day, "Last 7 days" now."""


def build() -> dict[str, object]:
    grid = Grid()
    org = f"FROM pnl({PNL_RANGE}, 'organization')"
    by_feature = "feature IN (${feature:sqlstring})"
    panels = [
        stat_panel(grid, REVENUE, "Revenue", f'SELECT revenue AS "Revenue" {org}',
                   unit="currencyUSD", decimals=2,
                   description="Net revenue recognized in the range (after refunds), prorated by time within a "
                               "month, in the reporting currency: pnl(from, to, 'organization')."),
        stat_panel(grid, COST, "AI cost", f'SELECT cost AS "AI cost" {org}',
                   unit="currencyUSD", decimals=2, unpriced=True,
                   description="Priced model-call cost in the range, in the reporting currency; \"unpriced\" when "
                               "no call could be priced. Unpriced calls: Data quality."),
        stat_panel(grid, MARGIN, "Margin", f'SELECT margin AS "Margin" {org}',
                   unit="currencyUSD", decimals=2, thresholds=MARGIN_STEPS,
                   description="Revenue minus AI cost."),
        stat_panel(grid, MARGIN_PCT, "Margin %", f'SELECT margin_pct AS "Margin %" {org}',
                   unit="percent", decimals=2, thresholds=MARGIN_PCT_STEPS,
                   description="Margin as a share of revenue (empty without revenue)."),
        timeseries_panel(grid, COST_BY_FEATURE, "AI cost by feature", f"""
            SELECT $__timeGroupAlias(bucket, $__interval), feature, sum(cost) AS cost
            FROM usage_hourly
            WHERE $__timeFilter(bucket) AND {by_feature}
            GROUP BY 1, 2
            ORDER BY 1, 2
            """, unit="currencyUSD", series_label="feature", bars=True, stacked=True,
            description="Priced cost (USD) per feature over time, from the hourly rollup."),
        timeseries_panel(grid, COST_BY_MODEL, "AI cost by model", f"""
            SELECT $__timeGroupAlias(bucket, $__interval), provider || '/' || model AS model, sum(cost) AS cost
            FROM usage_hourly
            WHERE $__timeFilter(bucket) AND {by_feature}
            GROUP BY 1, 2
            ORDER BY 1, 2
            """, unit="currencyUSD", series_label="model", bars=True, stacked=True,
            description="Priced cost (USD) per provider/model over time, for the selected features."),
        table_panel(grid, UNPROFITABLE, "Top unprofitable customers", f"""
            SELECT key AS customer, revenue, cost, unpriced_calls, margin, margin_pct
            FROM pnl({PNL_RANGE}, 'customer')
            WHERE unprofitable
            ORDER BY margin, key
            LIMIT 10
            """, w=12, h=9,
            overrides=Overrides().link_to_customer("customer").money("revenue").unpriced("cost")
            .colored("margin", MARGIN_STEPS, unit="currencyUSD")
            .colored("margin_pct", MARGIN_PCT_STEPS, unit="percent"),
            description="Customers whose AI cost exceeds their revenue in the range, worst first (cost: priced "
                        "calls, unpriced_calls beside it)."),
        table_panel(grid, BUDGETS, "Budgets", """
            SELECT budget, scope_label AS scope, period, spend, limit_amount, currency, percent_used,
                   forecast_percent, state
            FROM budget_status
            ORDER BY percent_used DESC NULLS LAST, budget
            """, w=12, h=9,
            overrides=Overrides().percent("forecast_percent").add("percent_used", unit="percent", decimals=2, min=0,
                                                                   max=100, custom__cellOptions={"type": "gauge",
                                                                                                 "mode": "basic"})
            .states("state", BUDGET_STATES),
            description="Every budget in its current UTC period (budget_status): spend, limit, % used, run-rate "
                        "forecast and state."),
        table_panel(grid, ACTIONS, "Customer actions", f"""
            SELECT customer, revenue, cost, margin_pct, action, negative_two_months
            FROM customer_actions({ACTIONS_MONTH})
            """, w=24, h=9,
            overrides=Overrides().link_to_customer("customer").money("revenue").unpriced("cost")
            .colored("margin_pct", MARGIN_PCT_STEPS, unit="percent").states("action", ACTION_COLORS),
            description="What to do about each customer in the UTC month the range ends in (customer_actions(), "
                        "as otel-margin customers actions): reprice or throttle a negative margin, monitor one "
                        "below 10 % (the default floor), ok otherwise; negative_two_months: the month before was "
                        "negative too. A month still running has its revenue prorated to the hours elapsed."),
    ]  # fmt: skip
    variables = [
        query_variable("feature", "Feature", f"SELECT key FROM pnl({PNL_RANGE}, 'feature') ORDER BY 1",
                       multi=True, description="Features with usage in the range."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Overview",
        "otel-margin: revenue, AI cost and margin for the range, cost trends, unprofitable customers and budgets.",
        panels,
        variables=variables,
    )
