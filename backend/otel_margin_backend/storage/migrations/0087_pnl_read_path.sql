-- The P&L's read path with fewer layers and per-row work (issue 17.4; figures and EXPLAIN in docs/benchmarks.md).
-- With usage_monthly (0086) a month's cost is a few hundred rows; what was left was revenue: pnl_revenue() read
-- revenue_monthly_reporting, a function scan planned at every call (its argument is a subquery, so it cannot be
-- inlined) that converted every column of every row, each converted row's currency then aggregated DISTINCT twice.
-- The results are the same to the last digit: the same sums of the same exact products.

-- What the P&L and budgets read: usage_rollup_parts() (0086: months, days, edge hours), or, with the session
-- setting otel_margin.cost_basis = 'billed', usage_rollup_range() (0092: day-granular, each day x provider x model
-- scaled to the bill, which monthly rows cannot be). The setting is checked once per query, not per row.
CREATE FUNCTION usage_rollup_read(p_from timestamptz, p_to timestamptz)
RETURNS SETOF usage_hourly
LANGUAGE sql STABLE AS $$
    SELECT * FROM usage_rollup_parts(p_from, p_to)
    WHERE coalesce(current_setting('otel_margin.cost_basis', true), '') <> 'billed'
    UNION ALL
    SELECT * FROM usage_rollup_range(p_from, p_to)
    WHERE current_setting('otel_margin.cost_basis', true) = 'billed'
$$;

