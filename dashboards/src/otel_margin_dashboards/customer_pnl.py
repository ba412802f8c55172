"""Customer P&L: revenue, cost, margin and margin % per customer for the range, linked to Customer detail; and
the revenue each customer needs for a target margin (``$target_margin``) at the last full month's cost."""

from __future__ import annotations

from otel_margin_dashboards.panels import (
    MARGIN_PCT_STEPS,
    MARGIN_STEPS,
    PNL_RANGE,
    RED,
    Grid,
    Overrides,
    build_dashboard,
    query_variable,
    stat_panel,
    steps,
    table_panel,
    text_variable,
)

UID = "otel-margin-customer-pnl"

CUSTOMERS, UNPROFITABLE, PNL_TABLE, TARGET_PRICING = 1, 2, 3, 4
DEFAULT_TARGET_MARGIN = "60"
"""The target margin the dashboard opens with (percent); type another into the variable."""


def build() -> dict[str, object]:
    grid = Grid()
    selected = f"FROM pnl({PNL_RANGE}, 'customer') WHERE key IN (${{customer:sqlstring}})"
    panels = [
        stat_panel(grid, CUSTOMERS, "Customers", f'SELECT count(*) AS "Customers" {selected}',
                   unit="none", w=12, description="Customers with usage or revenue in the range."),
        stat_panel(grid, UNPROFITABLE, "Unprofitable customers",
                   f'SELECT count(*) FILTER (WHERE unprofitable) AS "Unprofitable customers" {selected}',
                   unit="none", w=12, thresholds=steps((None, "green"), (1, RED)),
                   description="Customers whose AI cost exceeds their revenue in the range."),
        table_panel(grid, PNL_TABLE, "P&L by customer", f"""
            SELECT key AS customer, revenue, cost, margin, margin_pct, cost_share_pct, calls, unpriced_calls,
                   estimated_calls, reporting_currency AS currency, array_to_string(unconverted, ', ') AS unconverted
            {selected}
            ORDER BY margin NULLS LAST, cost DESC, key
            """, h=18,
            overrides=Overrides().link_to_customer("customer").money("revenue").unpriced("cost")
            .colored("margin", MARGIN_STEPS, unit="currencyUSD")
            .colored("margin_pct", MARGIN_PCT_STEPS, unit="percent")
            .percent("cost_share_pct"),
            description="pnl(from, to, 'customer'): revenue prorated to the range, AI cost, margin and margin % "
                        "(negative red); a cost made only of unpriced calls reads unpriced, a partly priced one has "
                        "unpriced_calls beside it. Click a customer for its detail. Currencies without an exchange "
                        "rate are left out of the sums and listed under unconverted."),
        table_panel(grid, TARGET_PRICING, "Price for the target margin", """
            SELECT customer, month, revenue, cost, margin_pct, target_margin_pct, required_revenue, price_change_pct,
                   note, reporting_currency AS currency
            FROM customer_target_pricing(${target_margin:sqlstring}::numeric,
                                         least(date_trunc('second', $__timeTo()::timestamptz
                                                                    + interval '999 milliseconds'), now()))
            """, h=12,
            overrides=Overrides().money("revenue", "required_revenue").unpriced("cost").percent("margin_pct")
            .colored("price_change_pct", steps((None, "green"), (0.01, RED)), unit="percent"),
            description="customer_target_pricing(target, as of): per customer, the monthly revenue that reaches "
                        "the Target margin % variable at the AI cost of the last full UTC month before the range's "
                        "end (cost / (1 - target/100), rounded up to the cent), and the price change it implies "
                        "against that month's revenue; note says why a figure is missing (no revenue, no cost, "
                        "unpriced). The same function as otel-margin pnl --target-margin and GET "
                        "/v1/pnl/target-margin. Every customer of that month, whatever the Customer variable."),
    ]  # fmt: skip
    variables = [
        query_variable("customer", "Customer", f"SELECT key FROM pnl({PNL_RANGE}, 'customer') ORDER BY 1",
                       multi=True, description="Customers with usage or revenue in the range."),
        text_variable("target_margin", "Target margin %", DEFAULT_TARGET_MARGIN,
                      description="The margin to price for, in percent (above -100, below 100)."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Customer P&L",
        "otel-margin: per-customer profit and loss for the range.",
        panels,
        variables=variables,
    )
