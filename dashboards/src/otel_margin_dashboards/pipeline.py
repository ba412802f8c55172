"""otel-margin pipeline: the backend's own metrics (``/metrics``, scraped by Prometheus), not its SQL.

Spans in, stored, rejected and ignored per receiver; the rejected share; oversize requests; batch sizes and flush
latency; pending events (backpressure); database errors and retries; the price sync's age; the budget webhook's
outbox and failures; the budget evaluation's lag; Stripe events by outcome. Every query is PromQL for the
Prometheus datasource (uid ``otel-margin-prometheus``) and names only metrics the backend exports (a test reads
the names from a live scrape).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from otel_margin_dashboards.panels import GREEN, NEUTRAL, ORANGE, RED, Grid, build_dashboard, steps

UID = "otel-margin-pipeline"
TITLE = "otel-margin pipeline"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="otel-margin-prometheus")
"""The provisioned Prometheus datasource (dashboards/provisioning/datasources/prometheus.yaml)."""
RATE = "$__rate_interval"

(SPANS, REJECTED_SHARE, REJECTED, IGNORED, OVERSIZE, BATCH_SIZE, FLUSH, PENDING, DB_ERRORS, PRICE_SYNC_AGE,
 PRICE_SYNC_FAILURES, OUTBOX, WEBHOOK_FAILURES, BUDGET_LAG, STRIPE) = range(1, 16)  # fmt: skip

REJECTED_SHARE_EXPR = (
    "sum(rate(otel_margin_spans_rejected_total[5m])) / sum(rate(otel_margin_spans_received_total[5m]))"
)
"""The share of received spans rejected (0 to 1); the alert rule otel-margin-rejected-share uses it too."""


def query(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    """A range query of the Prometheus datasource."""
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).range().datasource(PROMETHEUS)


def series(
    grid: Grid,
    panel_id: int,
    title: str,
    queries: list[prometheus.Dataquery],
    *,
    description: str,
    unit: str,
    w: int = 12,
    h: int = 8,
) -> timeseries.Panel:
    """A time series panel of PromQL queries."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .grid_pos(grid.pos(w, h))
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    for q in queries:
        panel = panel.with_target(q)
    return panel


