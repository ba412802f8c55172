-- One row per provider call. Two instrumentations of one client (or a client that traces itself plus an
-- instrumentation) each export a span for the same call: same trace, same gen_ai.response.id, different span ids.
-- The normalizer folds such spans when they come in one request; the spans of one trace can also come in different
-- requests, to different backend processes, in any order, and again. So the writer arbitrates here, per call:
-- usage_calls holds, for each call key (a digest of trace id and response id, computed by the normalizer), the
-- span whose row usage_events keeps. usage_events is partitioned on time and the two spans start at different
-- times, so a unique index there could not say "one row per call"; this small table can.
--
-- The rule (pipeline/events.py call_precedence, the same order): the most detailed usage wins (call_detail: 0 no
-- counts, 1 estimated, 2 + how many of cache read, cache write and reasoning the span reported), then more tokens
-- (input + output), then a provider-reported cost, then the smallest event_id. It is a total order, so whatever
-- the arrival order, batching or receiver, the same span ends up stored. A better span arriving later replaces the
-- stored row (deleted, and subtracted from usage_hourly and usage_daily through usage_rollups_add()); a worse one,
-- and any redelivery, is skipped and counted as a duplicate.

ALTER TABLE usage_events ADD COLUMN call_key bytea;
ALTER TABLE usage_events ADD COLUMN call_detail smallint NOT NULL DEFAULT 0;

COMMENT ON COLUMN usage_events.call_key IS
    'Digest of trace id and provider response id: spans with one key are one call (usage_calls keeps one).';
COMMENT ON COLUMN usage_events.call_detail IS
    '0 no token counts, 1 estimated, 2 + reported cache read/cache write/reasoning counts: ranks spans of one call.';

CREATE TABLE usage_calls (
    call_key bytea       PRIMARY KEY,
    event_id bytea       NOT NULL,  -- the stored span's usage_events row is (event_id, time)
    time     timestamptz NOT NULL,
    detail   smallint    NOT NULL,  -- its call_detail
    tokens   bigint      NOT NULL,  -- its input_tokens + output_tokens
    reported boolean     NOT NULL   -- its reported_cost IS NOT NULL
);
CREATE INDEX usage_calls_time_idx ON usage_calls (time);

COMMENT ON TABLE usage_calls IS 'Per provider call, the span whose row usage_events keeps (one row per call).';

