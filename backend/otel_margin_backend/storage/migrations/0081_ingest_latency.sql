-- Receive -> stored latency of ingested events (docs/acceptance.md), as the backend measured it: each `serve`
-- process counts, per event, the time from its request reaching the batcher (decoded and normalized) to its batch
-- being committed, into the buckets of ingest_latency_bounds_s(), and writes one row per minute with events (and
-- one at shutdown). The same measure is served live as the otel_margin.ingest.latency histogram (docs/metrics.md).
CREATE TABLE ingest_latency (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    window_start timestamptz NOT NULL,  -- the first event counted in this row was stored at or after this
    events       bigint      NOT NULL CHECK (events > 0),
    requests     bigint      NOT NULL CHECK (requests > 0),
    counts       bigint[]    NOT NULL CHECK (cardinality(counts) = 13),  -- events per bucket, the last above 10 s
    max_s        double precision NOT NULL CHECK (max_s >= 0)
);

CREATE INDEX ingest_latency_recorded_idx ON ingest_latency (recorded_at);

COMMENT ON TABLE ingest_latency IS
    'Receive -> stored latency of ingested events: one histogram row per serve process and minute.';

-- The upper bounds (seconds) of the first 12 buckets; pipeline/metrics.py SECONDS_BUCKETS holds the same (a test).
CREATE FUNCTION ingest_latency_bounds_s() RETURNS numeric[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]::numeric[]
$$;

-- Median latency of the events stored in (p_from, p_to]: the bucket holding the middle event, interpolated
-- linearly inside it (as Prometheus' histogram_quantile does), never above the slowest event; above the last bound
-- it is that bound (10 s).
-- under_1s_pct: the share of events stored within 1 s. NULL median without rows.
CREATE FUNCTION ingest_latency_summary(p_from timestamptz, p_to timestamptz DEFAULT now(),
                                       OUT events bigint, OUT requests bigint, OUT rows_read bigint,
                                       OUT median_s numeric, OUT under_1s_pct numeric, OUT max_s numeric)
LANGUAGE sql STABLE AS $$
    WITH picked AS (
        SELECT * FROM ingest_latency WHERE recorded_at > p_from AND recorded_at <= p_to
    ), buckets AS (
        SELECT u.i::int AS i, sum(u.n)::numeric AS n
        FROM picked p CROSS JOIN LATERAL unnest(p.counts) WITH ORDINALITY AS u(n, i)
        GROUP BY u.i
    ), cumulative AS (
        SELECT i, n, sum(n) OVER (ORDER BY i) AS upto, sum(n) OVER () AS total FROM buckets
    ), middle AS (
        SELECT i, n, upto, total FROM cumulative WHERE upto >= total / 2 AND n > 0 ORDER BY i LIMIT 1
    )
    SELECT (SELECT coalesce(sum(p.events), 0) FROM picked p)::bigint,
           (SELECT coalesce(sum(p.requests), 0) FROM picked p)::bigint,
           (SELECT count(*) FROM picked),
           (SELECT least(CASE WHEN m.i > 12 THEN b[12]
                              ELSE coalesce(b[m.i - 1], 0)
                                   + (b[m.i] - coalesce(b[m.i - 1], 0)) * (m.total / 2 - (m.upto - m.n)) / m.n
                         END, round((SELECT max(p.max_s) FROM picked p)::numeric, 6))::numeric(12, 6)
            FROM middle m, ingest_latency_bounds_s() b),
           (SELECT CASE WHEN max(total) > 0
                        THEN trunc(100 * coalesce(sum(n) FILTER (WHERE i <= 9), 0) / max(total), 3) END
            FROM cumulative),
           round((SELECT max(p.max_s) FROM picked p)::numeric, 6)
$$;
