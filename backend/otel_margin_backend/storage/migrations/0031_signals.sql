-- Operational signals for alerting (Grafana alert rules read these views; thresholds are documented in
-- analytics/README.md). Each view covers recent days only, so alert queries stay cheap.

-- Daily cost per customer (UTC days) with the same weekday of the previous week: variance > 10 % is a signal.
CREATE VIEW signal_cost_variance AS
WITH daily AS (
    SELECT date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, customer_id, sum(cost) AS cost
    FROM usage_hourly
    WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '21 days'
    GROUP BY 1, 2
)
SELECT d.day, d.customer_id, d.cost, w.cost AS cost_week_before,
       CASE WHEN w.cost > 0 THEN (d.cost - w.cost) / w.cost * 100 END AS variance_pct,
       coalesce(abs(d.cost - w.cost) > 0.10 * w.cost, false) AS breached
FROM daily d
LEFT JOIN daily w ON w.customer_id = d.customer_id AND w.day = d.day - interval '7 days'
WHERE d.day >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '14 days';

COMMENT ON VIEW signal_cost_variance IS
    'Daily cost per customer against the same weekday a week earlier; breached when the change exceeds 10 %.';

-- Day-over-day cost growth per feature: growth > 5 % is a signal.
CREATE VIEW signal_feature_growth AS
WITH daily AS (
    SELECT date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, feature, sum(cost) AS cost
    FROM usage_hourly
    WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '15 days'
    GROUP BY 1, 2
)
SELECT d.day, d.feature, d.cost, p.cost AS cost_day_before,
       CASE WHEN p.cost > 0 THEN (d.cost - p.cost) / p.cost * 100 END AS growth_pct,
       coalesce(d.cost > 1.05 * p.cost, false) AS breached
FROM daily d
LEFT JOIN daily p ON p.feature = d.feature AND p.day = d.day - interval '1 day'
WHERE d.day >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '14 days';

COMMENT ON VIEW signal_feature_growth IS 'Daily cost per feature against the day before; breached above +5 %.';

-- Attribution coverage and unpriced share per UTC day.
CREATE VIEW signal_attribution AS
SELECT date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,
       sum(cost) AS cost,
       CASE WHEN sum(cost) > 0 THEN coalesce(sum(cost) FILTER (WHERE customer_id <> '(unattributed)'), 0)
                                    / sum(cost) * 100 END AS attributed_cost_pct,
       sum(calls) AS calls,
       CASE WHEN sum(calls) > 0 THEN sum(unpriced_calls)::numeric / sum(calls) * 100 END AS unpriced_calls_pct,
       CASE WHEN sum(calls) > 0 THEN sum(estimated_calls)::numeric / sum(calls) * 100 END AS estimated_calls_pct
FROM usage_hourly
WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '30 days'
GROUP BY 1;

COMMENT ON VIEW signal_attribution IS 'Share of cost with a customer, and of calls unpriced or estimated, per day.';

-- Ingestion: when the newest model call arrived and how many arrived in the last hour. "Stalled" means calls
-- arrived in the previous 24 hours but none in the last 15 minutes.
CREATE VIEW signal_ingestion AS
SELECT last_event,
       extract(epoch FROM now() - last_event) / 60 AS minutes_since_last_event,
       (SELECT coalesce(sum(calls), 0) FROM usage_hourly WHERE bucket >= now() - interval '1 hour') AS calls_last_hour,
       (last_event IS NOT NULL AND last_event < now() - interval '15 minutes'
        AND last_event > now() - interval '24 hours') AS stalled
FROM (SELECT max(time) AS last_event FROM usage_events WHERE time > now() - interval '7 days') e;

COMMENT ON VIEW signal_ingestion IS 'Newest model call and whether ingestion stalled (none for 15 min after activity).';
