-- Profit and loss: the single source of truth that Grafana, `otel-margin pnl` and GET /v1/pnl read.
--
-- Cost comes from the rollups (usage_rollup_range: whole UTC days from usage_daily, the hours at the edges from
-- usage_hourly; a range is taken as [from, to) and should be hour-aligned).
-- Revenue comes from revenue_monthly_reporting (recognized per UTC month, in the reporting currency); a range
-- that covers part of a month gets that share of the month's revenue, prorated by time (exact, unrounded).
-- Cost is priced in USD; for another reporting currency it is converted with the USD rate in force for the
-- month (fx_rates). Revenue or cost without a rate is left out of the sums and named in `unconverted`.
--
-- Margin = revenue - cost; margin % = margin / revenue * 100, rounded to 2 decimals (NULL when revenue is 0).
-- Money is never rounded here.

-- The fraction of [month, month + 1 month) that [p_from, p_to) covers.
CREATE FUNCTION pnl_month_share(p_month timestamptz, p_from timestamptz, p_to timestamptz) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN hi <= lo THEN 0::numeric
                ELSE extract(epoch FROM hi - lo) / extract(epoch FROM (p_month + interval '1 month') - p_month) END
    FROM (SELECT greatest(p_month, p_from) AS lo,
                 least(p_month + interval '1 month', p_to) AS hi) b
$$;

