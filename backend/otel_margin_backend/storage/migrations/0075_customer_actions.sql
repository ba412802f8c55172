-- Customer actions (issue 15.1): what to do about each customer's margin in a UTC month, from pnl().
--
-- customer_actions(month, monitor_below, now): one row per customer of pnl(month, 'customer') with the action
--   unpriced             the customer's calls were made and none could be priced (cost NULL): price them first
--   no revenue           the customer has cost but no revenue booked (import revenue or map its Stripe customer)
--   reprice or throttle  the margin is negative
--   monitor              the margin % is below monitor_below (the floor; OTEL_MARGIN_ACTIONS_MONITOR_BELOW_PERCENT)
--   ok                   otherwise
-- and negative_two_months: the margin is negative in this month and in the month before (the tutorial's "margin
-- < 0 for 2 consecutive months"). The month is the calendar UTC month; a month still running stops at the end of
-- now's UTC hour, so its revenue is prorated to the elapsed part as pnl() does for any range. The CLI, REST, the
-- overview's table and the "two months running" alert all read this one function.

CREATE FUNCTION customer_actions(p_month date, p_monitor_below numeric DEFAULT 10, p_now timestamptz DEFAULT now())
RETURNS TABLE (
    customer text, month date, revenue numeric, cost numeric, margin numeric, margin_pct numeric,
    previous_margin numeric, negative_two_months boolean, action text, unpriced_calls bigint,
    reporting_currency text
)
LANGUAGE sql STABLE AS $$
    WITH m AS (
        SELECT date_trunc('month', p_month::timestamp)::date AS month
    ), b AS (
        SELECT m.month,
               m.month::timestamp AT TIME ZONE 'UTC' AS start,
               greatest(m.month::timestamp AT TIME ZONE 'UTC',
                        least((m.month + interval '1 month') AT TIME ZONE 'UTC',
                              (date_trunc('hour', p_now AT TIME ZONE 'UTC') + interval '1 hour') AT TIME ZONE 'UTC'))
                   AS stop,
               (m.month - interval '1 month') AT TIME ZONE 'UTC' AS previous
        FROM m
    ), cur AS (
        SELECT p.* FROM b CROSS JOIN LATERAL pnl(b.start, b.stop, 'customer') p
    ), prev AS (
        SELECT p.key, p.margin FROM b CROSS JOIN LATERAL pnl(b.previous, b.start, 'customer') p
    ), acted AS (
        SELECT c.key, b.month, c.revenue, c.cost, c.margin, c.margin_pct, pv.margin AS previous_margin,
               coalesce(c.margin < 0 AND pv.margin < 0, false) AS negative_two_months,
               CASE WHEN c.cost IS NULL THEN 'unpriced'
                    WHEN c.revenue IS NULL THEN 'no revenue'
                    WHEN c.margin < 0 THEN 'reprice or throttle'
                    WHEN c.margin_pct < p_monitor_below THEN 'monitor'
                    ELSE 'ok' END AS action,
               c.unpriced_calls, c.reporting_currency
        FROM cur c CROSS JOIN b LEFT JOIN prev pv ON pv.key = c.key
    )
    SELECT * FROM acted a
    ORDER BY array_position(ARRAY['reprice or throttle', 'unpriced', 'no revenue', 'monitor', 'ok'], a.action),
             a.margin NULLS LAST, a.key
$$;

COMMENT ON FUNCTION customer_actions(date, numeric, timestamptz) IS
    'Per customer of a UTC month: revenue, cost, margin, the action (reprice or throttle, monitor, ok, unpriced, '
    'no revenue) and whether the margin was negative two months running.';
