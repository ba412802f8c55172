-- Price data versions and the sync log (pricing/store.py, pricing/sync.py; see pricing/README.md).
--
-- A version is one genai-prices data snapshot. Fetched data is kept byte for byte (`data`), so the
-- book that priced a row can be rebuilt exactly: `price_version` is what usage_events.price_version
-- records ("genai-prices data sha256:<12 hex>"), and `data_sha256` is the full hash of `data`.
-- The data bundled with the installed genai-prices package is recorded too (source 'bundled', `data`
-- NULL: it is rebuilt from the package named by `price_version`, e.g. "genai-prices 0.2.3").
-- Exactly one version is active: the last good one, which every otel-margin process loads at start.
CREATE TABLE price_versions (
    version_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    price_version  text        NOT NULL UNIQUE,
    source         text        NOT NULL,
    fetched_at     timestamptz NOT NULL DEFAULT now(),
    provider_count integer     NOT NULL CHECK (provider_count >= 0),
    model_count    integer     NOT NULL CHECK (model_count >= 0),
    data_sha256    text        UNIQUE CHECK (data_sha256 ~ '^[0-9a-f]{64}$'),
    data           bytea,
    active         boolean     NOT NULL DEFAULT false,
    activated_at   timestamptz,
    CHECK ((data IS NULL) = (data_sha256 IS NULL))
);

CREATE UNIQUE INDEX price_versions_one_active ON price_versions (active) WHERE active;

COMMENT ON TABLE price_versions IS
    'genai-prices data snapshots (raw data.json bytes, or NULL for the bundled data); one is active.';

-- The user's overrides files, by content version (the 12-hex hash usage_events.override_version records).
CREATE TABLE price_override_versions (
    override_version text        PRIMARY KEY,
    source           text        NOT NULL,
    first_seen       timestamptz NOT NULL DEFAULT now(),
    content          jsonb       NOT NULL
);

COMMENT ON TABLE price_override_versions IS
    'Overrides files by content version (normalized content: discounts, custom models, aliases).';

-- Every sync attempt, good or bad: what dashboards and alerts read.
CREATE TABLE price_sync_attempts (
    attempt_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    source        text        NOT NULL,
    trigger       text        NOT NULL CHECK (trigger IN ('cli', 'schedule')),
    outcome       text        NOT NULL CHECK (outcome IN ('ok', 'failed')),
    price_version text,        -- the version fetched (ok), NULL when it failed before validation
    new_version   boolean     NOT NULL DEFAULT false,  -- the data had never been stored before
    model_count   integer,
    duration_ms   integer     NOT NULL CHECK (duration_ms >= 0),
    error         text,        -- one line, NULL when ok
    CHECK ((outcome = 'ok') = (error IS NULL))
);

CREATE INDEX price_sync_attempts_time_idx ON price_sync_attempts (attempted_at DESC);

COMMENT ON TABLE price_sync_attempts IS 'Every price-data sync attempt with its outcome (ok or failed) and error.';

CREATE VIEW price_sync_failures_24h AS
SELECT attempt_id, attempted_at, source, trigger, error, duration_ms
FROM price_sync_attempts
WHERE outcome = 'failed' AND attempted_at > now() - interval '24 hours';

COMMENT ON VIEW price_sync_failures_24h IS 'Price-data sync attempts that failed in the last 24 hours (alert on any row).';

-- One row: the version in force and how fresh it is (alert when no sync succeeded for two days).
CREATE VIEW price_sync_status AS
SELECT v.price_version AS active_version,
       v.source AS active_source,
       v.model_count AS active_model_count,
       v.activated_at,
       (SELECT max(attempted_at) FROM price_sync_attempts WHERE outcome = 'ok') AS last_success_at,
       (SELECT max(attempted_at) FROM price_sync_attempts WHERE outcome = 'failed') AS last_failure_at,
       (SELECT count(*) FROM price_sync_attempts
        WHERE outcome = 'failed' AND attempted_at > now() - interval '24 hours') AS failures_24h
FROM (SELECT 1) one
LEFT JOIN price_versions v ON v.active;

COMMENT ON VIEW price_sync_status IS
    'The active price version, the last successful and failed sync, and failures in the last 24 hours.';
