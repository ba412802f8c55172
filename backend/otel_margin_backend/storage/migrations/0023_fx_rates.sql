-- Exchange rates to the reporting currency (`otel-margin fx import rates.csv`) and revenue converted with them.
-- One unit of `currency` is worth `rate` units of `reporting_currency`. Revenue in a currency without a rate in
-- force is returned unconverted and flagged (converted = false), never added into another currency's total.

CREATE TABLE fx_rates (
    reporting_currency text        NOT NULL CHECK (reporting_currency ~ '^[A-Z]{3}$'),
    currency           text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    day                date        NOT NULL,
    rate               numeric     NOT NULL CHECK (rate > 0),
    imported_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reporting_currency, currency, day),
    CHECK (currency <> reporting_currency)
);

-- The reporting currency the views use; set from the configuration by `otel-margin fx import` (and at startup).
CREATE TABLE revenue_reporting (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    currency text    NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$')
);

INSERT INTO revenue_reporting DEFAULT VALUES;

-- Set the reporting currency; returns the previous one.
CREATE FUNCTION revenue_set_reporting_currency(p_currency text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    previous text;
BEGIN
    SELECT currency INTO previous FROM revenue_reporting FOR UPDATE;
    UPDATE revenue_reporting SET currency = p_currency;
    RETURN previous;
END
$$;

CREATE FUNCTION fx_rate_upsert(p_reporting_currency text, p_currency text, p_day date, p_rate numeric)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO fx_rates (reporting_currency, currency, day, rate)
    VALUES (p_reporting_currency, p_currency, p_day, p_rate)
    ON CONFLICT (reporting_currency, currency, day) DO UPDATE SET rate = EXCLUDED.rate, imported_at = now()
$$;

-- The rate in force for a month: the latest rate dated on or before the month's last day (a monthly rate dated
-- the 1st, or the month's closing rate when rates are daily). 1 for the reporting currency itself; NULL if none.
CREATE FUNCTION fx_rate_in_force(p_reporting_currency text, p_currency text, p_month date) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_currency = p_reporting_currency THEN 1::numeric ELSE (
        SELECT r.rate FROM fx_rates r
        WHERE r.reporting_currency = p_reporting_currency AND r.currency = p_currency
          AND r.day < (p_month + interval '1 month')::date
        ORDER BY r.day DESC LIMIT 1
    ) END
$$;

-- revenue_monthly with each row also in the reporting currency (exact products, not rounded).
CREATE FUNCTION revenue_monthly_converted(p_reporting_currency text)
RETURNS TABLE (
    customer_id text, month timestamptz, currency text, revenue numeric, refunds numeric, net numeric,
    discounts numeric, tax numeric, reporting_currency text, rate numeric, revenue_reporting numeric,
    refunds_reporting numeric, net_reporting numeric, converted boolean
)
LANGUAGE sql STABLE AS $$
    SELECT m.customer_id, m.month, m.currency, m.revenue, m.refunds, m.net, m.discounts, m.tax,
           p_reporting_currency, r.rate, m.revenue * r.rate, m.refunds * r.rate, m.net * r.rate, r.rate IS NOT NULL
    FROM revenue_monthly m
    CROSS JOIN LATERAL (
        SELECT fx_rate_in_force(p_reporting_currency, m.currency, (m.month AT TIME ZONE 'UTC')::date) AS rate
    ) r
$$;

CREATE VIEW revenue_monthly_reporting AS
SELECT * FROM revenue_monthly_converted((SELECT currency FROM revenue_reporting));

COMMENT ON VIEW revenue_monthly_reporting IS
    'revenue_monthly converted to the reporting currency by the rate in force for the month; converted=false rows '
    'have no rate and are never summed into the reporting currency.';

-- Per customer and month in the reporting currency, with the currencies that could not be converted named.
CREATE VIEW revenue_monthly_reporting_totals AS
SELECT customer_id, month, reporting_currency,
       sum(revenue_reporting) FILTER (WHERE converted) AS revenue,
       sum(refunds_reporting) FILTER (WHERE converted) AS refunds,
       sum(net_reporting) FILTER (WHERE converted) AS net,
       coalesce(array_agg(currency ORDER BY currency) FILTER (WHERE NOT converted), '{}') AS unconverted_currencies
FROM revenue_monthly_reporting
GROUP BY 1, 2, 3;
