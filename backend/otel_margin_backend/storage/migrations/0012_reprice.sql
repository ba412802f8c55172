-- Re-pricing stored usage with the book in force (pricing/reprice.py), and the reported-cost gaps
-- (pricing/reconcile.py).

-- The new prices of one re-price run, private to its transaction. old_* is what the scan read: a row changed
-- since (by another re-price) is left alone and counted as skipped.
CREATE FUNCTION usage_reprice_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.usage_reprice') IS NOT NULL THEN
        DROP TABLE pg_temp.usage_reprice;
    END IF;
    CREATE TEMP TABLE usage_reprice (
        event_id             bytea       NOT NULL,
        time                 timestamptz NOT NULL,
        old_status           text        NOT NULL,
        old_cost_total       numeric,
        old_price_version    text,
        old_override_version text,
        status               text        NOT NULL,
        cost_input           numeric,
        cost_cache_read      numeric,
        cost_cache_write     numeric,
        cost_output          numeric,
        cost_reasoning       numeric,
        cost_total           numeric,
        currency             text        NOT NULL,
        price_version        text,
        override_version     text
    ) ON COMMIT DROP;
END
$$;

-- Apply the staged prices to usage_events and correct usage_hourly and usage_daily, in the caller's transaction.
--
-- Concurrency: usage_hourly and usage_daily are locked in SHARE ROW EXCLUSIVE mode first (in the order the writer
-- upserts them), before any usage_events row is touched. Ingestion (usage_ingest_staged) inserts raw rows and
-- then upserts both rollups in one transaction, so while the locks are held no ingest can commit: a batch that
-- already holds its rollup row locks commits before the locks are granted (and its rows are then visible here),
-- and a batch that comes later waits at its upsert, then adds its own rows on top of the corrected groups. Two
-- re-prices serialize on the same locks. Dashboards keep reading throughout (reads take no conflicting lock).
--
-- usage_hourly: every hour group holding an updated row is recomputed from its raw rows. A group with fewer raw
-- rows than calls lost raw rows to retention (the rollups outlive usage_events); it keeps the removed rows'
-- share and is corrected by the difference instead (cost and unpriced_calls are the only columns a re-price
-- changes). usage_daily: each day group moves by exactly what its hour groups moved, so it stays the sum of
-- its hours.
CREATE FUNCTION usage_reprice_apply(OUT updated bigint, OUT skipped bigint, OUT hour_groups bigint)
LANGUAGE plpgsql AS $$
DECLARE
    staged bigint;
    origin constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
