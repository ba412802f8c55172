-- Unpriced is visible (issue 11.5): a cost made only of unpriced calls is NULL, never 0. And the provider of a call
-- that named none (issue 11.7), at the end.
--
-- pnl(): a group with calls none of which could be priced has cost NULL, and so margin, margin % and share of
-- cost NULL (a margin over an unknown cost is unknown); unprofitable is false. A group with some priced calls keeps
-- the priced cost, with unpriced_calls beside it. A group without calls (revenue only) still costs 0. The order is
-- the one of 0030 (by the priced figures). simulator_results.cost may be NULL for the same reason.

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
        SELECT CASE WHEN p_by = 'customer' THEN r.customer_id ELSE 'organization' END AS key,
               sum(r.revenue) AS revenue, array_agg(DISTINCT c) FILTER (WHERE c IS NOT NULL) AS unconverted
        FROM pnl_revenue(p_from, p_to) r LEFT JOIN LATERAL unnest(r.unconverted) c ON true
        WHERE p_by IN ('customer', 'organization')
        GROUP BY 1
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

-- pnl_data_quality(): the range's cost, and so its unattributed cost, is NULL when calls were made and none was
-- priced.
CREATE OR REPLACE FUNCTION pnl_data_quality(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    cost numeric, unattributed_cost numeric, unattributed_cost_pct numeric, calls bigint, unpriced_calls bigint,
    unpriced_calls_pct numeric, estimated_calls bigint, missing_usage_calls bigint
)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN NOT all_unpriced THEN cost END, CASE WHEN NOT all_unpriced THEN unattributed_cost END,
           unattributed_cost_pct, calls, unpriced_calls, unpriced_calls_pct, estimated_calls, missing_usage_calls
    FROM (
        SELECT coalesce(sum(cost), 0) AS cost,
               coalesce(sum(cost) FILTER (WHERE customer_id = '(unattributed)'), 0) AS unattributed_cost,
               CASE WHEN sum(cost) > 0 THEN coalesce(sum(cost) FILTER (WHERE customer_id = '(unattributed)'), 0)
                                            / sum(cost) * 100 END AS unattributed_cost_pct,
               coalesce(sum(calls), 0)::bigint AS calls,
               coalesce(sum(unpriced_calls), 0)::bigint AS unpriced_calls,
               CASE WHEN sum(calls) > 0 THEN sum(unpriced_calls)::numeric / sum(calls) * 100 END AS unpriced_calls_pct,
               coalesce(sum(estimated_calls), 0)::bigint AS estimated_calls,
               coalesce(sum(missing_usage_calls), 0)::bigint AS missing_usage_calls,
               coalesce(sum(calls) > 0 AND sum(unpriced_calls) = sum(calls), false) AS all_unpriced
        FROM usage_rollup_range(p_from, p_to)
    ) q
$$;

ALTER TABLE simulator_results ALTER COLUMN cost DROP NOT NULL;
COMMENT ON COLUMN simulator_results.cost IS
    'Recorded cost of the simulated calls; NULL when none of them was priced.';

-- Where a call's provider came from (issue 11.7): NULL when the span or REST event named it, 'model' when it named
-- none and the price book inferred it from the model name (gpt-4o -> openai). A call whose model does not resolve
-- either keeps the empty provider, which the P&L by provider reports as '(unknown)', never as a blank row.
ALTER TABLE usage_events ADD COLUMN provider_source text CHECK (provider_source IN ('model'));

COMMENT ON COLUMN usage_events.provider_source IS
    'NULL: the provider as the call named it; model: the call named none, inferred from the model name.';

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
