"""Customer P&L: revenue, cost, margin and margin % per customer for the range, linked to Customer detail."""

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
)

UID = "otel-margin-customer-pnl"

CUSTOMERS, UNPROFITABLE, PNL_TABLE = 1, 2, 3


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
    ]  # fmt: skip
    variables = [
        query_variable("customer", "Customer", f"SELECT key FROM pnl({PNL_RANGE}, 'customer') ORDER BY 1",
                       multi=True, description="Customers with usage or revenue in the range."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Customer P&L",
        "otel-margin: per-customer profit and loss for the range.",
        panels,
        variables=variables,
    )
