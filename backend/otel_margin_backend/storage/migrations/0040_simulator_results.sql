-- Model-swap cost simulator results (simulator/README.md), materialized on a schedule for dashboards.
-- One simulator_runs row per run; one simulator_results row per feature x current model x candidate of that run.
-- Money is exact NUMERIC (USD, no scale: nothing is rounded).

CREATE TABLE simulator_runs (
    run_id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    computed_at      timestamptz NOT NULL,             -- the prices in force then are the "current" prices
    period_start     timestamptz NOT NULL,             -- calls simulated: period_start <= time < period_end
    period_end       timestamptz NOT NULL,
    price_version    text        NOT NULL,
    override_version text,
    candidates       text[]      NOT NULL,
    groups           integer     NOT NULL CHECK (groups >= 0),
    CHECK (period_start < period_end)
);

CREATE INDEX simulator_runs_computed_at_idx ON simulator_runs (computed_at DESC, run_id DESC);

COMMENT ON TABLE simulator_runs IS 'One materialized run of the model-swap cost simulator.';

CREATE TABLE simulator_results (
    run_id             bigint      NOT NULL REFERENCES simulator_runs ON DELETE CASCADE,
    computed_at        timestamptz NOT NULL,
    feature            text        NOT NULL,
    provider           text        NOT NULL,           -- the current model, as stored in usage_events
    model              text        NOT NULL,
    candidate          text        NOT NULL,           -- as configured, e.g. openai/gpt-4.1-mini
    candidate_model    text        NOT NULL,           -- as resolved in the price book
    events             bigint      NOT NULL CHECK (events >= 0),
    skipped_events     bigint      NOT NULL CHECK (skipped_events >= 0),
    cost               numeric     NOT NULL,           -- recorded cost of the simulated calls
    current_cost       numeric,                        -- the same calls on the current model at current prices
    simulated_cost     numeric,                        -- ... on the candidate at current prices (NULL: no price)
    savings            numeric,                        -- current_cost - simulated_cost
    savings_percent    numeric,                        -- rounded to 0.01
    benchmark          text,
    quality_current    numeric,
    quality_candidate  numeric,
    quality_per_dollar numeric,
    max_input_tokens   bigint      NOT NULL,
    context_window     bigint,
    excluded_reason    text,                           -- NULL when the candidate is eligible
    rank               integer,                        -- 1 = best quality per dollar; NULL when excluded
    suggested          boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, feature, provider, model, candidate)
);

CREATE UNIQUE INDEX simulator_results_one_suggestion_idx ON simulator_results (run_id, feature, provider, model)
    WHERE suggested;

COMMENT ON TABLE simulator_results IS 'Per feature, current model and candidate: cost now vs simulated cost, quality.';

-- The latest run's results: what dashboards show.
CREATE VIEW simulator_latest AS
SELECT r.*
FROM simulator_results r
WHERE r.run_id = (SELECT run_id FROM simulator_runs ORDER BY computed_at DESC, run_id DESC LIMIT 1);

COMMENT ON VIEW simulator_latest IS 'simulator_results of the most recent simulator run.';
