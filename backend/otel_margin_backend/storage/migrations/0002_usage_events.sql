-- One row per model call. Costs are exact NUMERIC (no scale: nothing is rounded); NULL cost = unpriced.
-- Token semantics follow OTel GenAI: input_tokens includes cache_read/cache_write tokens,
-- output_tokens includes reasoning_tokens.
CREATE TABLE usage_events (
    time                 timestamptz NOT NULL,
    event_id             bytea       NOT NULL,  -- trace_id||span_id, or a digest of the REST request id
    trace_id             bytea,
    span_id              bytea,
    request_id           text,
    customer_id          text        NOT NULL,
    feature              text        NOT NULL,
    service              text,
    environment          text,
    provider             text        NOT NULL,
    request_model        text,
    response_model       text,
    model                text        NOT NULL,  -- response model, else request model: the grouping key
    operation            text,
    input_tokens         bigint      NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    cache_read_tokens    bigint      NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
    cache_write_tokens   bigint      NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
    output_tokens        bigint      NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    reasoning_tokens     bigint      NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
    tokens_estimated     boolean     NOT NULL DEFAULT false,
    status               text        NOT NULL CHECK (status IN ('priced', 'unpriced', 'missing_usage')),
    cost_input           numeric,
    cost_cache_read      numeric,
    cost_cache_write     numeric,
    cost_output          numeric,
    cost_reasoning       numeric,
    cost_total           numeric,
    currency             text        NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    price_version        text,
    override_version     text,
    reported_cost        numeric,
    reported_cost_source text,
    PRIMARY KEY (event_id, time)
);

COMMENT ON TABLE usage_events IS 'One row per model call, priced at the price in force at its start time.';

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- 1-day chunks: retention drops whole days, and a day of spans fits memory comfortably.
        PERFORM create_hypertable('usage_events', 'time', chunk_time_interval => interval '1 day');
    ELSE
        CREATE INDEX usage_events_time_idx ON usage_events (time DESC);
    END IF;
END
$$;
