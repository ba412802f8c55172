-- The rollup dashboards read: per hour x customer x feature x provider x model.
-- Maintained by usage_ingest_staged() in the same transaction as the raw insert (continuous
-- aggregates are not available in TimescaleDB's Apache edition, nor on plain PostgreSQL).
CREATE TABLE usage_hourly (
    bucket              timestamptz NOT NULL,
    customer_id         text        NOT NULL,
    feature             text        NOT NULL,
    provider            text        NOT NULL,
    model               text        NOT NULL,
    calls               bigint      NOT NULL,
    input_tokens        bigint      NOT NULL,
    cache_read_tokens   bigint      NOT NULL,
    cache_write_tokens  bigint      NOT NULL,
    output_tokens       bigint      NOT NULL,
    reasoning_tokens    bigint      NOT NULL,
    cost                numeric     NOT NULL,  -- sum of cost_total over priced calls
    unpriced_calls      bigint      NOT NULL,
    missing_usage_calls bigint      NOT NULL,
    estimated_calls     bigint      NOT NULL,
    reported_cost       numeric     NOT NULL,
    PRIMARY KEY (bucket, customer_id, feature, provider, model)
);

CREATE INDEX usage_hourly_customer_idx ON usage_hourly (customer_id, bucket);

COMMENT ON TABLE usage_hourly IS 'Hourly usage and cost per customer, feature, provider and model (UTC hours).';

-- Staging table for one write batch, private to the session. The writer COPYs into it, then calls
-- usage_ingest_staged().
CREATE FUNCTION usage_staging_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.usage_staging') IS NULL THEN
        CREATE TEMP TABLE usage_staging (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
END
$$;

-- Add the staged rows to usage_hourly (all of them: the caller leaves only newly stored rows).
-- Groups are upserted in key order so concurrent writers wait for each other instead of deadlocking.
CREATE FUNCTION usage_hourly_add_staged() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly AS h
    SELECT date_bin('1 hour', time, timestamptz '2000-01-01 00:00:00+00') AS bucket,
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
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
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
END
$$;

-- Move the staged batch into usage_events and add exactly the rows stored by this call to
-- usage_hourly. Redelivered events (already stored, or twice in the batch) are skipped.
--
-- Fast path: a plain INSERT, which is ~40 % cheaper than ON CONFLICT and succeeds whenever the
-- batch is new (the normal case). A duplicate makes it fail with unique_violation; the block's
-- savepoint undoes it, and the slow path drops in-batch repeats, inserts with ON CONFLICT DO
-- NOTHING and keeps in staging only the rows it actually stored. Rows go in key order, so writers
-- with overlapping batches wait for each other instead of deadlocking.
CREATE FUNCTION usage_ingest_staged(OUT inserted bigint, OUT duplicates bigint)
LANGUAGE plpgsql AS $$
DECLARE
    staged bigint;
BEGIN
    SELECT count(*) INTO staged FROM pg_temp.usage_staging;
    BEGIN
        INSERT INTO usage_events SELECT * FROM pg_temp.usage_staging ORDER BY event_id, time;
    EXCEPTION WHEN unique_violation THEN
        DELETE FROM pg_temp.usage_staging a USING pg_temp.usage_staging b
        WHERE a.event_id = b.event_id AND a.time = b.time AND a.ctid > b.ctid;
        WITH ins AS (
            INSERT INTO usage_events SELECT * FROM pg_temp.usage_staging ORDER BY event_id, time
            ON CONFLICT (event_id, time) DO NOTHING
            RETURNING event_id, time
        )
        DELETE FROM pg_temp.usage_staging s
        WHERE NOT EXISTS (SELECT FROM ins WHERE ins.event_id = s.event_id AND ins.time = s.time);
    END;
    SELECT count(*) INTO inserted FROM pg_temp.usage_staging;
    duplicates := staged - inserted;
    PERFORM usage_hourly_add_staged();
    DELETE FROM pg_temp.usage_staging;
END
$$;
