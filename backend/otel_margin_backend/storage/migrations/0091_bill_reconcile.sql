-- The bill against the spans (issue 16), one SQL source for the CLI, REST and Grafana. docs/reconciliation.md
-- explains every column and how to act on it.
--
-- bill_reconcile(from, to): per UTC day x provider x model, what the provider billed (bill_lines_latest: amounts of
-- its cost report, tokens of its usage report, or both from an invoice CSV) beside what otel-margin saw and priced
-- (usage_events: the calls, their tokens, their cost). Tokens are input + output in OTel's sense (input includes
-- cache reads and writes, output includes reasoning) on both sides. The gap, billed - computed, is split exactly:
--
--   rate       = billed / billed tokens: what the provider charged per token of this model that day
--   unseen     = rate x (billed tokens - seen tokens)   calls otel-margin never saw (negative: spans carry tokens
--                                                      the bill does not: double counting, another provider)
--   unpriced   = rate x tokens of the calls otel-margin could not price
--   price_diff = gap - unseen - unpriced               = rate x priced tokens - computed: the same tokens, other
--                                                      money (a stale or missing price, a discount not in overrides)
--   attributed = rate x tokens of calls with a customer: the bill's money otel-margin put on a customer
--   coverage % = attributed / billed x 100
--
-- unseen, unpriced and attributed are rounded to 6 decimals (price_diff takes the rest, so the parts add up to the
-- gap exactly). Without billed tokens (a cost line with no usage: tools, storage; an invoice without token counts)
-- the rate is unknown and only the gap is given. missing_from names the services of the mapped projects and API keys
-- (bill_mappings) whose billed tokens exceed their spans' tokens: the services that lack instrumentation.

CREATE TABLE bill_thresholds (
    only_row               boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    gap_alert_percent      numeric NOT NULL DEFAULT 2,
    coverage_floor_percent numeric NOT NULL DEFAULT 90
);
INSERT INTO bill_thresholds DEFAULT VALUES;

COMMENT ON TABLE bill_thresholds IS
    'The alert thresholds of the bill reconciliation (OTEL_MARGIN_BILLS_*_PERCENT, set at every migrate).';

CREATE FUNCTION bill_set_thresholds(p_gap numeric, p_floor numeric) RETURNS void
LANGUAGE sql AS $$
    UPDATE bill_thresholds SET gap_alert_percent = p_gap, coverage_floor_percent = p_floor
$$;

