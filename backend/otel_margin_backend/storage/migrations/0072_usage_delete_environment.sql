-- Removing one deployment environment's usage, as if it had never been sent: `otel-margin demo --reset` uses it
-- for the demo's environment ('demo'), so the demo month can start over on a database that also holds real data.
-- The rows leave usage_events and usage_calls, and exactly what they added leaves the rollups, through the one
-- rollup upsert (usage_rollups_add, 0060) with negated sums; groups left empty are removed. Calls whose raw rows
-- retention already dropped stay in the rollups: nothing says which environment they came from.
CREATE FUNCTION usage_delete_environment(target text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    origin constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    removed bigint;
BEGIN
    -- Writers share this mode and a re-price takes it first too (0061): no deadlock with either.
    LOCK TABLE usage_hourly, usage_daily IN ROW EXCLUSIVE MODE;
    CREATE TEMP TABLE IF NOT EXISTS usage_staged_hours (LIKE usage_hourly) ON COMMIT DELETE ROWS;
    DELETE FROM pg_temp.usage_staged_hours;
    WITH gone AS (
        DELETE FROM usage_events WHERE environment = target RETURNING *
    ), unclaimed AS (
        DELETE FROM usage_calls c USING gone g WHERE c.event_id = g.event_id AND c.time = g.time
    )
    INSERT INTO pg_temp.usage_staged_hours
    SELECT date_bin('1 hour', time, origin), customer_id, feature, provider, model,
           -count(*),
           -sum(input_tokens), -sum(cache_read_tokens), -sum(cache_write_tokens),
           -sum(output_tokens), -sum(reasoning_tokens),
           -coalesce(sum(cost_total), 0),
           -count(*) FILTER (WHERE status = 'unpriced'),
           -count(*) FILTER (WHERE status = 'missing_usage'),
           -count(*) FILTER (WHERE tokens_estimated),
           -coalesce(sum(reported_cost), 0)
    FROM gone
    GROUP BY 1, 2, 3, 4, 5;
    SELECT coalesce(-sum(calls), 0) INTO removed FROM pg_temp.usage_staged_hours;
    PERFORM usage_rollups_add();
    DELETE FROM usage_hourly h USING pg_temp.usage_staged_hours s
    WHERE h.calls = 0 AND h.bucket = s.bucket AND h.customer_id = s.customer_id AND h.feature = s.feature
      AND h.provider = s.provider AND h.model = s.model;
    DELETE FROM usage_daily d USING pg_temp.usage_staged_hours s
    WHERE d.calls = 0 AND d.day = date_bin('1 day', s.bucket, origin) AND d.customer_id = s.customer_id
      AND d.feature = s.feature AND d.provider = s.provider AND d.model = s.model;
    RETURN removed;
END
$$;

COMMENT ON FUNCTION usage_delete_environment(text) IS
    'Delete one deployment environment''s usage rows and take exactly their sums out of the rollups.';
