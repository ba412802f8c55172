-- Queries at rollup speed (issue 17.4): a month's P&L or budget status reads one monthly rollup row per group.
--
-- Where the time went (docs/benchmarks.md has the EXPLAIN): usage_rollup_range() found the edge hours of a range
-- with `bucket in range AND NOT in the whole days`, which no index can answer, so a month's P&L scanned all of the
-- month's hourly rows (446,400 at 10M events) to keep none of them; budget status did that once per budget.
--
-- usage_monthly: usage per UTC month x customer x feature x provider x model, always the sum of usage_daily's rows
-- of the month (a group exists while the month has a daily row for it). It is kept by statement triggers on
-- usage_daily, in the same statement and transaction as the daily change, so every path that changes the daily
-- rollup keeps it exact with no code of its own: the one upsert usage_rollups_add() (ingest, call_key
-- replacements, usage_delete_environment), usage_reprice_apply()'s corrections, and direct fixes. A statement
-- trigger adds one grouped upsert per batch, not per row. Retention keeps the rollups, as it keeps usage_daily.
CREATE TABLE usage_monthly (LIKE usage_daily INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE usage_monthly RENAME COLUMN day TO month;
ALTER TABLE usage_monthly ADD PRIMARY KEY (month, customer_id, feature, provider, model);

COMMENT ON TABLE usage_monthly IS
    'Monthly (UTC) usage and cost per customer, feature, provider and model: the sums of usage_daily.';

-- The UTC month that contains p_t.
CREATE FUNCTION utc_month_of(p_t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_trunc('month', p_t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

-- Adds what a statement changed in usage_daily (new rows minus old rows, per month and group) to usage_monthly,
-- in key order as the other rollups (concurrent writers wait, never deadlock). After a DELETE, groups whose month
-- has no daily row left are removed.
CREATE FUNCTION usage_monthly_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO usage_monthly AS m
        SELECT utc_month_of(day), customer_id, feature, provider, model,
               sum(calls), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),
               sum(reasoning_tokens), sum(cost), sum(unpriced_calls), sum(missing_usage_calls), sum(estimated_calls),
               sum(reported_cost)
        FROM daily_new
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (month, customer_id, feature, provider, model) DO UPDATE SET
            calls               = m.calls + EXCLUDED.calls,
            input_tokens        = m.input_tokens + EXCLUDED.input_tokens,
            cache_read_tokens   = m.cache_read_tokens + EXCLUDED.cache_read_tokens,
            cache_write_tokens  = m.cache_write_tokens + EXCLUDED.cache_write_tokens,
            output_tokens       = m.output_tokens + EXCLUDED.output_tokens,
            reasoning_tokens    = m.reasoning_tokens + EXCLUDED.reasoning_tokens,
            cost                = m.cost + EXCLUDED.cost,
            unpriced_calls      = m.unpriced_calls + EXCLUDED.unpriced_calls,
            missing_usage_calls = m.missing_usage_calls + EXCLUDED.missing_usage_calls,
            estimated_calls     = m.estimated_calls + EXCLUDED.estimated_calls,
            reported_cost       = m.reported_cost + EXCLUDED.reported_cost;
    ELSIF TG_OP = 'UPDATE' THEN
        -- A row's key may change too: its old values leave the old group, its new values join the new one.
        INSERT INTO usage_monthly AS m
        SELECT month, customer_id, feature, provider, model,
               sum(calls), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),
               sum(reasoning_tokens), sum(cost), sum(unpriced_calls), sum(missing_usage_calls), sum(estimated_calls),
               sum(reported_cost)
        FROM (
            SELECT utc_month_of(day) AS month, customer_id, feature, provider, model, calls, input_tokens,
                   cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost, unpriced_calls,
                   missing_usage_calls, estimated_calls, reported_cost
            FROM daily_new
            UNION ALL
            SELECT utc_month_of(day), customer_id, feature, provider, model, -calls, -input_tokens,
                   -cache_read_tokens, -cache_write_tokens, -output_tokens, -reasoning_tokens, -cost, -unpriced_calls,
                   -missing_usage_calls, -estimated_calls, -reported_cost
            FROM daily_old
        ) c
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (month, customer_id, feature, provider, model) DO UPDATE SET
            calls               = m.calls + EXCLUDED.calls,
            input_tokens        = m.input_tokens + EXCLUDED.input_tokens,
            cache_read_tokens   = m.cache_read_tokens + EXCLUDED.cache_read_tokens,
            cache_write_tokens  = m.cache_write_tokens + EXCLUDED.cache_write_tokens,
            output_tokens       = m.output_tokens + EXCLUDED.output_tokens,
            reasoning_tokens    = m.reasoning_tokens + EXCLUDED.reasoning_tokens,
            cost                = m.cost + EXCLUDED.cost,
            unpriced_calls      = m.unpriced_calls + EXCLUDED.unpriced_calls,
            missing_usage_calls = m.missing_usage_calls + EXCLUDED.missing_usage_calls,
            estimated_calls     = m.estimated_calls + EXCLUDED.estimated_calls,
            reported_cost       = m.reported_cost + EXCLUDED.reported_cost;
        -- A row whose key changed may leave its old group without daily rows. (EXCEPT: a hashed set operation;
        -- the planner has no statistics on transition tables and would compare them pairwise in a join.)
        IF EXISTS (SELECT day, customer_id, feature, provider, model FROM daily_old
                   EXCEPT
                   SELECT day, customer_id, feature, provider, model FROM daily_new) THEN
            PERFORM usage_monthly_prune(ARRAY(SELECT DISTINCT utc_month_of(day) FROM daily_old));
        END IF;
    ELSE
        UPDATE usage_monthly m SET
            calls               = m.calls - o.calls,
            input_tokens        = m.input_tokens - o.input_tokens,
            cache_read_tokens   = m.cache_read_tokens - o.cache_read_tokens,
            cache_write_tokens  = m.cache_write_tokens - o.cache_write_tokens,
            output_tokens       = m.output_tokens - o.output_tokens,
            reasoning_tokens    = m.reasoning_tokens - o.reasoning_tokens,
            cost                = m.cost - o.cost,
            unpriced_calls      = m.unpriced_calls - o.unpriced_calls,
            missing_usage_calls = m.missing_usage_calls - o.missing_usage_calls,
            estimated_calls     = m.estimated_calls - o.estimated_calls,
            reported_cost       = m.reported_cost - o.reported_cost
        FROM (
            SELECT utc_month_of(day) AS month, customer_id, feature, provider, model,
                   sum(calls) AS calls, sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens,
                   sum(cache_write_tokens) AS cache_write_tokens, sum(output_tokens) AS output_tokens,
                   sum(reasoning_tokens) AS reasoning_tokens, sum(cost) AS cost, sum(unpriced_calls) AS unpriced_calls,
                   sum(missing_usage_calls) AS missing_usage_calls, sum(estimated_calls) AS estimated_calls,
                   sum(reported_cost) AS reported_cost
            FROM daily_old
            GROUP BY 1, 2, 3, 4, 5
        ) o
        WHERE (m.month, m.customer_id, m.feature, m.provider, m.model)
              = (o.month, o.customer_id, o.feature, o.provider, o.model);
        PERFORM usage_monthly_prune(ARRAY(SELECT DISTINCT utc_month_of(day) FROM daily_old));
    END IF;
    RETURN NULL;
END
$$;

-- Remove the groups of the given months that no longer have a daily row.
CREATE FUNCTION usage_monthly_prune(p_months timestamptz[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM usage_monthly m
    WHERE m.month = ANY (p_months)
      AND NOT EXISTS (
          SELECT FROM usage_daily d
          WHERE d.customer_id = m.customer_id AND d.day >= m.month AND d.day < utc_month_after(m.month)
            AND d.feature = m.feature AND d.provider = m.provider AND d.model = m.model
      )
$$;

CREATE TRIGGER usage_monthly_on_insert AFTER INSERT ON usage_daily
    REFERENCING NEW TABLE AS daily_new FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_follow();
CREATE TRIGGER usage_monthly_on_update AFTER UPDATE ON usage_daily
    REFERENCING OLD TABLE AS daily_old NEW TABLE AS daily_new FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_follow();
CREATE TRIGGER usage_monthly_on_delete AFTER DELETE ON usage_daily
    REFERENCING OLD TABLE AS daily_old FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_follow();

-- A TRUNCATE of usage_daily empties the monthly rollup too (the triggers above do not fire for it). DELETE, not
-- TRUNCATE: `TRUNCATE usage_daily, usage_monthly` runs this while usage_monthly is being truncated.
CREATE FUNCTION usage_monthly_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM usage_monthly;
    RETURN NULL;
END
$$;
CREATE TRIGGER usage_monthly_on_truncate AFTER TRUNCATE ON usage_daily
    FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_truncate();

-- The data written before this migration.
INSERT INTO usage_monthly
SELECT utc_month_of(day), customer_id, feature, provider, model,
       sum(calls), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),
       sum(reasoning_tokens), sum(cost), sum(unpriced_calls), sum(missing_usage_calls), sum(estimated_calls),
       sum(reported_cost)
FROM usage_daily
GROUP BY 1, 2, 3, 4, 5;

-- The whole UTC days and months inside a range: the first day (month) boundary at or after p_from, and the last
-- at or before p_to. IMMUTABLE and inlined, so for a given range the planner folds them to constants and
-- estimates each part of usage_rollup_parts() by its real bounds (a CTE would hide them: it planned the empty
-- edge-hour parts at 150,000 rows each and sized the P&L's aggregation for 30,000 groups).
CREATE FUNCTION utc_day_ceil(p_t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN date_bin('1 day', p_t, timestamptz '2000-01-01 00:00:00+00') = p_t THEN p_t
                ELSE date_bin('1 day', p_t, timestamptz '2000-01-01 00:00:00+00') + interval '24 hours' END
$$;

CREATE FUNCTION utc_day_floor(p_t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('1 day', p_t, timestamptz '2000-01-01 00:00:00+00')
$$;

CREATE FUNCTION utc_month_ceil(p_t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN utc_month_of(p_t) = p_t THEN p_t ELSE utc_month_after(utc_month_of(p_t)) END
$$;

-- Rollup rows covering [p_from, p_to), each call exactly once, at computed cost: usage_monthly for the whole UTC
-- months inside it,
-- usage_daily for the whole UTC days outside those, usage_hourly for the hours at either edge. Each part is one
-- index range on its table's leading time column. A monthly row's bucket is its month, a daily row's its day.
-- Whole days: [d_lo, d_hi) with d_lo = utc_day_ceil(p_from), d_hi = greatest(d_lo, utc_day_floor(p_to)) (empty
-- when there are none); whole months among them: [m_lo, m_hi) with m_lo = utc_month_ceil(d_lo),
-- m_hi = greatest(m_lo, utc_month_of(d_hi)).
CREATE FUNCTION usage_rollup_parts(p_from timestamptz, p_to timestamptz)
RETURNS SETOF usage_hourly
LANGUAGE sql STABLE AS $$
    SELECT m.* FROM usage_monthly m
    WHERE m.month >= utc_month_ceil(utc_day_ceil(p_from))
      AND m.month < greatest(utc_month_ceil(utc_day_ceil(p_from)),
                             utc_month_of(greatest(utc_day_ceil(p_from), utc_day_floor(p_to))))
    UNION ALL
    SELECT d.* FROM usage_daily d  -- from d_lo to m_lo
    WHERE d.day >= utc_day_ceil(p_from)
      AND d.day < least(utc_month_ceil(utc_day_ceil(p_from)), greatest(utc_day_ceil(p_from), utc_day_floor(p_to)))
    UNION ALL
    SELECT d.* FROM usage_daily d  -- from m_hi to d_hi
    WHERE d.day >= greatest(utc_month_ceil(utc_day_ceil(p_from)),
                            utc_month_of(greatest(utc_day_ceil(p_from), utc_day_floor(p_to))))
      AND d.day < greatest(utc_day_ceil(p_from), utc_day_floor(p_to))
    UNION ALL
    SELECT h.* FROM usage_hourly h  -- from p_from to d_lo
    WHERE h.bucket >= p_from AND h.bucket < least(utc_day_ceil(p_from), p_to)
    UNION ALL
    SELECT h.* FROM usage_hourly h  -- from d_hi to p_to
    WHERE h.bucket >= greatest(utc_day_ceil(p_from), utc_day_floor(p_to), p_from) AND h.bucket < p_to
$$;