BEGIN
    LOCK TABLE usage_hourly, usage_daily IN SHARE ROW EXCLUSIVE MODE;
    SELECT count(*) INTO staged FROM pg_temp.usage_reprice;

    CREATE TEMP TABLE usage_reprice_groups (
        bucket         timestamptz NOT NULL,
        customer_id    text        NOT NULL,
        feature        text        NOT NULL,
        provider       text        NOT NULL,
        model          text        NOT NULL,
        rows_updated   bigint      NOT NULL,
        cost_delta     numeric     NOT NULL,
        unpriced_delta bigint      NOT NULL,
        PRIMARY KEY (bucket, customer_id, feature, provider, model)
    ) ON COMMIT DROP;

    WITH changed AS (
        UPDATE usage_events e SET
            status = s.status, cost_input = s.cost_input, cost_cache_read = s.cost_cache_read,
            cost_cache_write = s.cost_cache_write, cost_output = s.cost_output, cost_reasoning = s.cost_reasoning,
            cost_total = s.cost_total, currency = s.currency, price_version = s.price_version,
            override_version = s.override_version
        FROM pg_temp.usage_reprice s
        WHERE e.event_id = s.event_id AND e.time = s.time
          AND e.status = s.old_status
          AND e.cost_total IS NOT DISTINCT FROM s.old_cost_total
          AND e.price_version IS NOT DISTINCT FROM s.old_price_version
          AND e.override_version IS NOT DISTINCT FROM s.old_override_version
        RETURNING e.time, e.customer_id, e.feature, e.provider, e.model, s.old_status, s.old_cost_total,
                  e.status, e.cost_total
    )
    INSERT INTO usage_reprice_groups
    SELECT date_bin('1 hour', time, origin), customer_id, feature, provider, model, count(*),
           coalesce(sum(cost_total), 0) - coalesce(sum(old_cost_total), 0),
           count(*) FILTER (WHERE status = 'unpriced') - count(*) FILTER (WHERE old_status = 'unpriced')
    FROM changed
    GROUP BY 1, 2, 3, 4, 5;

    SELECT coalesce(sum(rows_updated), 0), count(*) INTO updated, hour_groups FROM usage_reprice_groups;
    skipped := staged - updated;

    CREATE TEMP TABLE usage_reprice_raw ON COMMIT DROP AS
    SELECT date_bin('1 hour', e.time, origin) AS bucket, e.customer_id, e.feature, e.provider, e.model,
           count(*) AS calls,
           sum(e.input_tokens) AS input_tokens, sum(e.cache_read_tokens) AS cache_read_tokens,
           sum(e.cache_write_tokens) AS cache_write_tokens, sum(e.output_tokens) AS output_tokens,
           sum(e.reasoning_tokens) AS reasoning_tokens,
           coalesce(sum(e.cost_total), 0) AS cost,
           count(*) FILTER (WHERE e.status = 'unpriced') AS unpriced_calls,
           count(*) FILTER (WHERE e.status = 'missing_usage') AS missing_usage_calls,
           count(*) FILTER (WHERE e.tokens_estimated) AS estimated_calls,
           coalesce(sum(e.reported_cost), 0) AS reported_cost
    FROM usage_events e
    WHERE e.time >= (SELECT min(g.bucket) FROM usage_reprice_groups g)
      AND e.time < (SELECT max(g.bucket) FROM usage_reprice_groups g) + interval '1 hour'
      AND EXISTS (
          SELECT FROM usage_reprice_groups g
          WHERE g.bucket = date_bin('1 hour', e.time, origin) AND g.customer_id = e.customer_id
            AND g.feature = e.feature AND g.provider = e.provider AND g.model = e.model
      )
    GROUP BY 1, 2, 3, 4, 5;

    CREATE TEMP TABLE usage_reprice_before ON COMMIT DROP AS
    SELECT h.* FROM usage_hourly h JOIN usage_reprice_groups g USING (bucket, customer_id, feature, provider, model);

    -- Groups with all their raw rows (the normal case) are recomputed; groups retention thinned keep their
    -- removed share and move by the difference.
    UPDATE usage_hourly h SET
        calls = r.calls, input_tokens = r.input_tokens, cache_read_tokens = r.cache_read_tokens,
        cache_write_tokens = r.cache_write_tokens, output_tokens = r.output_tokens,
        reasoning_tokens = r.reasoning_tokens, cost = r.cost, unpriced_calls = r.unpriced_calls,
        missing_usage_calls = r.missing_usage_calls, estimated_calls = r.estimated_calls,
        reported_cost = r.reported_cost
    FROM usage_reprice_raw r
    WHERE h.bucket = r.bucket AND h.customer_id = r.customer_id AND h.feature = r.feature
      AND h.provider = r.provider AND h.model = r.model AND r.calls >= h.calls;

    UPDATE usage_hourly h SET
        cost = h.cost + g.cost_delta, unpriced_calls = h.unpriced_calls + g.unpriced_delta
    FROM usage_reprice_raw r
    JOIN usage_reprice_groups g USING (bucket, customer_id, feature, provider, model)
    WHERE h.bucket = r.bucket AND h.customer_id = r.customer_id AND h.feature = r.feature
      AND h.provider = r.provider AND h.model = r.model AND r.calls < h.calls;

    -- A group missing from usage_hourly altogether (never expected) is created from its raw rows.
    INSERT INTO usage_hourly
    SELECT r.bucket, r.customer_id, r.feature, r.provider, r.model, r.calls, r.input_tokens, r.cache_read_tokens,
           r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.cost, r.unpriced_calls,
           r.missing_usage_calls, r.estimated_calls, r.reported_cost
    FROM usage_reprice_raw r
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (bucket, customer_id, feature, provider, model) DO NOTHING;

    INSERT INTO usage_daily AS d (day, customer_id, feature, provider, model, calls, input_tokens,
                                  cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost,
                                  unpriced_calls, missing_usage_calls, estimated_calls, reported_cost)
    SELECT date_bin('1 day', a.bucket, origin), a.customer_id, a.feature, a.provider, a.model,
           sum(a.calls - coalesce(b.calls, 0)), sum(a.input_tokens - coalesce(b.input_tokens, 0)),
           sum(a.cache_read_tokens - coalesce(b.cache_read_tokens, 0)),
           sum(a.cache_write_tokens - coalesce(b.cache_write_tokens, 0)),
           sum(a.output_tokens - coalesce(b.output_tokens, 0)),
           sum(a.reasoning_tokens - coalesce(b.reasoning_tokens, 0)), sum(a.cost - coalesce(b.cost, 0)),
           sum(a.unpriced_calls - coalesce(b.unpriced_calls, 0)),
           sum(a.missing_usage_calls - coalesce(b.missing_usage_calls, 0)),
           sum(a.estimated_calls - coalesce(b.estimated_calls, 0)),
           sum(a.reported_cost - coalesce(b.reported_cost, 0))
    FROM usage_hourly a
    JOIN usage_reprice_groups g USING (bucket, customer_id, feature, provider, model)
    LEFT JOIN usage_reprice_before b USING (bucket, customer_id, feature, provider, model)
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

    DROP TABLE pg_temp.usage_reprice_raw;
    DROP TABLE pg_temp.usage_reprice_before;
    DROP TABLE pg_temp.usage_reprice_groups;
