-- The acceptance checklist (`otel-margin doctor --acceptance`, docs/acceptance.md): one named view per item that
-- stored state can answer, so the CLI, Grafana and anyone with psql read the same figures.

-- Entry points: a (service, feature) pair of the last 30 days, with its model calls then and in the last 24 hours.
-- `service` is the span's resource service.name (NULL when the app set none: shown as '(no service)'); `feature` is
-- feature.name, else the root span's name (normalize/README.md), so every instrumented route or job is one row.
-- A pair seen in 30 days with no call in 24 hours is an entry point whose instrumentation went quiet.
CREATE VIEW acceptance_entry_points AS
SELECT coalesce(service, '(no service)') AS service,
       feature,
       count(*) AS calls_30d,
       count(*) FILTER (WHERE time > now() - interval '24 hours') AS calls_24h,
       max(time) AS last_call_at
FROM usage_events
WHERE time > now() - interval '30 days'
GROUP BY 1, 2;

COMMENT ON VIEW acceptance_entry_points IS
    'Per service and feature of the last 30 days: model calls in 30 days and in the last 24 hours, last call.';

-- Stripe invoices booked as revenue (their own entries: source_id is the invoice), with the otel-margin customer
-- they resolve to (NULL: unmapped, see stripe_customers_unmapped). A voided invoice's entries are gone, so it is
-- not counted.
CREATE VIEW stripe_invoices_booked AS
SELECT e.invoice_id,
       e.stripe_customer_id,
       e.customer_id,
       e.currency,
       sum(e.amount_minor) FILTER (WHERE e.kind <> 'tax') AS net_minor,
       minor_to_major(coalesce(sum(e.amount_minor) FILTER (WHERE e.kind <> 'tax'), 0), e.currency) AS net,
       min(e.occurred_at) AS occurred_at,
       max(e.booked_at) AS booked_at
FROM revenue_entries_attributed e
WHERE e.source = 'stripe' AND e.invoice_id IS NOT NULL AND e.source_id = e.invoice_id
GROUP BY e.invoice_id, e.stripe_customer_id, e.customer_id, e.currency;

COMMENT ON VIEW stripe_invoices_booked IS
    'Stripe invoices booked as revenue, with the otel-margin customer each resolves to (NULL when unmapped).';

-- Every budget alert's webhook notifications with their delivery state (budget_notifications is the outbox).
CREATE VIEW budget_alert_deliveries AS
SELECT a.id AS alert_id, a.budget, a.scope_label, a.severity, a.threshold_percent, a.currency,
       a.crossed_at, a.spend_at_crossing, a.limit_at_crossing,
       n.id AS notification_id, n.event, n.state, n.attempts, n.last_error, n.created_at, n.delivered_at
FROM budget_alerts a
JOIN budget_notifications n ON n.alert_id = a.id;

COMMENT ON VIEW budget_alert_deliveries IS
    'Budget alerts with each webhook notification (crossed, resolved) and its delivery state.';

-- Price-sync success over the last 7 days, from price_sync_attempts (every attempt, ok or failed). success_pct is
-- truncated, never rounded up, so it is below 99.9 exactly when the rate is; NULL without attempts.
CREATE VIEW price_sync_success_7d AS
SELECT count(*) AS attempts,
       count(*) FILTER (WHERE outcome = 'ok') AS succeeded,
       count(*) FILTER (WHERE outcome = 'failed') AS failed,
       CASE WHEN count(*) > 0
            THEN trunc(100 * count(*) FILTER (WHERE outcome = 'ok')::numeric / count(*), 3) END AS success_pct,
       min(attempted_at) AS first_attempt_at,
       max(attempted_at) FILTER (WHERE outcome = 'failed') AS last_failure_at,
       (SELECT f.error FROM price_sync_attempts f
        WHERE f.outcome = 'failed' AND f.attempted_at > now() - interval '7 days'
        ORDER BY f.attempted_at DESC, f.attempt_id DESC LIMIT 1) AS last_error
FROM price_sync_attempts
WHERE attempted_at > now() - interval '7 days';

COMMENT ON VIEW price_sync_success_7d IS
    'Price-sync attempts in the last 7 days, how many succeeded, and the success rate in percent (truncated).';
