"""Data quality & pipeline: what the P&L cannot attribute or price, ingestion, price sync, Stripe, unmapped revenue."""

from __future__ import annotations

from otel_margin_dashboards.panels import (
    GREEN,
    ORANGE,
    PNL_RANGE,
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

UID = "otel-margin-data-quality"

UNATTRIBUTED, UNPRICED, ESTIMATED, MISSING_USAGE = 1, 2, 3, 4
COVERAGE, INGEST_RATE = 5, 6
LAG, CALLS_LAST_HOUR, STALLED, PRICE_VERSION, LAST_PRICE_SYNC, PRICE_SYNC_FAILURES = 7, 8, 9, 10, 11, 12
PRICE_SYNC_HISTORY, STRIPE_FAILURES, UNMAPPED_REVENUE = 13, 14, 15
PRICE_SYNC_SUCCESS, INGEST_LATENCY = 16, 17

PRICE_SYNC_SUCCESS_ALERT_PCT = 99.9
"""Price-sync success over 7 days below this alerts (rules.yaml, otel-margin-price-sync-success)."""

ATTRIBUTION_ALERT_PCT = 90
"""Attribution coverage below this share of cost alerts (rules.yaml, otel-margin-attribution-coverage)."""


def build() -> dict[str, object]:
    grid = Grid()
    quality = f"FROM pnl_data_quality({PNL_RANGE})"
    ingestion = "FROM signal_ingestion"
    panels = [
        stat_panel(grid, UNATTRIBUTED, "Unattributed cost", f'SELECT unattributed_cost_pct AS "Unattributed" {quality}',
                   unit="percent", decimals=2, thresholds=steps((None, GREEN), (5, YELLOW), (10, RED)),
                   description="Share of the range's cost on calls without a customer ((unattributed))."),
        stat_panel(grid, UNPRICED, "Unpriced calls", f'SELECT unpriced_calls_pct AS "Unpriced" {quality}',
                   unit="percent", decimals=2, thresholds=steps((None, GREEN), (1, YELLOW), (5, RED)),
                   description="Share of calls whose model has no price (never counted as $0: add an override)."),
        stat_panel(grid, ESTIMATED, "Calls with estimated tokens",
                   f'SELECT estimated_calls AS "Estimated" {quality}', unit="none",
                   thresholds=steps((None, GREEN), (1, YELLOW)),
                   description="Calls whose token counts were estimated because the span carried none."),
        stat_panel(grid, MISSING_USAGE, "Calls without usage",
                   f'SELECT missing_usage_calls AS "Missing usage" {quality}', unit="none",
                   thresholds=steps((None, GREEN), (1, ORANGE)),
                   description="Calls with no token counts and no estimate (strict token counts): cost unknown."),
        timeseries_panel(grid, COVERAGE, "Attribution and pricing by day", """
            SELECT day AS time, attributed_cost_pct, unpriced_calls_pct, estimated_calls_pct
            FROM signal_attribution
            WHERE $__timeFilter(day)
            ORDER BY 1
            """, unit="percent", min_interval="1d",
            description=f"Per UTC day (last 30 days): share of cost with a customer (alert below "
                        f"{ATTRIBUTION_ALERT_PCT} %), and of calls unpriced or with estimated tokens."),
        timeseries_panel(grid, INGEST_RATE, "Ingest rate", """
            SELECT $__timeGroupAlias(bucket, $__interval), sum(calls) AS calls,
                   sum(unpriced_calls) AS unpriced_calls
            FROM usage_hourly
            WHERE $__timeFilter(bucket)
            GROUP BY 1
            ORDER BY 1
            """, unit="short", bars=True,
            description="Model calls stored per interval (by call time), and those left unpriced."),
        stat_panel(grid, LAG, "Minutes since the last call",
                   f'SELECT minutes_since_last_event AS "Minutes" {ingestion}', unit="m", decimals=1, w=4,
                   thresholds=steps((None, GREEN), (15, RED)),
                   description="How long ago the newest stored model call happened (empty: none in 7 days)."),
        stat_panel(grid, CALLS_LAST_HOUR, "Calls in the last hour",
                   f'SELECT calls_last_hour AS "Calls" {ingestion}', unit="short", w=4,
                   description="Model calls stored for the last hour."),
        stat_panel(grid, STALLED, "Ingestion", f'SELECT CASE WHEN stalled THEN 1 ELSE 0 END AS "Stalled" {ingestion}',
                   unit="none", w=4, thresholds=steps((None, GREEN), (1, RED)),
                   mappings={"0": ("flowing", GREEN), "1": ("stalled", RED)},
                   description="Stalled: calls arrived in the previous 24 hours but none in the last 15 minutes."),
        stat_panel(grid, PRICE_VERSION, "Active price data",
                   'SELECT active_version AS "Version" FROM price_sync_status', unit="none", w=4,
                   description="The price-data version every process prices with."),
        stat_panel(grid, LAST_PRICE_SYNC, "Last successful price sync",
                   'SELECT last_success_at AS "Last success" FROM price_sync_status', unit="dateTimeFromNow", w=4,
                   description="When the price data was last fetched successfully."),
        stat_panel(grid, PRICE_SYNC_FAILURES, "Price-sync failures (24 h)",
                   'SELECT count(*) AS "Failures" FROM price_sync_failures_24h', unit="none", w=4,
                   thresholds=steps((None, GREEN), (1, RED)),
                   description="Failed price-data sync attempts in the last 24 hours."),
        table_panel(grid, PRICE_SYNC_HISTORY, "Price-sync history", """
            SELECT attempted_at, source, trigger, outcome, price_version, new_version, model_count, duration_ms,
                   error
            FROM price_sync_attempts
            WHERE $__timeFilter(attempted_at)
            ORDER BY attempted_at DESC, attempt_id DESC
            """, w=12, h=10, overrides=Overrides().states("outcome", {"ok": GREEN, "failed": RED}),
            description="Every price-data sync attempt in the range, with its outcome and error."),
        table_panel(grid, STRIPE_FAILURES, "Stripe webhook failures", """
            SELECT received_at, reason, http_status, message, event_id, event_type
            FROM stripe_webhook_failures
            WHERE $__timeFilter(received_at)
            ORDER BY received_at DESC, id DESC
            """, w=12, h=10,
            description="Stripe webhook requests that were not processed (bad signature, bad payload, database "
                        "unavailable, ...): Stripe retries them; a lasting failure loses revenue."),
        table_panel(grid, UNMAPPED_REVENUE, "Unmapped Stripe revenue", """
            SELECT stripe_customer_id, name, email, metadata_known, currency, net, documents, first_month,
                   last_month
            FROM stripe_customers_unmapped
            ORDER BY net DESC, stripe_customer_id
            """, h=9,
            overrides=Overrides().add("first_month", unit="time:YYYY-MM").add("last_month", unit="time:YYYY-MM"),
            description="Stripe customers whose revenue maps to no otel-margin customer (shown as (unmapped) in "
                        "the P&L): map them with `otel-margin customers map`."),
        stat_panel(grid, PRICE_SYNC_SUCCESS, "Price-sync success (7 days)",
                   'SELECT success_pct AS "Success" FROM price_sync_success_7d', unit="percent", decimals=3, w=12,
                   thresholds=steps((None, RED), (PRICE_SYNC_SUCCESS_ALERT_PCT, GREEN)),
                   description=f"Share of the price-sync attempts of the last 7 days that succeeded (every attempt "
                               f"is recorded, a failure too); alerts below {PRICE_SYNC_SUCCESS_ALERT_PCT} %. Empty: "
                               "no attempt in 7 days."),
        stat_panel(grid, INGEST_LATENCY, "Ingest latency, median (24 h)",
                   "SELECT median_s AS \"Median\" FROM ingest_latency_summary(now() - interval '24 hours')",
                   unit="s", decimals=3, w=12, thresholds=steps((None, GREEN), (1, RED)),
                   description="Median receive -> stored latency of the events stored in the last 24 hours, as "
                               "serve measured it (ingest_latency, one row a minute); the acceptance checklist asks "
                               "for under 1 s."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        "Data quality & pipeline",
        "otel-margin: how much of the P&L is attributed and priced, ingestion health, price sync and Stripe.",
        panels,
        time_from="now-7d",
    )
