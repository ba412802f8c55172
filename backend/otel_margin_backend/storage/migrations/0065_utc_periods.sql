-- Period boundaries in UTC whatever the session's TimeZone (issue 11.6).
--
-- Adding '1 month' or '1 day' to a timestamptz counts months and days in the session's time zone: on a server set
-- to America/New_York, November 1 00:00 UTC + 1 month is December 1 01:00 UTC (the clocks went back), so a whole
-- month was prorated (720 of 721 hours) and the signal views' "same weekday last week" missed across a DST change.
-- Every boundary below is computed on the UTC wall clock: ((t AT TIME ZONE 'UTC') + interval) AT TIME ZONE 'UTC'
-- for months, and fixed hours for days (a UTC day is always 24 hours). The functions keep their signatures and
-- bodies otherwise; 0030 and 0031 stay as shipped.

-- The UTC month after p_month (p_month + 1 month on the UTC calendar).
CREATE FUNCTION utc_month_after(p_month timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((p_month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
$$;

CREATE OR REPLACE FUNCTION pnl_month_share(p_month timestamptz, p_from timestamptz, p_to timestamptz) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN hi <= lo THEN 0::numeric
                ELSE extract(epoch FROM hi - lo) / extract(epoch FROM utc_month_after(p_month) - p_month) END
    FROM (SELECT greatest(p_month, p_from) AS lo,
                 least(utc_month_after(p_month), p_to) AS hi) b
$$;

CREATE OR REPLACE FUNCTION pnl_revenue(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (customer_id text, revenue numeric, unconverted text[])
LANGUAGE sql STABLE AS $$
    SELECT r.customer_id,
           coalesce(sum(r.net_reporting * pnl_month_share(r.month, p_from, p_to)) FILTER (WHERE r.converted), 0),
           coalesce(array_agg(DISTINCT r.currency) FILTER (WHERE NOT r.converted), '{}')
    FROM revenue_monthly_reporting r
    WHERE r.month < p_to AND utc_month_after(r.month) > p_from
    GROUP BY r.customer_id
$$;

CREATE OR REPLACE FUNCTION usage_rollup_range(p_from timestamptz, p_to timestamptz)
RETURNS SETOF usage_hourly
LANGUAGE sql STABLE AS $$
    WITH days AS (
        SELECT CASE WHEN date_bin('1 day', p_from, o) = p_from THEN p_from
                    ELSE date_bin('1 day', p_from, o) + interval '24 hours' END AS first_day,
               date_bin('1 day', p_to, o) AS end_day
        FROM (SELECT timestamptz '2000-01-01 00:00:00+00' AS o) origin
    )
    SELECT d.* FROM usage_daily d, days WHERE d.day >= days.first_day AND d.day < days.end_day
    UNION ALL
    SELECT h.* FROM usage_hourly h, days
    WHERE h.bucket >= p_from AND h.bucket < p_to
      AND NOT (h.bucket >= days.first_day AND h.bucket < days.end_day)
$$;

CREATE OR REPLACE FUNCTION pnl_projection(p_as_of timestamptz DEFAULT now())
RETURNS TABLE (
    key text, month timestamptz, elapsed_pct numeric, cost_to_date numeric, projected_cost numeric,
    month_revenue numeric, projected_margin numeric, projected_margin_pct numeric
)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT date_trunc('month', p_as_of AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m
    ), b AS (
        SELECT m, greatest(pnl_month_share(m, m, p_as_of), 1e-9) AS share FROM bounds
    ), per AS (
        SELECT coalesce(u.key, r.key) AS key, coalesce(u.cost, 0) AS cost, r.revenue
        FROM b
        CROSS JOIN LATERAL (SELECT * FROM pnl_usage(b.m, p_as_of, 'customer')
                            UNION ALL SELECT * FROM pnl_usage(b.m, p_as_of, 'organization')) u
        FULL JOIN (SELECT x.customer_id AS key, x.revenue FROM b, pnl_revenue(b.m, utc_month_after(b.m)) x
                   UNION ALL
                   SELECT 'organization', sum(x.revenue) FROM b, pnl_revenue(b.m, utc_month_after(b.m)) x)
            r ON r.key = u.key
    )
    SELECT per.key, b.m, round(b.share * 100, 2), per.cost, round(per.cost / b.share, 10), per.revenue,
           round(per.revenue - per.cost / b.share, 10),
           CASE WHEN per.revenue > 0 THEN round((per.revenue - per.cost / b.share) / per.revenue * 100, 2) END
    FROM per CROSS JOIN b
$$;

-- The signal views: UTC days back from today's UTC midnight in whole hours.
CREATE OR REPLACE VIEW signal_cost_variance AS
WITH daily AS (
    SELECT date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, customer_id, sum(cost) AS cost
    FROM usage_hourly
    WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '504 hours'
    GROUP BY 1, 2
)
SELECT d.day, d.customer_id, d.cost, w.cost AS cost_week_before,
       CASE WHEN w.cost > 0 THEN (d.cost - w.cost) / w.cost * 100 END AS variance_pct,
       coalesce(abs(d.cost - w.cost) > 0.10 * w.cost, false) AS breached
FROM daily d
LEFT JOIN daily w ON w.customer_id = d.customer_id AND w.day = d.day - interval '168 hours'
WHERE d.day >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '336 hours';

CREATE OR REPLACE VIEW signal_feature_growth AS
WITH daily AS (
    SELECT date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, feature, sum(cost) AS cost
    FROM usage_hourly
    WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '360 hours'
    GROUP BY 1, 2
)
SELECT d.day, d.feature, d.cost, p.cost AS cost_day_before,
       CASE WHEN p.cost > 0 THEN (d.cost - p.cost) / p.cost * 100 END AS growth_pct,
       coalesce(d.cost > 1.05 * p.cost, false) AS breached
FROM daily d
LEFT JOIN daily p ON p.feature = d.feature AND p.day = d.day - interval '24 hours'
WHERE d.day >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '336 hours';

CREATE OR REPLACE VIEW signal_attribution AS
SELECT date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,
       sum(cost) AS cost,
       CASE WHEN sum(cost) > 0 THEN coalesce(sum(cost) FILTER (WHERE customer_id <> '(unattributed)'), 0)
                                    / sum(cost) * 100 END AS attributed_cost_pct,
       sum(calls) AS calls,
       CASE WHEN sum(calls) > 0 THEN sum(unpriced_calls)::numeric / sum(calls) * 100 END AS unpriced_calls_pct,
       CASE WHEN sum(calls) > 0 THEN sum(estimated_calls)::numeric / sum(calls) * 100 END AS estimated_calls_pct
FROM usage_hourly
WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '720 hours'
GROUP BY 1;