def single(
    grid: Grid,
    panel_id: int,
    title: str,
    expr: str,
    *,
    description: str,
    unit: str,
    thresholds: dashboard_builders.ThresholdsConfig = NEUTRAL,
) -> stat.Panel:
    """A stat of one PromQL value (the last one in the range)."""
    return (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .with_target(query(expr, title))
        .grid_pos(grid.pos(6, 4))
        .unit(unit)
        .thresholds(thresholds)
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def build() -> dict[str, object]:
    grid = Grid()
    by_receiver = "sum by (receiver) (rate(otel_margin_spans_{}_total[" + RATE + "]))"
    panels = [
        series(grid, SPANS, "Spans per second, by receiver", [
            query(by_receiver.format("received"), "received {{receiver}}", "A"),
            query(by_receiver.format("accepted"), "stored {{receiver}}", "B"),
            query(by_receiver.format("rejected"), "rejected {{receiver}}", "C"),
        ], unit="ops", description="Spans (REST: items) received, stored as usage events, and rejected."),
        series(grid, REJECTED_SHARE, "Rejected share", [query(REJECTED_SHARE_EXPR, "rejected")],
               unit="percentunit", description="Rejected spans over received spans, over 5 minutes. The alert "
               "fires above 1 %."),
        series(grid, REJECTED, "Rejected spans, by reason", [
            query(f"sum by (reason) (rate(otel_margin_spans_rejected_total[{RATE}]))", "{{reason}}"),
        ], unit="ops", description="invalid: over a limit or refused by the database (partial success); otherwise "
           "the code the whole request got (unavailable, invalid_argument, unauthenticated …)."),
        series(grid, IGNORED, "Ignored spans, by reason", [
            query(f"sum by (reason) (rate(otel_margin_spans_ignored_total[{RATE}]))", "{{reason}}"),
        ], unit="ops", description="Spans not priced: not GenAI, not a model call, or another span of the same call."),
        series(grid, OVERSIZE, "Oversize requests", [
            query(f"sum by (receiver) (increase(otel_margin_requests_oversize_total[{RATE}]))", "{{receiver}}"),
        ], unit="short", description="Requests refused for their size (docs/limits.md): a Collector drops such a "
           "batch, so lower its send_batch_max_size or raise the limit."),
        series(grid, BATCH_SIZE, "Events per database write", [
            query(f"histogram_quantile(0.5, sum by (le) (rate(otel_margin_ingest_batch_size_bucket[{RATE}])))",
                  "p50", "A"),
            query(f"histogram_quantile(0.99, sum by (le) (rate(otel_margin_ingest_batch_size_bucket[{RATE}])))",
                  "p99", "B"),
        ], unit="short", description="Batch sizes the batcher writes (large under load, small when idle)."),
        series(grid, FLUSH, "Flush latency", [
            query("histogram_quantile(0.5, sum by (le) "
                  f"(rate(otel_margin_ingest_flush_duration_seconds_bucket[{RATE}])))", "p50", "A"),
            query("histogram_quantile(0.99, sum by (le) "
                  f"(rate(otel_margin_ingest_flush_duration_seconds_bucket[{RATE}])))", "p99", "B"),
        ], unit="s", description="Time to make one batch durable (COPY, rollups, commit)."),
        series(grid, PENDING, "Pending events (backpressure)", [
            query("sum(otel_margin_ingest_pending_events)", "pending"),
        ], unit="short", description="Events waiting to be written. Past OTEL_MARGIN_MAX_PENDING_EVENTS clients are "
           "told to retry (UNAVAILABLE / 503)."),
        series(grid, DB_ERRORS, "Database errors and retries", [
            query(f"sum by (kind) (rate(otel_margin_db_errors_total[{RATE}]))", "{{kind}}", "A"),
            query(f"sum(rate(otel_margin_db_retries_total[{RATE}]))", "retries", "B"),
        ], unit="ops", description="Failed writes by kind (refused for data, lock conflict, unavailable) and "
           "retries after a conflict."),
        single(grid, PRICE_SYNC_AGE, "Price data age", "max(otel_margin_price_sync_age_seconds)", unit="s",
               thresholds=steps((None, GREEN), (129_600, ORANGE), (259_200, RED)),
               description="Seconds since the last successful price sync of this backend (daily by default)."),
        single(grid, PRICE_SYNC_FAILURES, "Price sync failures (24 h)",
               "sum(increase(otel_margin_price_sync_failures_total[1d]))", unit="short",
               thresholds=steps((None, GREEN), (1, RED)), description="Failed price syncs in the last day."),
        single(grid, OUTBOX, "Budget webhook outbox", "max(otel_margin_budget_webhook_outbox_depth)",
               unit="short", thresholds=steps((None, GREEN), (10, ORANGE), (100, RED)),
               description="Budget notifications not yet delivered to the webhook."),
        single(grid, BUDGET_LAG, "Budget evaluation lag", "max(otel_margin_budget_evaluation_lag_seconds)",
               unit="s", thresholds=steps((None, GREEN), (300, ORANGE), (900, RED)),
               description="Seconds since budgets were last evaluated to completion."),
        series(grid, WEBHOOK_FAILURES, "Budget webhook failures", [
            query(f"sum by (outcome) (increase(otel_margin_budget_webhook_failures_total[{RATE}]))", "{{outcome}}"),
        ], unit="short", description="Failed delivery attempts: retry (network, 5xx, 429) or rejected (other 4xx)."),
        series(grid, STRIPE, "Stripe events, by outcome", [
            query(f"sum by (outcome) (increase(otel_margin_stripe_events_total[{RATE}]))", "{{outcome}}"),
        ], unit="short", description="Stripe webhook events: booked, reversed, duplicate … or why they were "
           "refused (bad_signature, bad_payload, unavailable)."),
    ]  # fmt: skip
    return build_dashboard(
        UID,
        TITLE,
        "The backend's own metrics: ingest, backpressure, database, price sync, webhooks, Stripe.",
        panels,
        time_from="now-6h",
    )
