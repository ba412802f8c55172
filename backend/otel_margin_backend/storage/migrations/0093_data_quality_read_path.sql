-- pnl_data_quality() as in 0070, reading usage_rollup_read() (0087) like the rest of the P&L: a month's data
-- quality is its monthly rows (0086), not every hourly row of the month, and with the session setting
-- otel_margin.cost_basis = 'billed' its cost is the billed cost the P&L beside it shows. Same sums, same rows.
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
        FROM usage_rollup_read(p_from, p_to)
    ) q
$$;