-- Net revenue (after refunds, credit notes, lost disputes) per customer for a range, in the reporting currency.
CREATE FUNCTION pnl_revenue(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (customer_id text, revenue numeric, unconverted text[])
LANGUAGE sql STABLE AS $$
    SELECT r.customer_id,
           coalesce(sum(r.net_reporting * pnl_month_share(r.month, p_from, p_to)) FILTER (WHERE r.converted), 0),
           coalesce(array_agg(DISTINCT r.currency) FILTER (WHERE NOT r.converted), '{}')
    FROM revenue_monthly_reporting r
    WHERE r.month < p_to AND r.month + interval '1 month' > p_from
    GROUP BY r.customer_id
$$;

-- Rollup rows covering [p_from, p_to): usage_daily for the whole UTC days inside it, usage_hourly for the hours
-- at either edge. Every call in the range is counted exactly once.
CREATE FUNCTION usage_rollup_range(p_from timestamptz, p_to timestamptz)
RETURNS SETOF usage_hourly
LANGUAGE sql STABLE AS $$
    WITH days AS (
        SELECT CASE WHEN date_bin('1 day', p_from, o) = p_from THEN p_from
                    ELSE date_bin('1 day', p_from, o) + interval '1 day' END AS first_day,
               date_bin('1 day', p_to, o) AS end_day
        FROM (SELECT timestamptz '2000-01-01 00:00:00+00' AS o) origin
    )
    SELECT d.* FROM usage_daily d, days WHERE d.day >= days.first_day AND d.day < days.end_day
    UNION ALL
    SELECT h.* FROM usage_hourly h, days
    WHERE h.bucket >= p_from AND h.bucket < p_to
      AND NOT (h.bucket >= days.first_day AND h.bucket < days.end_day)
$$;

-- Usage and cost for a range, grouped by one dimension: customer, feature, model, provider or organization.
-- Rows are summed per UTC month first and converted once per month (not per row): the rate in force for a
-- month applies to all of its cost.
CREATE FUNCTION pnl_usage(p_from timestamptz, p_to timestamptz, p_by text)
RETURNS TABLE (
    key text, cost numeric, calls bigint, input_tokens bigint, cache_read_tokens bigint, output_tokens bigint,
    reasoning_tokens bigint, unpriced_calls bigint, estimated_calls bigint, cost_unconverted numeric
)
LANGUAGE sql STABLE AS $$
    WITH monthly AS (
        SELECT CASE p_by WHEN 'customer' THEN h.customer_id
                         WHEN 'feature' THEN h.feature
                         WHEN 'model' THEN h.model
                         WHEN 'provider' THEN h.provider
                         ELSE 'organization' END AS key,
               date_trunc('month', h.bucket AT TIME ZONE 'UTC')::date AS month,
               sum(h.cost) AS cost, sum(h.calls) AS calls, sum(h.input_tokens) AS input_tokens,
               sum(h.cache_read_tokens) AS cache_read_tokens, sum(h.output_tokens) AS output_tokens,
               sum(h.reasoning_tokens) AS reasoning_tokens, sum(h.unpriced_calls) AS unpriced_calls,
               sum(h.estimated_calls) AS estimated_calls
        FROM usage_rollup_range(p_from, p_to) h
        GROUP BY 1, 2
    ), rated AS (
        SELECT m.*, fx_rate_in_force(r.currency, 'USD', m.month) AS rate
        FROM monthly m CROSS JOIN revenue_reporting r
    )
    SELECT key, coalesce(sum(cost * rate), 0), sum(calls)::bigint, sum(input_tokens)::bigint,
           sum(cache_read_tokens)::bigint, sum(output_tokens)::bigint, sum(reasoning_tokens)::bigint,
           sum(unpriced_calls)::bigint, sum(estimated_calls)::bigint,
           coalesce(sum(cost) FILTER (WHERE rate IS NULL), 0)
    FROM rated
    GROUP BY key
$$;

-- The P&L for a range by customer, feature, model, provider or organization. Revenue is known per customer only:
-- by feature, model or provider, revenue and margin are NULL and cost_share says what part of the cost it is.
CREATE FUNCTION pnl(p_from timestamptz, p_to timestamptz, p_by text DEFAULT 'customer')
RETURNS TABLE (
    key text, revenue numeric, cost numeric, margin numeric, margin_pct numeric, unprofitable boolean,
    cost_share_pct numeric, calls bigint, input_tokens bigint, cache_read_tokens bigint, output_tokens bigint,
    reasoning_tokens bigint, unpriced_calls bigint, estimated_calls bigint, reporting_currency text,
    unconverted text[]
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    currency text := (SELECT r.currency FROM revenue_reporting r);
BEGIN
    IF p_by NOT IN ('customer', 'feature', 'model', 'provider', 'organization') THEN
        RAISE EXCEPTION 'pnl: cannot group by %; use customer, feature, model, provider or organization', p_by
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH usage AS (
        SELECT * FROM pnl_usage(p_from, p_to, p_by)
    ), revenue AS (
        SELECT CASE WHEN p_by = 'customer' THEN r.customer_id ELSE 'organization' END AS key,
               sum(r.revenue) AS revenue, array_agg(DISTINCT c) FILTER (WHERE c IS NOT NULL) AS unconverted
        FROM pnl_revenue(p_from, p_to) r LEFT JOIN LATERAL unnest(r.unconverted) c ON true
        WHERE p_by IN ('customer', 'organization')
        GROUP BY 1
    )
    SELECT k.key,
           rv.revenue,
           coalesce(u.cost, 0),
           rv.revenue - coalesce(u.cost, 0),
           CASE WHEN rv.revenue > 0 THEN round((rv.revenue - coalesce(u.cost, 0)) / rv.revenue * 100, 2) END,
           coalesce(rv.revenue - coalesce(u.cost, 0) < 0, false),
           -- The groups partition the range's calls, so their costs add up to the total.
           CASE WHEN sum(u.cost) OVER () > 0 THEN round(coalesce(u.cost, 0) / sum(u.cost) OVER () * 100, 2) END,
           coalesce(u.calls, 0), coalesce(u.input_tokens, 0), coalesce(u.cache_read_tokens, 0),
           coalesce(u.output_tokens, 0), coalesce(u.reasoning_tokens, 0), coalesce(u.unpriced_calls, 0),
           coalesce(u.estimated_calls, 0), currency,
           coalesce(rv.unconverted, '{}') || CASE WHEN coalesce(u.cost_unconverted, 0) > 0
                                                  THEN ARRAY['USD'] ELSE '{}' END
    FROM (SELECT u2.key FROM usage u2 UNION SELECT r2.key FROM revenue r2) k
    LEFT JOIN usage u ON u.key = k.key
    LEFT JOIN revenue rv ON rv.key = k.key
    ORDER BY rv.revenue - coalesce(u.cost, 0) NULLS LAST, coalesce(u.cost, 0) DESC, k.key;
END
$$;

-- Month-to-date and projected end-of-month figures per customer (and 'organization'), as of p_as_of:
-- projected cost = cost so far / elapsed share of the month; projected margin = the month's revenue (recognized
-- for the whole month, as booked so far) - projected cost.
CREATE FUNCTION pnl_projection(p_as_of timestamptz DEFAULT now())
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
        FULL JOIN (SELECT x.customer_id AS key, x.revenue FROM b, pnl_revenue(b.m, b.m + interval '1 month') x
                   UNION ALL
                   SELECT 'organization', sum(x.revenue) FROM b, pnl_revenue(b.m, b.m + interval '1 month') x)
            r ON r.key = u.key
    )
    SELECT per.key, b.m, round(b.share * 100, 2), per.cost, round(per.cost / b.share, 10), per.revenue,
           round(per.revenue - per.cost / b.share, 10),
           CASE WHEN per.revenue > 0 THEN round((per.revenue - per.cost / b.share) / per.revenue * 100, 2) END
    FROM per CROSS JOIN b
$$;

-- How much of the range's cost and calls the P&L cannot attribute or price.
CREATE FUNCTION pnl_data_quality(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    cost numeric, unattributed_cost numeric, unattributed_cost_pct numeric, calls bigint, unpriced_calls bigint,
    unpriced_calls_pct numeric, estimated_calls bigint, missing_usage_calls bigint
)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(cost), 0),
           coalesce(sum(cost) FILTER (WHERE customer_id = '(unattributed)'), 0),
           CASE WHEN sum(cost) > 0 THEN coalesce(sum(cost) FILTER (WHERE customer_id = '(unattributed)'), 0)
                                        / sum(cost) * 100 END,
           coalesce(sum(calls), 0)::bigint,
           coalesce(sum(unpriced_calls), 0)::bigint,
           CASE WHEN sum(calls) > 0 THEN sum(unpriced_calls)::numeric / sum(calls) * 100 END,
           coalesce(sum(estimated_calls), 0)::bigint,
           coalesce(sum(missing_usage_calls), 0)::bigint
    FROM usage_rollup_range(p_from, p_to)
$$;
