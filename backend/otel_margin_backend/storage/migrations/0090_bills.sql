-- What the providers billed (issue 16): each import of a provider's cost and usage reports (or of an invoice CSV)
-- is a bill_imports row; the days it stored are bill_days rows, and their lines bill_lines rows. A provider revises
-- the last days' figures, so a day is imported again and again: an import stores a day only when its lines differ
-- from the day's latest version (a re-import of unchanged days stores nothing), and the latest stored version of
-- each (provider, stream, day) is what bill_lines_latest shows. Older versions stay, as history.
--
-- A stream is one report of one provider: openai.costs and openai.usage, anthropic.cost_report and
-- anthropic.usage_report, or csv for an invoice. Cost streams carry amounts, usage streams token counts (a CSV line
-- may carry both). Token counts follow OTel (as usage_events): input_tokens includes cache reads and writes.

CREATE TABLE bill_imports (
    import_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider    text        NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    source      text        NOT NULL,            -- the API base URL, or the CSV file
    first_day   date        NOT NULL,
    last_day    date        NOT NULL CHECK (last_day >= first_day),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),
    trigger     text        NOT NULL CHECK (trigger IN ('cli', 'schedule', 'csv')),
    days_stored integer     NOT NULL DEFAULT 0,  -- days whose lines changed (0: the bill was as stored)
    lines       bigint      NOT NULL DEFAULT 0,  -- lines of the days stored
    error       text
);
CREATE INDEX bill_imports_provider_idx ON bill_imports (provider, started_at DESC);

COMMENT ON TABLE bill_imports IS 'One import of a provider bill (its cost and usage reports, or an invoice CSV).';

CREATE TABLE bill_days (
    import_id  bigint  NOT NULL REFERENCES bill_imports ON DELETE CASCADE,
    provider   text    NOT NULL,
    stream     text    NOT NULL,
    day        date    NOT NULL,
    digest     text    NOT NULL,  -- of the day's lines, to tell a revision from a repeat
    line_count integer NOT NULL,
    amount     numeric NOT NULL,  -- sum of the lines' amounts
    PRIMARY KEY (provider, stream, day, import_id)
);

COMMENT ON TABLE bill_days IS 'A version of one day of a bill stream; the highest import_id is the latest.';

CREATE TABLE bill_lines (
    import_id          bigint  NOT NULL,
    provider           text    NOT NULL,
    stream             text    NOT NULL,
    day                date    NOT NULL,
    model              text    NOT NULL DEFAULT '',  -- '' for lines that are not a model's (tools, storage)
    project            text    NOT NULL DEFAULT '',  -- OpenAI project, Anthropic workspace ('' = default or none)
    api_key            text    NOT NULL DEFAULT '',
    line_item          text    NOT NULL DEFAULT '',  -- the provider's own description of the line
    service_tier       text    NOT NULL DEFAULT '',  -- standard, batch, priority, ... where the report says
    requests           bigint  NOT NULL DEFAULT 0 CHECK (requests >= 0),
    input_tokens       bigint  NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    cache_read_tokens  bigint  NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
    cache_write_tokens bigint  NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
    output_tokens      bigint  NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    amount             numeric NOT NULL DEFAULT 0,
    currency           text    NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    FOREIGN KEY (provider, stream, day, import_id) REFERENCES bill_days ON DELETE CASCADE
);
CREATE INDEX bill_lines_day_idx ON bill_lines (provider, stream, day, import_id);

COMMENT ON TABLE bill_lines IS 'The lines of one version of a bill day: tokens (usage streams) and amounts (cost).';

CREATE VIEW bill_days_latest AS
SELECT DISTINCT ON (provider, stream, day) *
FROM bill_days
ORDER BY provider, stream, day, import_id DESC;

CREATE VIEW bill_lines_latest AS
SELECT l.*
FROM bill_lines l
JOIN bill_days_latest d USING (provider, stream, day, import_id);

COMMENT ON VIEW bill_lines_latest IS 'The lines of the latest version of every bill day: what the provider bills now.';

-- Where a provider's projects, workspaces and API keys run (the bills mapping file, loaded by bills_map_replace):
-- the service and environment their calls carry on spans, so a gap names the service that lacks instrumentation.
CREATE TABLE bill_mappings (
    provider    text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('project', 'api_key')),
    external_id text NOT NULL,
    service     text NOT NULL,
    environment text,          -- NULL: any environment of the service
    PRIMARY KEY (provider, kind, external_id)
);

COMMENT ON TABLE bill_mappings IS 'Provider project/workspace/API key -> otel-margin service (and environment).';
