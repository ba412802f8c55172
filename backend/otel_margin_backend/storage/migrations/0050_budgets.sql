-- Budgets (budgets/README.md): a limit on AI cost for a scope and a UTC calendar period, and budget_status, the
-- single source of truth that Grafana, `otel-margin budgets status` and GET /v1/budgets read.
--
-- Scope: every column of customer_id, feature, provider, model that is set must match (all NULL = the whole
-- organization). Period: the current UTC month or UTC day. Limit: an exact amount in `currency`, or a percentage
-- of the net revenue (after refunds) of the scope's customer, or of the organization when no customer is set.
-- Spend is usage_hourly.cost (priced in USD), converted to the budget's currency with the USD rate in force for
-- the month (fx_rates); without a rate the spend is unknown (state 'no_fx_rate') and nothing alerts.

CREATE TABLE budgets (
    name             text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
    description      text        NOT NULL DEFAULT '',
    customer_id      text        CHECK (customer_id <> ''),
    feature          text        CHECK (feature <> ''),
    provider         text        CHECK (provider <> ''),
    model            text        CHECK (model <> ''),
    period           text        NOT NULL CHECK (period IN ('month', 'day')),
    currency         text        NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    limit_amount     numeric     CHECK (limit_amount > 0),
    revenue_percent  numeric     CHECK (revenue_percent > 0),
    warning_percent  numeric     CHECK (warning_percent > 0),
    critical_percent numeric     CHECK (critical_percent > 0),
    exceeded_percent numeric     NOT NULL CHECK (exceeded_percent > 0),
    managed_by       text        NOT NULL CHECK (managed_by IN ('file', 'api')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((limit_amount IS NULL) <> (revenue_percent IS NULL)),
    CHECK (coalesce(warning_percent < coalesce(critical_percent, exceeded_percent), true)
           AND coalesce(critical_percent < exceeded_percent, true))
);

COMMENT ON TABLE budgets IS 'AI cost budgets: scope, UTC period, limit and alert thresholds (see budgets/README.md).';

-- One lock for everything that changes budgets or their alerts, so evaluations never interleave.
CREATE FUNCTION budget_lock() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7310593858400000050)
$$;

-- The UTC calendar period ('month' or 'day') that contains p_at, as [period_start, period_end).
CREATE FUNCTION budget_period_bounds(p_period text, p_at timestamptz,
                                     OUT period_start timestamptz, OUT period_end timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s AT TIME ZONE 'UTC',
           (s + CASE p_period WHEN 'month' THEN interval '1 month' ELSE interval '1 day' END) AT TIME ZONE 'UTC'
    FROM (SELECT date_trunc(p_period, p_at AT TIME ZONE 'UTC') AS s) t
$$;

-- A budget's scope as JSON ({} for the organization) and as a label for tables and messages.
CREATE FUNCTION budget_scope(b budgets) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'customer', b.customer_id, 'feature', b.feature, 'provider', b.provider, 'model', b.model))
$$;

CREATE FUNCTION budget_scope_label(b budgets) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(concat_ws(', ', 'customer=' || b.customer_id, 'feature=' || b.feature,
                                     'provider=' || b.provider, 'model=' || b.model), ''), 'organization')
$$;

-- p_percent % of the net revenue (revenue_monthly.net: after refunds, credit notes and lost disputes) of one
-- customer, or of the organization when p_customer_id is NULL, for [p_start, p_end), in p_currency; p_percent 100
-- is the revenue itself. Revenue is recognized per UTC month; a period covering part of a month gets that share
-- of it, prorated by time (as the P&L does), with one division per month so that a day of a 30-day month at 30 %
-- of 1000.00 is exactly 10. Revenue in another currency is converted with the rate in force for its month
-- (fx_rates); revenue without a rate is left out, never added unconverted.
CREATE FUNCTION budget_revenue(p_customer_id text, p_start timestamptz, p_end timestamptz, p_currency text,
                               p_percent numeric DEFAULT 100)
RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(CASE WHEN r.month >= p_start AND m.month_end <= p_end THEN r.net_reporting * p_percent / 100
                             ELSE r.net_reporting * p_percent
                                  * extract(epoch FROM least(m.month_end, p_end) - greatest(r.month, p_start))
                                  / (extract(epoch FROM m.month_end - r.month) * 100) END), 0)
    FROM revenue_monthly_converted(p_currency) r
    CROSS JOIN LATERAL (
        SELECT ((r.month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC' AS month_end
    ) m
    WHERE r.converted AND r.month < p_end AND m.month_end > p_start
      AND (p_customer_id IS NULL OR r.customer_id = p_customer_id)
$$;

-- What a budget measures for [p_start, p_end): its spend in USD and in its currency (NULL without an exchange
-- rate), calls that could not be priced, the revenue (percent-of-revenue limits only) and the limit.
CREATE FUNCTION budget_measure(b budgets, p_start timestamptz, p_end timestamptz,
                               OUT spend_usd numeric, OUT spend numeric, OUT unpriced_calls bigint,
                               OUT revenue numeric, OUT limit_amount numeric)
LANGUAGE sql STABLE AS $$
    SELECT u.spend_usd,
           u.spend_usd * x.rate,
           u.unpriced_calls,
           r.revenue,
           coalesce(b.limit_amount, trim_scale(greatest(r.share, 0)))
    FROM (
        SELECT coalesce(sum(h.cost), 0) AS spend_usd, coalesce(sum(h.unpriced_calls), 0)::bigint AS unpriced_calls
        FROM usage_rollup_range(p_start, p_end) h  -- whole days from usage_daily, edges from usage_hourly
        WHERE (b.customer_id IS NULL OR h.customer_id = b.customer_id)
          AND (b.feature IS NULL OR h.feature = b.feature)
          AND (b.provider IS NULL OR h.provider = b.provider)
          AND (b.model IS NULL OR h.model = b.model)
    ) u
    CROSS JOIN (
        SELECT fx_rate_in_force(b.currency, 'USD', date_trunc('month', p_start AT TIME ZONE 'UTC')::date) AS rate
    ) x
    CROSS JOIN (
        SELECT CASE WHEN b.revenue_percent IS NOT NULL
                    THEN budget_revenue(b.customer_id, p_start, p_end, b.currency) END AS revenue,
               CASE WHEN b.revenue_percent IS NOT NULL
                    THEN budget_revenue(b.customer_id, p_start, p_end, b.currency, b.revenue_percent) END AS share
    ) r
$$;

-- The one rule for "threshold reached": some spend, and spend >= limit x percent / 100. A limit of 0 (a
-- percent-of-revenue budget without revenue) is reached by any spend.
CREATE FUNCTION budget_crossed(p_spend numeric, p_limit numeric, p_percent numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_spend > 0 AND p_spend * 100 >= p_limit * p_percent
$$;

CREATE FUNCTION budget_state(p_spend numeric, p_limit numeric, p_warning numeric, p_critical numeric,
                             p_exceeded numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_spend IS NULL THEN 'no_fx_rate'
                WHEN budget_crossed(p_spend, p_limit, p_exceeded) THEN 'exceeded'
                WHEN coalesce(budget_crossed(p_spend, p_limit, p_critical), false) THEN 'critical'
                WHEN coalesce(budget_crossed(p_spend, p_limit, p_warning), false) THEN 'warning'
                ELSE 'ok' END
$$;

-- Run-rate forecast at period end: spend / elapsed fraction of the period, rounded to 2 decimals. NULL before any
-- time has elapsed; the spend itself once the period is over.
CREATE FUNCTION budget_forecast(p_spend numeric, p_start timestamptz, p_end timestamptz, p_at timestamptz)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_at <= p_start THEN NULL
                WHEN p_at >= p_end THEN p_spend
                ELSE round(p_spend * extract(epoch FROM p_end - p_start) / extract(epoch FROM p_at - p_start), 2)
           END
$$;

-- Every budget in the period that contains p_at. percent_used and forecast_percent are truncated (never rounded
-- up) to 2 decimals, so a shown 75.00 % has really reached 75 %; money is exact.
CREATE FUNCTION budget_status_at(p_at timestamptz)
RETURNS TABLE (
    budget text, description text, scope jsonb, scope_label text,
    customer_id text, feature text, provider text, model text,
    period text, period_start timestamptz, period_end timestamptz,
    currency text, limit_kind text, percent_of_revenue numeric, revenue numeric, limit_amount numeric,
    spend numeric, spend_usd numeric, percent_used numeric, forecast numeric, forecast_percent numeric,
    state text, warning_percent numeric, critical_percent numeric, exceeded_percent numeric,
    unpriced_calls bigint, managed_by text, as_of timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT b.name, b.description, budget_scope(b), budget_scope_label(b),
           b.customer_id, b.feature, b.provider, b.model,
           b.period, p.period_start, p.period_end,
           b.currency, CASE WHEN b.limit_amount IS NOT NULL THEN 'amount' ELSE 'percent_of_revenue' END,
           b.revenue_percent, m.revenue, m.limit_amount,
           m.spend, m.spend_usd,
           CASE WHEN m.limit_amount > 0 THEN trunc(m.spend * 100 / m.limit_amount, 2) END,
           f.forecast,
           CASE WHEN m.limit_amount > 0 THEN trunc(f.forecast * 100 / m.limit_amount, 2) END,
           budget_state(m.spend, m.limit_amount, b.warning_percent, b.critical_percent, b.exceeded_percent),
           b.warning_percent, b.critical_percent, b.exceeded_percent,
           m.unpriced_calls, b.managed_by, p_at
    FROM budgets b
    CROSS JOIN LATERAL budget_period_bounds(b.period, p_at) p
    CROSS JOIN LATERAL budget_measure(b, p.period_start, p.period_end) m
    CROSS JOIN LATERAL (SELECT budget_forecast(m.spend, p.period_start, p.period_end, p_at) AS forecast) f
$$;

CREATE VIEW budget_status AS
SELECT * FROM budget_status_at(now());

COMMENT ON VIEW budget_status IS
    'Each budget in its current UTC period: spend, limit, % used, run-rate forecast and state (ok, warning, '
    'critical, exceeded, no_fx_rate).';