-- Net revenue (after refunds, credit notes, lost disputes) per customer for a range, in the reporting currency:
-- net per customer, UTC month and currency as revenue_monthly computes it; the rate in force and the range's share
-- of the month looked up once per month and currency, not per row.
CREATE OR REPLACE FUNCTION pnl_revenue(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (customer_id text, revenue numeric, unconverted text[])
LANGUAGE sql STABLE AS $$
    WITH monthly AS (
        SELECT coalesce(e.customer_id, '(unmapped)') AS customer_id, m.month, e.currency,
               minor_to_major(coalesce(sum(e.amount_minor) FILTER (WHERE e.kind <> 'tax'), 0), e.currency) AS net
        FROM revenue_entries_attributed e
        CROSS JOIN LATERAL (SELECT e.month::timestamp AT TIME ZONE 'UTC' AS month) m
        WHERE m.month < p_to AND utc_month_after(m.month) > p_from
        GROUP BY 1, 2, 3
    ), rates AS MATERIALIZED (  -- once per month (and currency), not per row of the join
        SELECT k.month, k.currency,
               fx_rate_in_force(r.currency, k.currency, (k.month AT TIME ZONE 'UTC')::date) AS rate,
               pnl_month_share(k.month, p_from, p_to) AS share
        FROM (SELECT DISTINCT month, currency FROM monthly) k CROSS JOIN revenue_reporting r
    ), per_currency AS (
        SELECT m.customer_id, m.currency, x.rate IS NOT NULL AS converted, sum(m.net * x.rate * x.share) AS revenue
        FROM monthly m JOIN rates x USING (month, currency)
        GROUP BY 1, 2, 3
    )
    SELECT customer_id, coalesce(sum(revenue) FILTER (WHERE converted), 0),
           coalesce(array_agg(currency ORDER BY currency) FILTER (WHERE NOT converted), '{}')
    FROM per_currency
    GROUP BY customer_id
$$;

-- Usage and cost for a range by one dimension, as in 0070, with the month's exchange rate looked up once per month
-- instead of once per group and month.
CREATE OR REPLACE FUNCTION pnl_usage(p_from timestamptz, p_to timestamptz, p_by text)
RETURNS TABLE (
    key text, cost numeric, calls bigint, input_tokens bigint, cache_read_tokens bigint, output_tokens bigint,
    reasoning_tokens bigint, unpriced_calls bigint, estimated_calls bigint, cost_unconverted numeric
)
LANGUAGE sql STABLE AS $$
    WITH monthly AS (
        SELECT CASE p_by WHEN 'customer' THEN h.customer_id
                         WHEN 'feature' THEN h.feature
                         WHEN 'model' THEN h.model
                         WHEN 'provider' THEN coalesce(nullif(h.provider, ''), '(unknown)')
                         ELSE 'organization' END AS key,
               date_trunc('month', h.bucket AT TIME ZONE 'UTC')::date AS month,
               sum(h.cost) AS cost, sum(h.calls) AS calls, sum(h.input_tokens) AS input_tokens,
               sum(h.cache_read_tokens) AS cache_read_tokens, sum(h.output_tokens) AS output_tokens,
               sum(h.reasoning_tokens) AS reasoning_tokens, sum(h.unpriced_calls) AS unpriced_calls,
               sum(h.estimated_calls) AS estimated_calls
        FROM usage_rollup_read(p_from, p_to) h
        GROUP BY 1, 2
    ), rates AS MATERIALIZED (  -- once per month (and currency), not per row of the join
        SELECT k.month, fx_rate_in_force(r.currency, 'USD', k.month) AS rate
        FROM (SELECT DISTINCT month FROM monthly) k CROSS JOIN revenue_reporting r
    ), rated AS (
        SELECT m.*, x.rate FROM monthly m JOIN rates x USING (month)
    )
    SELECT key, coalesce(sum(cost * rate), 0), sum(calls)::bigint, sum(input_tokens)::bigint,
           sum(cache_read_tokens)::bigint, sum(output_tokens)::bigint, sum(reasoning_tokens)::bigint,
           sum(unpriced_calls)::bigint, sum(estimated_calls)::bigint,
           coalesce(sum(cost) FILTER (WHERE rate IS NULL), 0)
    FROM rated
    GROUP BY key
$$;

-- pnl() as in 0070; only its revenue step changed (pnl_revenue's rows by customer as they are).
CREATE OR REPLACE FUNCTION pnl(p_from timestamptz, p_to timestamptz, p_by text DEFAULT 'customer')
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
        SELECT u0.*, u0.calls > 0 AND u0.unpriced_calls = u0.calls AS all_unpriced
        FROM pnl_usage(p_from, p_to, p_by) u0
    ), revenue AS (
        -- By customer, pnl_revenue's rows as they are (one per customer, its currencies already distinct).
        SELECT r.customer_id AS key, r.revenue, r.unconverted
        FROM pnl_revenue(p_from, p_to) r
        WHERE p_by = 'customer'
        UNION ALL
        SELECT 'organization', sum(r.revenue), array_agg(DISTINCT c) FILTER (WHERE c IS NOT NULL)
        FROM pnl_revenue(p_from, p_to) r LEFT JOIN LATERAL unnest(r.unconverted) c ON true
        WHERE p_by = 'organization'
        HAVING count(*) > 0
    ), joined AS (
        SELECT k.key AS group_key, rv.revenue AS group_revenue, rv.unconverted AS rv_unconverted, u.*,
               CASE WHEN coalesce(u.all_unpriced, false) THEN NULL ELSE coalesce(u.cost, 0) END AS shown_cost
        FROM (SELECT u2.key FROM usage u2 UNION SELECT r2.key FROM revenue r2) k
        LEFT JOIN usage u ON u.key = k.key
        LEFT JOIN revenue rv ON rv.key = k.key
    )
    SELECT j.group_key,
           j.group_revenue,
           j.shown_cost,
           j.group_revenue - j.shown_cost,
           CASE WHEN j.group_revenue > 0 THEN round((j.group_revenue - j.shown_cost) / j.group_revenue * 100, 2) END,
           coalesce(j.group_revenue - j.shown_cost < 0, false),
           -- The groups partition the range's calls, so their costs add up to the total.
           CASE WHEN sum(j.shown_cost) OVER () > 0 THEN round(j.shown_cost / sum(j.shown_cost) OVER () * 100, 2) END,
           coalesce(j.calls, 0), coalesce(j.input_tokens, 0), coalesce(j.cache_read_tokens, 0),
           coalesce(j.output_tokens, 0), coalesce(j.reasoning_tokens, 0), coalesce(j.unpriced_calls, 0),
           coalesce(j.estimated_calls, 0), currency,
           coalesce(j.rv_unconverted, '{}') || CASE WHEN coalesce(j.cost_unconverted, 0) > 0
                                                    THEN ARRAY['USD'] ELSE '{}' END
    FROM joined j
    ORDER BY j.group_revenue - coalesce(j.cost, 0) NULLS LAST, coalesce(j.cost, 0) DESC, j.group_key;
END
$$;

-- budget_measure() as in 0050, reading usage_rollup_read(): a month budget reads its month's monthly rows.
CREATE OR REPLACE FUNCTION budget_measure(b budgets, p_start timestamptz, p_end timestamptz,
                               OUT spend_usd numeric, OUT spend numeric, OUT unpriced_calls bigint,
                               OUT revenue numeric, OUT limit_amount numeric)
LANGUAGE sql STABLE AS $$
    SELECT u.spend_usd,
           u.spend_usd * x.rate,
           u.unpriced_calls,
           r.revenue,
           coalesce(b.limit_amount, trim_scale(greatest(r.share, 0)))
    FROM (
        SELECT coalesce(sum(h.cost), 0) AS spend_usd, coalesce(sum(h.unpriced_calls), 0)::bigint AS unpriced_calls
        FROM usage_rollup_read(p_start, p_end) h  -- months, days, edge hours (0086)
        WHERE (b.customer_id IS NULL OR h.customer_id = b.customer_id)
          AND (b.feature IS NULL OR h.feature = b.feature)
          AND (b.provider IS NULL OR h.provider = b.provider)
          AND (b.model IS NULL OR h.model = b.model)
    ) u
    CROSS JOIN (
        SELECT fx_rate_in_force(b.currency, 'USD', date_trunc('month', p_start AT TIME ZONE 'UTC')::date) AS rate
    ) x
    CROSS JOIN (
        SELECT CASE WHEN b.revenue_percent IS NOT NULL
                    THEN budget_revenue(b.customer_id, p_start, p_end, b.currency) END AS revenue,
               CASE WHEN b.revenue_percent IS NOT NULL
                    THEN budget_revenue(b.customer_id, p_start, p_end, b.currency, b.revenue_percent) END AS share
    ) r
$$;