-- The spans of a range per day x provider x model x service x environment.
CREATE FUNCTION bill_span_usage(p_from date, p_to date)
RETURNS TABLE (
    day date, provider text, model text, service text, environment text, calls bigint, tokens numeric,
    unpriced_calls bigint, unpriced_tokens numeric, attributed_tokens numeric, computed numeric
)
LANGUAGE sql STABLE AS $$
    SELECT (e.time AT TIME ZONE 'UTC')::date, e.provider, e.model, e.service, e.environment, count(*),
           sum(e.input_tokens + e.output_tokens),
           count(*) FILTER (WHERE e.status = 'unpriced'),
           coalesce(sum(e.input_tokens + e.output_tokens) FILTER (WHERE e.status = 'unpriced'), 0),
           coalesce(sum(e.input_tokens + e.output_tokens) FILTER (WHERE e.customer_id <> '(unattributed)'), 0),
           coalesce(sum(e.cost_total), 0)
    FROM usage_events e
    WHERE e.time >= p_from::timestamp AT TIME ZONE 'UTC' AND e.time < (p_to + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1, 2, 3, 4, 5
$$;

-- Billed usage lines of a range with the service their project or API key maps to (an API key's mapping wins).
CREATE FUNCTION bill_usage_mapped(p_from date, p_to date)
RETURNS TABLE (
    day date, provider text, model text, project text, api_key text, service text, environment text, tokens numeric
)
LANGUAGE sql STABLE AS $$
    SELECT l.day, l.provider, l.model, l.project, l.api_key, coalesce(k.service, p.service),
           CASE WHEN k.service IS NOT NULL THEN k.environment ELSE p.environment END,
           sum(l.input_tokens + l.output_tokens)
    FROM bill_lines_latest l
    LEFT JOIN bill_mappings k ON k.provider = l.provider AND k.kind = 'api_key' AND k.external_id = l.api_key
                                 AND l.api_key <> ''
    LEFT JOIN bill_mappings p ON p.provider = l.provider AND p.kind = 'project' AND p.external_id = l.project
    WHERE l.day BETWEEN p_from AND p_to AND (l.input_tokens + l.output_tokens) > 0
    GROUP BY 1, 2, 3, 4, 5, 6, 7
$$;

CREATE FUNCTION bill_reconcile(p_from date, p_to date)
RETURNS TABLE (
    day date, provider text, model text, billed numeric, computed numeric, gap numeric, gap_pct numeric,
    billed_tokens numeric, seen_tokens numeric, calls bigint, unpriced_calls bigint,
    unseen numeric, price_diff numeric, unpriced numeric, attributed numeric, coverage_pct numeric,
    missing_from text
)
LANGUAGE sql STABLE AS $$
    WITH billed AS (
        SELECT l.day, l.provider, l.model, sum(l.amount) AS billed, sum(l.input_tokens + l.output_tokens) AS tokens
        FROM bill_lines_latest l
        WHERE l.day BETWEEN p_from AND p_to
        GROUP BY 1, 2, 3
    ), spans_by_service AS MATERIALIZED (
        SELECT * FROM bill_span_usage(p_from, p_to)
    ), spans AS (
        SELECT s.day, s.provider, s.model, sum(s.calls)::bigint AS calls, sum(s.tokens) AS tokens,
               sum(s.unpriced_calls)::bigint AS unpriced_calls, sum(s.unpriced_tokens) AS unpriced_tokens,
               sum(s.attributed_tokens) AS attributed_tokens, sum(s.computed) AS computed
        FROM spans_by_service s
        GROUP BY 1, 2, 3
    ), targets AS (
        -- Billed tokens per mapped service against that service's spans (any environment when none is mapped).
        SELECT u.day, u.provider, u.model, u.service, u.environment, sum(u.tokens) AS billed_tokens,
               coalesce((SELECT sum(x.tokens) FROM spans_by_service x
                         WHERE x.day = u.day AND x.provider = u.provider AND x.model = u.model
                           AND x.service = u.service
                           AND (u.environment IS NULL OR x.environment = u.environment)), 0) AS span_tokens
        FROM bill_usage_mapped(p_from, p_to) u
        WHERE u.service IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
    ), missing AS (
        SELECT t.day, t.provider, t.model,
               string_agg(t.service || coalesce('/' || t.environment, ''), ', ' ORDER BY t.service, t.environment)
                   AS services
        FROM targets t
        WHERE t.billed_tokens > t.span_tokens
        GROUP BY 1, 2, 3
    ), joined AS (
        SELECT coalesce(b.day, s.day) AS day, coalesce(b.provider, s.provider) AS provider,
               coalesce(b.model, s.model) AS model, coalesce(b.billed, 0) AS billed,
               coalesce(s.computed, 0) AS computed, coalesce(b.tokens, 0) AS billed_tokens,
               coalesce(s.tokens, 0) AS seen_tokens, coalesce(s.calls, 0) AS calls,
               coalesce(s.unpriced_calls, 0) AS unpriced_calls, coalesce(s.unpriced_tokens, 0) AS unpriced_tokens,
               coalesce(s.attributed_tokens, 0) AS attributed_tokens
        FROM billed b
        FULL JOIN spans s ON s.day = b.day AND s.provider = b.provider AND s.model = b.model
        -- Spans of providers without a bill say nothing about a bill: only billed providers are reconciled.
        WHERE b.provider IS NOT NULL
           OR s.provider IN (SELECT DISTINCT i.provider FROM bill_imports i WHERE i.status = 'ok')
    ), parts AS (
        SELECT j.*,
               CASE WHEN j.billed_tokens > 0
                    THEN round(j.billed * (j.billed_tokens - j.seen_tokens) / j.billed_tokens, 6) END AS unseen,
               CASE WHEN j.billed_tokens > 0
                    THEN round(j.billed * j.unpriced_tokens / j.billed_tokens, 6) END AS unpriced,
               CASE WHEN j.billed_tokens > 0
                    THEN round(j.billed * j.attributed_tokens / j.billed_tokens, 6) END AS attributed
        FROM joined j
    )
    SELECT p.day, p.provider, p.model, p.billed, p.computed, p.billed - p.computed,
           CASE WHEN p.billed <> 0 THEN round((p.billed - p.computed) / p.billed * 100, 2) END,
           p.billed_tokens, p.seen_tokens, p.calls, p.unpriced_calls,
           p.unseen, p.billed - p.computed - p.unseen - p.unpriced, p.unpriced, p.attributed,
           CASE WHEN p.billed <> 0 THEN round(p.attributed / p.billed * 100, 2) END,
           m.services
    FROM parts p
    LEFT JOIN missing m ON m.day = p.day AND m.provider = p.provider AND m.model = p.model
    ORDER BY p.day, p.provider, p.model
$$;

COMMENT ON FUNCTION bill_reconcile(date, date) IS
    'Per day x provider x model: billed vs computed, the gap split into unseen, price_diff and unpriced, coverage.';

-- bill_reconcile grouped: by model (provider x model over the range), day (day x provider), or provider. The parts
-- add up (sums of the rows); percentages are recomputed from the sums. A part is NULL when a row of the group has no
-- rate (billed without tokens): its money is in the gap only.
CREATE FUNCTION bill_reconcile_by(p_from date, p_to date, p_by text)
RETURNS TABLE (
    day date, provider text, model text, billed numeric, computed numeric, gap numeric, gap_pct numeric,
    billed_tokens numeric, seen_tokens numeric, calls bigint, unpriced_calls bigint,
    unseen numeric, price_diff numeric, unpriced numeric, attributed numeric, coverage_pct numeric,
    missing_from text, gap_alert boolean, coverage_alert boolean
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t bill_thresholds;
BEGIN
    IF p_by NOT IN ('detail', 'model', 'day', 'provider') THEN
        RAISE EXCEPTION 'bill_reconcile_by: cannot group by %; use detail, model, day, provider or project', p_by
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO t FROM bill_thresholds;
    RETURN QUERY
    WITH g AS (
        SELECT CASE WHEN p_by IN ('detail', 'day') THEN r.day END AS g_day, r.provider AS g_provider,
               CASE WHEN p_by IN ('detail', 'model') THEN r.model END AS g_model,
               sum(r.billed) AS billed, sum(r.computed) AS computed, sum(r.billed_tokens) AS billed_tokens,
               sum(r.seen_tokens) AS seen_tokens, sum(r.calls)::bigint AS calls,
               sum(r.unpriced_calls)::bigint AS unpriced_calls,
               CASE WHEN bool_and(r.unseen IS NOT NULL OR r.billed = 0) THEN sum(r.unseen) END AS unseen,
               CASE WHEN bool_and(r.unpriced IS NOT NULL OR r.billed = 0) THEN sum(r.unpriced) END AS unpriced,
               CASE WHEN bool_and(r.attributed IS NOT NULL OR r.billed = 0) THEN sum(r.attributed) END AS attributed,
               string_agg(DISTINCT r.missing_from, ', ') AS missing_from
        FROM bill_reconcile(p_from, p_to) r
        GROUP BY 1, 2, 3
    )
    SELECT g.g_day, g.g_provider, g.g_model, g.billed, g.computed, g.billed - g.computed,
           CASE WHEN g.billed <> 0 THEN round((g.billed - g.computed) / g.billed * 100, 2) END,
           g.billed_tokens, g.seen_tokens, g.calls, g.unpriced_calls, g.unseen,
           g.billed - g.computed - g.unseen - g.unpriced, g.unpriced, g.attributed,
           CASE WHEN g.billed <> 0 THEN round(g.attributed / g.billed * 100, 2) END,
           g.missing_from,
           g.billed > 0 AND abs(g.billed - g.computed) > g.billed * t.gap_alert_percent / 100,
           g.billed > 0 AND g.attributed IS NOT NULL AND g.attributed < g.billed * t.coverage_floor_percent / 100
    FROM g
    ORDER BY g.g_day NULLS FIRST, g.g_provider, abs(g.billed - g.computed) DESC, g.g_model;
END
$$;

-- Per provider x project (OpenAI project, Anthropic workspace): the bill, the services it maps to, and the tokens of
-- those services' spans. unseen: the billed money of the tokens no span of a mapped service carries (for an unmapped
-- project, unknown: map it).
CREATE FUNCTION bill_reconcile_projects(p_from date, p_to date)
RETURNS TABLE (
    provider text, project text, services text, billed numeric, billed_tokens numeric, seen_tokens numeric,
    unseen numeric
)
LANGUAGE sql STABLE AS $$
    WITH amounts AS (
        SELECT l.provider, l.project, sum(l.amount) AS billed
        FROM bill_lines_latest l WHERE l.day BETWEEN p_from AND p_to
        GROUP BY 1, 2
    ), usage AS (
        SELECT u.provider, u.project, sum(u.tokens) AS tokens,
               string_agg(DISTINCT u.service || coalesce('/' || u.environment, ''), ', ') AS services,
               bool_and(u.service IS NOT NULL) AS mapped
        FROM bill_usage_mapped(p_from, p_to) u
        GROUP BY 1, 2
    ), targets AS (
        SELECT DISTINCT u.provider, u.project, u.service, u.environment
        FROM bill_usage_mapped(p_from, p_to) u WHERE u.service IS NOT NULL
    ), seen AS (
        SELECT t.provider, t.project, sum(s.tokens) AS tokens
        FROM targets t
        JOIN bill_span_usage(p_from, p_to) s
          ON s.provider = t.provider AND s.service = t.service AND (t.environment IS NULL OR s.environment = t.environment)
        GROUP BY 1, 2
    )
    SELECT coalesce(a.provider, u.provider), coalesce(a.project, u.project), u.services, coalesce(a.billed, 0),
           coalesce(u.tokens, 0), CASE WHEN u.mapped THEN coalesce(s.tokens, 0) END,
           CASE WHEN u.mapped AND u.tokens > 0
                THEN round(coalesce(a.billed, 0) * (u.tokens - coalesce(s.tokens, 0)) / u.tokens, 6) END
    FROM amounts a
    FULL JOIN usage u ON u.provider = a.provider AND u.project = a.project
    LEFT JOIN seen s ON s.provider = coalesce(a.provider, u.provider) AND s.project = coalesce(a.project, u.project)
    ORDER BY 1, coalesce(a.billed, 0) DESC, 2
$$;

-- The latest import of each provider, for the "importer failing" alert and the dashboard.
CREATE VIEW bill_import_status AS
SELECT DISTINCT ON (provider) provider, import_id, started_at, finished_at, status, error,
       (SELECT max(i.finished_at) FROM bill_imports i WHERE i.provider = b.provider AND i.status = 'ok')
           AS last_success_at
FROM bill_imports b
ORDER BY provider, import_id DESC;