END
$$;

-- The largest gaps between our cost and the provider-reported cost, by model and customer, over calls that
-- carry a reported cost. gap = reported - ours over the calls both priced (gap_pct: of ours, 2 decimals); calls
-- we could not price (but the provider did) are counted in unpriced_calls, their reported cost in
-- unpriced_reported_cost.
CREATE FUNCTION price_reconcile(range_start timestamptz, range_end timestamptz, max_rows integer)
RETURNS TABLE (
    provider text, model text, customer_id text, calls bigint, sources text,
    our_cost numeric, reported_cost numeric, gap numeric, gap_pct numeric,
    unpriced_calls bigint, unpriced_reported_cost numeric
)
LANGUAGE sql STABLE AS $$
    SELECT e.provider, e.model, e.customer_id,
           count(*) FILTER (WHERE e.cost_total IS NOT NULL),
           string_agg(DISTINCT e.reported_cost_source, ', ' ORDER BY e.reported_cost_source),
           coalesce(sum(e.cost_total), 0),
           coalesce(sum(e.reported_cost) FILTER (WHERE e.cost_total IS NOT NULL), 0),
           coalesce(sum(e.reported_cost) FILTER (WHERE e.cost_total IS NOT NULL), 0) - coalesce(sum(e.cost_total), 0),
           CASE WHEN sum(e.cost_total) > 0
                THEN round((coalesce(sum(e.reported_cost) FILTER (WHERE e.cost_total IS NOT NULL), 0)
                            - sum(e.cost_total)) / sum(e.cost_total) * 100, 2) END,
           count(*) FILTER (WHERE e.cost_total IS NULL),
           coalesce(sum(e.reported_cost) FILTER (WHERE e.cost_total IS NULL), 0)
    FROM usage_events e
    WHERE e.time >= range_start AND e.time < range_end AND e.reported_cost IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY greatest(abs(coalesce(sum(e.reported_cost) FILTER (WHERE e.cost_total IS NOT NULL), 0)
                          - coalesce(sum(e.cost_total), 0)),
                      coalesce(sum(e.reported_cost) FILTER (WHERE e.cost_total IS NULL), 0)) DESC,
             1, 2, 3
    LIMIT max_rows
$$;
