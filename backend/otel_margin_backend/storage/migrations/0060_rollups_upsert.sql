-- The rollup upsert in one place from here on. usage_rollups_add() adds the hourly groups in
-- pg_temp.usage_staged_hours to usage_hourly and, summed per UTC day, to usage_daily. The writer's
-- usage_hourly_add_staged() (replaced below) calls it, and so must any later function that adds to the
-- rollups, instead of repeating these INSERT ... ON CONFLICT statements (0003 and 0006 each spelled them out;
-- shipped migrations stay as they are). Groups are upserted in key order so concurrent writers wait for each
-- other instead of deadlocking.
CREATE FUNCTION usage_rollups_add() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly AS h
    SELECT * FROM pg_temp.usage_staged_hours ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (bucket, customer_id, feature, provider, model) DO UPDATE SET
        calls               = h.calls + EXCLUDED.calls,
        input_tokens        = h.input_tokens + EXCLUDED.input_tokens,
        cache_read_tokens   = h.cache_read_tokens + EXCLUDED.cache_read_tokens,
        cache_write_tokens  = h.cache_write_tokens + EXCLUDED.cache_write_tokens,
        output_tokens       = h.output_tokens + EXCLUDED.output_tokens,
        reasoning_tokens    = h.reasoning_tokens + EXCLUDED.reasoning_tokens,
        cost                = h.cost + EXCLUDED.cost,
        unpriced_calls      = h.unpriced_calls + EXCLUDED.unpriced_calls,
        missing_usage_calls = h.missing_usage_calls + EXCLUDED.missing_usage_calls,
        estimated_calls     = h.estimated_calls + EXCLUDED.estimated_calls,
        reported_cost       = h.reported_cost + EXCLUDED.reported_cost;
    INSERT INTO usage_daily AS d
    SELECT date_bin('1 day', bucket, timestamptz '2000-01-01 00:00:00+00'), customer_id, feature, provider, model,
           sum(calls), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),
           sum(reasoning_tokens), sum(cost), sum(unpriced_calls), sum(missing_usage_calls), sum(estimated_calls),
           sum(reported_cost)
    FROM pg_temp.usage_staged_hours
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, customer_id, feature, provider, model) DO UPDATE SET
        calls               = d.calls + EXCLUDED.calls,
        input_tokens        = d.input_tokens + EXCLUDED.input_tokens,
        cache_read_tokens   = d.cache_read_tokens + EXCLUDED.cache_read_tokens,
        cache_write_tokens  = d.cache_write_tokens + EXCLUDED.cache_write_tokens,
        output_tokens       = d.output_tokens + EXCLUDED.output_tokens,
        reasoning_tokens    = d.reasoning_tokens + EXCLUDED.reasoning_tokens,
        cost                = d.cost + EXCLUDED.cost,
        unpriced_calls      = d.unpriced_calls + EXCLUDED.unpriced_calls,
        missing_usage_calls = d.missing_usage_calls + EXCLUDED.missing_usage_calls,
        estimated_calls     = d.estimated_calls + EXCLUDED.estimated_calls,
        reported_cost       = d.reported_cost + EXCLUDED.reported_cost;
END
$$;

-- The staged batch's rows grouped per hour, then added through the one upsert.
CREATE OR REPLACE FUNCTION usage_hourly_add_staged() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS usage_staged_hours (LIKE usage_hourly) ON COMMIT DELETE ROWS;
    INSERT INTO usage_staged_hours
    SELECT date_bin('1 hour', time, timestamptz '2000-01-01 00:00:00+00'),
           customer_id, feature, provider, model,
           count(*),
           sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
           sum(output_tokens), sum(reasoning_tokens),
           coalesce(sum(cost_total), 0),
           count(*) FILTER (WHERE status = 'unpriced'),
           count(*) FILTER (WHERE status = 'missing_usage'),
           count(*) FILTER (WHERE tokens_estimated),
           coalesce(sum(reported_cost), 0)
    FROM pg_temp.usage_staging
    GROUP BY 1, 2, 3, 4, 5;
    PERFORM usage_rollups_add();
END
$$;
