-- Helpers for `otel-margin retention` (storage/retention.py).

CREATE FUNCTION usage_events_is_hypertable() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN false;
    END IF;
    RETURN EXISTS (
        SELECT FROM timescaledb_information.hypertables
        WHERE hypertable_schema = 'public' AND hypertable_name = 'usage_events'
    );
END
$$;

-- One batch of a plain-PostgreSQL retention run; returns how many rows went.
CREATE FUNCTION usage_events_delete_before(cutoff timestamptz, batch_rows integer) RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM usage_events
        WHERE ctid IN (SELECT ctid FROM usage_events WHERE time < cutoff LIMIT batch_rows)
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;
