-- Per-event outcomes of a write, so a client sees what happened to each event it sent (docs/limits.md): a
-- redelivery (an event already stored, or twice in the batch) is reported as a duplicate, and the writer compares
-- it with the stored row so that a redelivery with other numbers (a client bug) is visible; a span folded by call
-- arbitration (0061) and a span that replaced a worse one are told apart from a newly stored row. /v1/stats then
-- counts rows, not attempts.
--
-- pg_temp.usage_outcomes holds only the staged rows that were not simply inserted: the fast path (a new batch)
-- writes nothing there, and the writer reads it only when the counts say a row was skipped or replaced.
--   'folded'      a span of a call whose stored span stays (or another span of the batch won); not stored
--   'redelivered' the first staged copy of a row already in usage_events; not stored (later copies of a row in
--                 the same batch are in-batch repeats: the writer finds those from the order it sent them in)
--   'replaced'    stored, and it replaced the worse span stored for its call

CREATE OR REPLACE FUNCTION usage_staging_open() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.usage_outcomes') IS NULL THEN
        -- A session that staged before this migration: rebuild its tables (0061's, plus usage_outcomes).
        DROP TABLE IF EXISTS pg_temp.usage_staging, pg_temp.usage_replaced, pg_temp.usage_call_claims;
        CREATE TEMP TABLE usage_staging (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE usage_replaced (LIKE usage_events) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE usage_call_claims (
            call_key        bytea       NOT NULL,
            event_id        bytea       NOT NULL,
            time            timestamptz NOT NULL,
            detail          smallint    NOT NULL,
            tokens          bigint      NOT NULL,
            reported        boolean     NOT NULL,
            holder_event_id bytea,
            holder_time     timestamptz,
            outcome         text        NOT NULL DEFAULT 'keep'
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE usage_outcomes (
            event_id bytea       NOT NULL,
            time     timestamptz NOT NULL,
            outcome  text        NOT NULL  -- 'folded', 'redelivered' or 'replaced'
        ) ON COMMIT DELETE ROWS;
    END IF;
END
$$;

-- 0061's arbitration, unchanged but for its last step: the staged rows it drops are recorded as 'folded'.
CREATE OR REPLACE FUNCTION usage_calls_arbitrate() RETURNS bigint
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
            UPDATE pg_temp.usage_call_claims c SET outcome = 'skip'
            WHERE c.outcome = 'replace'
              AND NOT EXISTS (
                  SELECT FROM pg_temp.usage_replaced r WHERE r.event_id = c.holder_event_id AND r.time = c.holder_time
              );
            UPDATE usage_calls u SET event_id = c.event_id, time = c.time, detail = c.detail, tokens = c.tokens,
                                     reported = c.reported
            FROM pg_temp.usage_call_claims c
            WHERE c.outcome = 'replace' AND u.call_key = c.call_key;
            INSERT INTO pg_temp.usage_outcomes
            SELECT event_id, time, 'replaced' FROM pg_temp.usage_call_claims WHERE outcome = 'replace';
        END IF;
    END IF;

    IF NOT fresh OR keyed > claimed THEN
        WITH gone AS (
            DELETE FROM pg_temp.usage_staging s
            USING pg_temp.usage_call_claims c
            WHERE s.call_key = c.call_key
              AND (c.outcome = 'skip' OR (s.event_id, s.time) IS DISTINCT FROM (c.event_id, c.time))
            RETURNING s.event_id, s.time
        )
        INSERT INTO pg_temp.usage_outcomes SELECT event_id, time, 'folded' FROM gone;
    END IF;
    SELECT staged - count(*) INTO skipped FROM pg_temp.usage_staging;
    RETURN skipped;
END
$$;

-- 0003's insert step (usage_events_insert_staged since 0061), recording the first copy of each row that was
-- stored already as 'redelivered'. The fast path is the same single INSERT.
CREATE OR REPLACE FUNCTION usage_events_insert_staged(OUT inserted bigint, OUT duplicates bigint)
LANGUAGE plpgsql AS $$
DECLARE
    staged bigint;
BEGIN
    SELECT count(*) INTO staged FROM pg_temp.usage_staging;
    BEGIN
        INSERT INTO usage_events SELECT * FROM pg_temp.usage_staging ORDER BY event_id, time;
    EXCEPTION WHEN unique_violation THEN
        -- In-batch repeats: the first copy (in the order sent) stays; the writer knows the others.
        DELETE FROM pg_temp.usage_staging a USING pg_temp.usage_staging b
        WHERE a.event_id = b.event_id AND a.time = b.time AND a.ctid > b.ctid;
        WITH ins AS (
            INSERT INTO usage_events SELECT * FROM pg_temp.usage_staging ORDER BY event_id, time
            ON CONFLICT (event_id, time) DO NOTHING
            RETURNING event_id, time
        ), gone AS (
            DELETE FROM pg_temp.usage_staging s
            WHERE NOT EXISTS (SELECT FROM ins WHERE ins.event_id = s.event_id AND ins.time = s.time)
            RETURNING s.event_id, s.time
        )
        INSERT INTO pg_temp.usage_outcomes SELECT event_id, time, 'redelivered' FROM gone;
    END;
    SELECT count(*) INTO inserted FROM pg_temp.usage_staging;
    duplicates := staged - inserted;
    PERFORM usage_hourly_add_staged();
    DELETE FROM pg_temp.usage_staging;
END
$$;

-- The writer's entry point since this migration: 0061's usage_ingest_staged, plus how many stored rows the batch
-- replaced (so that counting inserted - replaced counts rows). The outcomes stay in pg_temp.usage_outcomes until
-- the transaction ends.
CREATE FUNCTION usage_ingest_staged_outcomes(OUT inserted bigint, OUT duplicates bigint, OUT replaced bigint)
LANGUAGE plpgsql AS $$
DECLARE
    skipped bigint := 0;
BEGIN
    replaced := 0;
    IF EXISTS (SELECT FROM pg_temp.usage_staging WHERE call_key IS NOT NULL) THEN
        skipped := usage_calls_arbitrate();
        IF EXISTS (SELECT FROM pg_temp.usage_replaced) THEN
            SELECT count(*) INTO replaced FROM pg_temp.usage_replaced;
        END IF;
    END IF;
    SELECT i.inserted, i.duplicates + skipped INTO inserted, duplicates FROM usage_events_insert_staged() i;
    DELETE FROM pg_temp.usage_replaced;
END
$$;