-- The session's staging tables. usage_replaced holds the rows a batch replaced, for the rollups; usage_call_claims
-- the batch's calls next to their stored spans. A session that staged before this migration has a usage_staging
-- without the call columns (and no usage_replaced): it is rebuilt.
CREATE OR REPLACE FUNCTION usage_staging_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.usage_replaced') IS NULL THEN
        DROP TABLE IF EXISTS pg_temp.usage_staging;
        CREATE TEMP TABLE usage_staging (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE usage_replaced (LIKE usage_events) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE usage_call_claims (
            call_key        bytea       NOT NULL,  -- a call of the batch and its best staged span
            event_id        bytea       NOT NULL,
            time            timestamptz NOT NULL,
            detail          smallint    NOT NULL,
            tokens          bigint      NOT NULL,
            reported        boolean     NOT NULL,
            holder_event_id bytea,                 -- the span stored for the call (when it was known)
            holder_time     timestamptz,
            outcome         text        NOT NULL DEFAULT 'keep'  -- 'keep' (new call, or the stored span again),
                                                                 -- 'replace' or 'skip'
        ) ON COMMIT DELETE ROWS;
    END IF;
END
$$;

-- Decide, for every call of the staged batch, which span is stored, and leave in pg_temp.usage_staging only the
-- rows to insert; the rows they replace move from usage_events to pg_temp.usage_replaced. Returns how many staged
-- rows were dropped as duplicates of a better (or the same) span of their call.
--
-- Fast path: every call of the batch is new (the normal case), and a plain INSERT into usage_calls claims them all,
-- at about a third of the cost of INSERT ... ON CONFLICT ... RETURNING. A known call makes it fail with
-- unique_violation; the block's savepoint undoes it and the full path runs.
--
-- Concurrency: calls are claimed in call_key order (the full path's no-op update locks a known call as it is), so
-- two writers racing on one call wait for each other (the second then sees the first's span), and writers never
-- deadlock on usage_calls. A stored row is replaced only under that lock. Before deleting replaced rows the
-- rollups are locked in ROW EXCLUSIVE mode (which writers share): a re-price (usage_reprice_apply) locks them
-- first too, so neither waits for a usage_events row the other holds.
CREATE FUNCTION usage_calls_arbitrate() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    staged bigint;
    keyed bigint;
    claimed bigint;
    fresh boolean := true;
    skipped bigint;
BEGIN
    SELECT count(*), count(call_key) INTO staged, keyed FROM pg_temp.usage_staging;
    DELETE FROM pg_temp.usage_call_claims;
    DELETE FROM pg_temp.usage_replaced;
    INSERT INTO pg_temp.usage_call_claims (call_key, event_id, time, detail, tokens, reported)
    SELECT DISTINCT ON (call_key) call_key, event_id, time, call_detail, input_tokens + output_tokens,
           reported_cost IS NOT NULL
    FROM pg_temp.usage_staging
    WHERE call_key IS NOT NULL
    ORDER BY call_key, call_detail DESC, input_tokens + output_tokens DESC, reported_cost IS NOT NULL DESC,
             event_id, time;
    GET DIAGNOSTICS claimed = ROW_COUNT;

    BEGIN
        INSERT INTO usage_calls
        SELECT call_key, event_id, time, detail, tokens, reported FROM pg_temp.usage_call_claims ORDER BY call_key;
    EXCEPTION WHEN unique_violation THEN
        fresh := false;
    END;

    IF NOT fresh THEN
        -- Each call's best staged span claims the call, or meets the span stored for it.
        WITH held AS (
            INSERT INTO usage_calls AS c
            SELECT call_key, event_id, time, detail, tokens, reported FROM pg_temp.usage_call_claims ORDER BY call_key
            ON CONFLICT (call_key) DO UPDATE SET event_id = c.event_id
            RETURNING c.*
        )
        UPDATE pg_temp.usage_call_claims b SET
            holder_event_id = h.event_id,
            holder_time = h.time,
            outcome = CASE
                WHEN (h.event_id, h.time) = (b.event_id, b.time) THEN 'keep'
                WHEN (b.detail, b.tokens, b.reported) > (h.detail, h.tokens, h.reported)
                     OR ((b.detail, b.tokens, b.reported) = (h.detail, h.tokens, h.reported) AND b.event_id < h.event_id)
                    THEN 'replace'
                ELSE 'skip'
            END
        FROM held h
        WHERE b.call_key = h.call_key;

        IF EXISTS (SELECT FROM pg_temp.usage_call_claims WHERE outcome = 'replace') THEN
            LOCK TABLE usage_hourly, usage_daily IN ROW EXCLUSIVE MODE;
            WITH gone AS (
                DELETE FROM usage_events e
                USING pg_temp.usage_call_claims c
                WHERE c.outcome = 'replace' AND e.event_id = c.holder_event_id AND e.time = c.holder_time
                RETURNING e.*
            )
            INSERT INTO pg_temp.usage_replaced SELECT * FROM gone;
            -- A stored row already removed by retention still counts in the rollups (they outlive raw rows): the
            -- newcomer cannot replace it without counting the call twice, so it is a duplicate.
            UPDATE pg_temp.usage_call_claims c SET outcome = 'skip'
            WHERE c.outcome = 'replace'
              AND NOT EXISTS (
                  SELECT FROM pg_temp.usage_replaced r WHERE r.event_id = c.holder_event_id AND r.time = c.holder_time
              );
            UPDATE usage_calls u SET event_id = c.event_id, time = c.time, detail = c.detail, tokens = c.tokens,
                                     reported = c.reported
            FROM pg_temp.usage_call_claims c
            WHERE c.outcome = 'replace' AND u.call_key = c.call_key;
        END IF;
    END IF;

    -- Keep each call's winner (its exact repeats too: the insert step drops those as redeliveries).
    IF NOT fresh OR keyed > claimed THEN
        DELETE FROM pg_temp.usage_staging s
        USING pg_temp.usage_call_claims c
        WHERE s.call_key = c.call_key
          AND (c.outcome = 'skip' OR (s.event_id, s.time) IS DISTINCT FROM (c.event_id, c.time));
    END IF;
    SELECT staged - count(*) INTO skipped FROM pg_temp.usage_staging;
    RETURN skipped;
END
$$;

-- The staged rows, less the rows they replaced, grouped per hour and added through the one upsert. Groups a
-- replacement emptied (a call moved to another hour, model or customer) are removed, as if never written.
CREATE OR REPLACE FUNCTION usage_hourly_add_staged() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    origin constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    replaced boolean;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS usage_staged_hours (LIKE usage_hourly) ON COMMIT DELETE ROWS;
    DELETE FROM pg_temp.usage_staged_hours;
    replaced := EXISTS (SELECT FROM pg_temp.usage_replaced);
    INSERT INTO usage_staged_hours
    SELECT date_bin('1 hour', time, origin), customer_id, feature, provider, model,
           sum(sign),
           sum(sign * input_tokens), sum(sign * cache_read_tokens), sum(sign * cache_write_tokens),
           sum(sign * output_tokens), sum(sign * reasoning_tokens),
           coalesce(sum(sign * cost_total), 0),
           coalesce(sum(sign) FILTER (WHERE status = 'unpriced'), 0),
           coalesce(sum(sign) FILTER (WHERE status = 'missing_usage'), 0),
           coalesce(sum(sign) FILTER (WHERE tokens_estimated), 0),
           coalesce(sum(sign * reported_cost), 0)
    FROM (
        SELECT 1 AS sign, * FROM pg_temp.usage_staging
        UNION ALL
        SELECT -1, * FROM pg_temp.usage_replaced
    ) r
    GROUP BY 1, 2, 3, 4, 5;
    PERFORM usage_rollups_add();
    IF replaced THEN
        DELETE FROM usage_hourly h USING pg_temp.usage_staged_hours s
        WHERE h.calls = 0 AND h.bucket = s.bucket AND h.customer_id = s.customer_id AND h.feature = s.feature
          AND h.provider = s.provider AND h.model = s.model;
        DELETE FROM usage_daily d USING pg_temp.usage_staged_hours s
        WHERE d.calls = 0 AND d.day = date_bin('1 day', s.bucket, origin) AND d.customer_id = s.customer_id
          AND d.feature = s.feature AND d.provider = s.provider AND d.model = s.model;
    END IF;
END
$$;

-- The writer's entry point keeps its name and result: call arbitration first, then the insert step of 0003
-- (renamed usage_events_insert_staged: new rows in, redeliveries skipped, the rollups moved by what was stored).
ALTER FUNCTION usage_ingest_staged() RENAME TO usage_events_insert_staged;

CREATE FUNCTION usage_ingest_staged(OUT inserted bigint, OUT duplicates bigint)
LANGUAGE plpgsql AS $$
DECLARE
    skipped bigint := 0;
BEGIN
    IF EXISTS (SELECT FROM pg_temp.usage_staging WHERE call_key IS NOT NULL) THEN
        skipped := usage_calls_arbitrate();
    END IF;
    SELECT i.inserted, i.duplicates + skipped INTO inserted, duplicates FROM usage_events_insert_staged() i;
    DELETE FROM pg_temp.usage_replaced;
END
$$;

-- Retention (storage/retention.py): forget the calls older than both the cutoff and the oldest raw row left (on
-- TimescaleDB a chunk straddling the cutoff keeps its rows, and its calls keep their records).
CREATE FUNCTION usage_calls_delete_before(cutoff timestamptz) RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM usage_calls WHERE time < least(cutoff, (SELECT min(time) FROM usage_events))
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;
