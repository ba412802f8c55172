-- The P&L on the bill's numbers (issue 16.4): with the session setting otel_margin.cost_basis = 'billed' (set by
-- `otel-margin pnl --cost-basis billed`), usage_rollup_range(), which every P&L function reads, scales the cost of
-- each day x provider x model to what the provider billed for it: cost x billed / computed, where computed is that
-- day's priced cost of the model over every customer and feature (usage_daily). So a customer's share of a model's
-- day stays its share of the computed cost, and the day's total becomes the bill's, unseen calls and price
-- differences included (unpriced calls have no cost, so they get none). A day, provider and model without a bill
-- line (no import, or a model the bill names differently), or with no computed cost, keeps its computed cost.
-- Without the setting (the default, and for everything else that reads the rollups) nothing changes: same body as
-- 0065.

CREATE OR REPLACE FUNCTION usage_rollup_range(p_from timestamptz, p_to timestamptz)
RETURNS SETOF usage_hourly
LANGUAGE sql STABLE AS $$
    WITH days AS (
        SELECT CASE WHEN date_bin('1 day', p_from, o) = p_from THEN p_from
                    ELSE date_bin('1 day', p_from, o) + interval '24 hours' END AS first_day,
               date_bin('1 day', p_to, o) AS end_day
        FROM (SELECT timestamptz '2000-01-01 00:00:00+00' AS o) origin
    ), picked AS (
        SELECT h.* FROM usage_hourly h, days
        WHERE h.bucket >= p_from AND h.bucket < p_to
          AND NOT (h.bucket >= days.first_day AND h.bucket < days.end_day)
        UNION ALL
        SELECT d.* FROM usage_daily d, days WHERE d.day >= days.first_day AND d.day < days.end_day
    ), factors AS (
        SELECT b.day, b.provider, b.model, b.billed / c.computed AS factor
        FROM (SELECT l.day, l.provider, l.model, sum(l.amount) AS billed
              FROM bill_lines_latest l, days
              WHERE l.day >= ((days.first_day - interval '1 day') AT TIME ZONE 'UTC')::date
                AND l.day <= (days.end_day AT TIME ZONE 'UTC')::date
              GROUP BY 1, 2, 3) b
        JOIN (SELECT (d.day AT TIME ZONE 'UTC')::date AS day, d.provider, d.model, sum(d.cost) AS computed
              FROM usage_daily d, days
              WHERE d.day >= days.first_day - interval '1 day' AND d.day <= days.end_day
              GROUP BY 1, 2, 3) c USING (day, provider, model)
        WHERE c.computed > 0
          AND current_setting('otel_margin.cost_basis', true) = 'billed'
    )
    SELECT p.bucket, p.customer_id, p.feature, p.provider, p.model, p.calls, p.input_tokens, p.cache_read_tokens,
           p.cache_write_tokens, p.output_tokens, p.reasoning_tokens,
           CASE WHEN f.factor IS NULL THEN p.cost ELSE round(p.cost * f.factor, 10) END,
           p.unpriced_calls, p.missing_usage_calls, p.estimated_calls, p.reported_cost
    FROM picked p
    LEFT JOIN factors f ON f.day = (p.bucket AT TIME ZONE 'UTC')::date AND f.provider = p.provider
                       AND f.model = p.model
$$;
