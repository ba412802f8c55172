-- Payback of a model swap (issue 15.2): what moving a feature to the suggested model costs in engineering time,
-- what it saves a month, and how many months the saving takes to pay that back.
--
-- swap_payback(savings, period_start, period_end, engineering_hours, hourly_rate) is the one definition the CLI
-- (simulate), REST (GET /v1/simulate) and the Grafana simulator dashboard (simulator_latest_payback) read:
--   migration_cost   engineering_hours * hourly_rate (USD, exact)
--   monthly_savings  the savings over the simulated range [period_start, period_end) scaled to 30 days
--                    (savings * 30 days / the range's length), rounded to the cent
--   payback_months   migration_cost / monthly_savings, rounded to 0.1 month; NULL ("no payback") when the monthly
--                    saving is not above $0.00: a swap that saves nothing (or costs more) never pays back
-- A NULL savings (no price) gives NULL monthly savings and payback; NULL hours or rate a NULL migration cost.

ALTER TABLE simulator_runs
    ADD COLUMN engineering_hours numeric CHECK (engineering_hours >= 0),  -- NULL for runs before 0076
    ADD COLUMN hourly_rate       numeric CHECK (hourly_rate >= 0);

COMMENT ON COLUMN simulator_runs.engineering_hours IS 'Engineering hours a swap takes (OTEL_MARGIN_SIMULATOR_ENGINEERING_HOURS).';
COMMENT ON COLUMN simulator_runs.hourly_rate IS 'USD per engineering hour (OTEL_MARGIN_SIMULATOR_HOURLY_RATE).';

CREATE FUNCTION swap_payback(
    p_savings numeric, p_period_start timestamptz, p_period_end timestamptz,
    p_engineering_hours numeric, p_hourly_rate numeric
)
RETURNS TABLE (migration_cost numeric, monthly_savings numeric, payback_months numeric)
LANGUAGE sql IMMUTABLE AS $$
    SELECT c.migration_cost, m.monthly_savings,
           CASE WHEN m.monthly_savings > 0 THEN round(c.migration_cost / m.monthly_savings, 1) END
    FROM (SELECT p_engineering_hours * p_hourly_rate AS migration_cost) c,
         (SELECT round(p_savings * 2592000 / nullif(extract(epoch FROM p_period_end - p_period_start), 0), 2)
              AS monthly_savings) m
$$;

COMMENT ON FUNCTION swap_payback(numeric, timestamptz, timestamptz, numeric, numeric) IS
    'Migration cost (hours x rate), monthly savings (the range''s savings scaled to 30 days, cents) and payback '
    'months (cost / monthly savings, 0.1; NULL when the monthly savings are not above 0).';

-- The latest run's results with each candidate's payback, at the hours and rate the run was made with.
CREATE VIEW simulator_latest_payback AS
SELECT l.*, r.period_start, r.period_end, r.engineering_hours, r.hourly_rate,
       p.migration_cost, p.monthly_savings, p.payback_months
FROM simulator_latest l
JOIN simulator_runs r USING (run_id)
CROSS JOIN LATERAL swap_payback(l.savings, r.period_start, r.period_end, r.engineering_hours, r.hourly_rate) p;

COMMENT ON VIEW simulator_latest_payback IS
    'simulator_latest with each candidate''s migration cost, monthly savings and payback months (swap_payback).';
