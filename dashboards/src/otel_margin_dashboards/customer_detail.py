"""Customer detail: one customer's P&L, cost over time by feature and model, and revenue by month."""

from __future__ import annotations

from otel_margin_dashboards.panels import (
    CUSTOMER_DASHBOARD_UID,
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

UID = CUSTOMER_DASHBOARD_UID

REVENUE, COST, MARGIN, MARGIN_PCT = 1, 2, 3, 4
COST_BY_FEATURE, COST_BY_MODEL, FEATURE_MODEL_TABLE, REVENUE_BY_MONTH = 5, 6, 7, 8


def build() -> dict[str, object]:
    grid = Grid()
    customer = "${customer:sqlstring}"
    pnl = f"FROM pnl({PNL_RANGE}, 'customer') WHERE key = {customer}"
    usage = f"FROM usage_hourly WHERE $__timeFilter(bucket) AND customer_id = {customer}"
    panels = [
        stat_panel(grid, REVENUE, "Revenue", f'SELECT revenue AS "Revenue" {pnl}', unit="currencyUSD", decimals=2,
                   description="The customer's net revenue in the range (prorated within a month)."),
        stat_panel(grid, COST, "AI cost", f'SELECT cost AS "AI cost" {pnl}', unit="currencyUSD", decimals=2,
                   unpriced=True, description="The customer's priced model-call cost in the range (\"unpriced\" "
                                              "when no call could be priced)."),
        stat_panel(grid, MARGIN, "Margin", f'SELECT margin AS "Margin" {pnl}', unit="currencyUSD", decimals=2,
                   thresholds=MARGIN_STEPS, description="Revenue minus AI cost."),
        stat_panel(grid, MARGIN_PCT, "Margin %", f'SELECT margin_pct AS "Margin %" {pnl}', unit="percent",
                   decimals=2, thresholds=MARGIN_PCT_STEPS, description="Margin as a share of revenue."),
        timeseries_panel(grid, COST_BY_FEATURE, "AI cost by feature", f"""
            SELECT $__timeGroupAlias(bucket, $__interval), feature, sum(cost) AS cost
            {usage}
            GROUP BY 1, 2
            ORDER BY 1, 2
            """, unit="currencyUSD", series_label="feature", bars=True, stacked=True,
            description="The customer's cost (USD) per feature over time."),
        timeseries_panel(grid, COST_BY_MODEL, "AI cost by model", f"""
            SELECT $__timeGroupAlias(bucket, $__interval), provider || '/' || model AS model, sum(cost) AS cost
            {usage}
            GROUP BY 1, 2
            ORDER BY 1, 2
            """, unit="currencyUSD", series_label="model", bars=True, stacked=True,
            description="The customer's cost (USD) per provider/model over time."),
        table_panel(grid, FEATURE_MODEL_TABLE, "Cost by feature and model", f"""
            SELECT feature, provider, model, sum(calls) AS calls, sum(input_tokens) AS input_tokens,
                   sum(output_tokens) AS output_tokens,
                   CASE WHEN sum(unpriced_calls) < sum(calls) THEN sum(cost) END AS cost,
                   sum(unpriced_calls) AS unpriced_calls
            FROM usage_rollup_read({PNL_RANGE})
            WHERE customer_id = {customer}
            GROUP BY 1, 2, 3
            ORDER BY cost DESC NULLS LAST, 1, 2, 3
            """, w=12, overrides=Overrides().unpriced("cost"),
            description="Calls, tokens and cost (USD) per feature and model in the range (monthly, daily and "
                        "hourly rollups: usage_rollup_read)."),
        table_panel(grid, REVENUE_BY_MONTH, "Revenue by month", f"""
            SELECT month, currency, revenue, refunds, net, reporting_currency, net_reporting, converted
            FROM revenue_monthly_reporting
            WHERE customer_id = {customer}
              AND month < $__timeTo() AND utc_month_after(month) > $__timeFrom()
            ORDER BY month DESC, currency
            """, w=12,
            overrides=Overrides().add("month", unit="time:YYYY-MM").money("revenue", "refunds", "net")
            .money("net_reporting"),
            description="Recognized revenue per UTC month overlapping the range (whole months), in the invoice "
                        "currency and converted to the reporting currency."),
    ]  # fmt: skip
    variables = [
        # Opens on the customer with the highest cost in the range, (unattributed) last: a first look shows one.
        query_variable("customer", "Customer",
                       f"SELECT key FROM pnl({PNL_RANGE}, 'customer')"
                       " ORDER BY key = '(unattributed)', cost DESC NULLS LAST, key",
                       multi=False, keep_order=True,
                       description="A customer with usage or revenue in the range (highest cost first)."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Customer detail",
        "otel-margin: one customer's profit and loss, cost by feature and model, and revenue by month.",
        panels,
        variables=variables,
    )
