-- Margin-target pricing (issue 15.3): per customer, the monthly revenue that reaches a target margin at the
-- trailing cost, and the price change it implies.
--
-- customer_target_pricing(target_pct, as_of): one row per customer of pnl(month, 'customer') where month is the
-- last full UTC calendar month that ended at or before as_of (default now(): on 2026-12-07, November):
--   required_revenue  cost / (1 - target_pct / 100), rounded UP to the cent (charging it reaches the target)
--   price_change_pct  (required_revenue - revenue) / revenue * 100, rounded to 0.01
--   note              NULL, or why a figure is missing:
--     unpriced              the customer's calls were made and none could be priced (cost NULL): no figures
--     no revenue            no revenue (or net refunds) booked in the month: the required revenue is shown, but
--                           a change against nothing is not a percentage
--     no cost               no AI cost in the month: any price reaches the target (required revenue 0.00)
--     target out of range   target_pct is not above -100 and below 100 (the CLI and REST refuse it first)
-- Revenue and cost are in the reporting currency, as pnl() gives them. The CLI (pnl --target-margin), REST
-- (GET /v1/pnl/target-margin) and the Customer P&L dashboard's "Price for the target margin" table read this.

CREATE FUNCTION customer_target_pricing(p_target_pct numeric, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (
    customer text, month date, revenue numeric, cost numeric, margin_pct numeric, target_margin_pct numeric,
    required_revenue numeric, price_change_pct numeric, note text, unpriced_calls bigint, reporting_currency text
)
LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT (date_trunc('month', p_as_of AT TIME ZONE 'UTC') - interval '1 month')::date AS month,
               p_target_pct > -100 AND p_target_pct < 100 AS valid
    ), p AS (
        SELECT b.month, b.valid, p.*
        FROM b CROSS JOIN LATERAL pnl(b.month::timestamp AT TIME ZONE 'UTC',
                                      (b.month + interval '1 month') AT TIME ZONE 'UTC', 'customer') p
    ), t AS (
        SELECT p.key, p.month, p.revenue, p.cost, p.margin_pct, p_target_pct AS target_margin_pct,
               CASE WHEN p.valid AND p.cost IS NOT NULL
                    THEN round(ceil(p.cost * 10000 / (100 - p_target_pct)) / 100, 2) END AS required_revenue,
               p.valid, p.unpriced_calls, p.reporting_currency
        FROM p
    )
    SELECT t.key, t.month, t.revenue, t.cost, t.margin_pct, t.target_margin_pct, t.required_revenue,
           CASE WHEN t.required_revenue IS NOT NULL AND t.revenue > 0 AND t.cost > 0
                THEN round((t.required_revenue - t.revenue) * 100 / t.revenue, 2) END AS price_change_pct,
           CASE WHEN NOT t.valid THEN 'target out of range'
                WHEN t.cost IS NULL THEN 'unpriced'
                WHEN coalesce(t.revenue, 0) <= 0 THEN 'no revenue'
                WHEN t.cost = 0 THEN 'no cost' END AS note,
           t.unpriced_calls, t.reporting_currency
    FROM t
    ORDER BY price_change_pct DESC NULLS LAST, t.required_revenue DESC NULLS LAST, t.key
$$;

COMMENT ON FUNCTION customer_target_pricing(numeric, timestamptz) IS
    'Per customer of the last full UTC month before as_of: the monthly revenue that reaches the target margin at '
    'that month''s cost (cost / (1 - target/100), up to the cent) and the price change in % it implies.';
