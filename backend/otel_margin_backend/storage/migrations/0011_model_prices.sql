-- The prices, facts and quality scores of the book in force, for dashboards and the simulator.
-- Rewritten as a whole (pricing/store.py publish()) whenever the active data version or the overrides
-- change; the rows always describe one (price_version, override_version) pair.

-- Prices with effective ranges: one row per provider x model x price kind x condition x range.
-- valid_from NULL: since the start of the data; valid_to NULL: still in force (ranges are [from, to)).
-- condition '' is the standard price; others narrow it: 'service_tier=flex', 'processing=batch' (price
-- variants: they replace the standard price of that kind while they apply), 'input_tokens>200000'
-- (long-context tier: every token of a call pays it once input exceeds the start), 'UTC 00:30-16:30'
-- (time of day, DeepSeek off-peak), or combinations joined with ' & '.
-- amount is what a call is charged after the overrides file's discount; list_amount the data's price.
-- source 'custom' rows are custom models from the overrides file (provider '' = any provider).
CREATE TABLE model_prices (
    price_version    text        NOT NULL,
    override_version text,
    source           text        NOT NULL CHECK (source IN ('data', 'custom')),
    provider         text        NOT NULL,
    model            text        NOT NULL,
    model_name       text,
    kind             text        NOT NULL,  -- the price key with its unit: input_mtok = USD per 1M input tokens
    condition        text        NOT NULL DEFAULT '',
    amount           numeric     NOT NULL CHECK (amount >= 0),
    list_amount      numeric     CHECK (list_amount >= 0),
    discount_percent numeric     CHECK (discount_percent BETWEEN 0 AND 100),
    currency         text        NOT NULL DEFAULT 'USD',
    valid_from       timestamptz,
    valid_to         timestamptz,
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from)
);

CREATE INDEX model_prices_model_idx ON model_prices (provider, model, kind);

COMMENT ON TABLE model_prices IS
    'Prices of the book in force per model, kind and condition, with effective ranges [valid_from, valid_to).';

CREATE VIEW model_prices_current AS
SELECT provider, model, model_name, source, kind, condition, amount, list_amount, discount_percent, currency,
       valid_from, price_version, override_version
FROM model_prices
WHERE (valid_from IS NULL OR valid_from <= now()) AND (valid_to IS NULL OR valid_to > now());

COMMENT ON VIEW model_prices_current IS 'The rows of model_prices in force now.';

-- What the data says about each model beside its price. Modalities are those with a price of their
-- own (the data has no capability flags): a model may accept images it bills as text tokens.
CREATE TABLE model_facts (
    price_version     text    NOT NULL,
    provider          text    NOT NULL,
    model             text    NOT NULL,
    model_name        text,
    context_window    integer,
    input_modalities  text[]  NOT NULL,
    output_modalities text[]  NOT NULL,
    deprecated        boolean NOT NULL,
    PRIMARY KEY (provider, model)
);

COMMENT ON TABLE model_facts IS 'Context window and priced modalities per model, from the active price data.';

-- Published benchmark figures (pricing/quality.yaml, extended or corrected by the user's quality file).
-- provider/model_id: the price data's model the entry resolves to (NULL when it resolves to none).
CREATE TABLE model_quality (
    vendor         text    NOT NULL,
    model          text    NOT NULL,
    aliases        text[]  NOT NULL,
    provider       text,
    model_id       text,
    benchmark      text    NOT NULL,
    benchmark_name text    NOT NULL,
    scale          text    NOT NULL,
    value          numeric NOT NULL,
    source         text    NOT NULL,
    as_of          date    NOT NULL,
    checked        boolean NOT NULL,
    note           text    NOT NULL,
    origin         text    NOT NULL CHECK (origin IN ('bundled', 'user')),
    table_version  text    NOT NULL,
    PRIMARY KEY (vendor, model, benchmark)
);

CREATE INDEX model_quality_model_idx ON model_quality (provider, model_id);

COMMENT ON TABLE model_quality IS
    'Benchmark scores per model version with source and date; origin user = from the user''s quality file.';
