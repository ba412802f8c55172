-- Recognized revenue (revenue/README.md): one row per source document x line x kind x UTC month, in the
-- currency's minor units (Stripe's convention: cents; yen for JPY; thousandths for KWD).
--
-- Rows are derived from their source document (a Stripe invoice, charge, credit note or dispute, or a manual
-- entry) and replaced as a whole by revenue_replace_entries() when the document changes, so a redelivered or
-- replayed document never changes a total. Signs follow the effect on the customer's money: revenue and tax
-- positive, discounts, refunds, credit notes and lost disputes negative.

-- Minor-unit exponent of a currency as Stripe's API counts it (docs.stripe.com/currencies): zero-decimal and
-- three-decimal currencies, two decimals otherwise (ISK, HUF and TWD stay two-decimal in Stripe's API).
-- revenue/currency.py holds the same lists; a test checks they agree.
CREATE FUNCTION currency_exponent(code text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN code IN ('BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV',
                      'XAF', 'XOF', 'XPF') THEN 0
        WHEN code IN ('BHD', 'JOD', 'KWD', 'OMR', 'TND') THEN 3
        ELSE 2
    END
$$;

-- Minor units as an exact amount in major units (1234 USD -> 12.34, 1234 JPY -> 1234).
CREATE FUNCTION minor_to_major(amount numeric, code text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(amount / (10::numeric ^ currency_exponent(code)), currency_exponent(code))
$$;

CREATE TABLE revenue_entries (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source             text        NOT NULL CHECK (source IN ('stripe', 'manual')),
    source_id          text        NOT NULL,  -- in_..., ch_..., cn_..., du_...; a manual entry's external_id
    source_line        text        NOT NULL DEFAULT '',  -- il_... (invoice line), refund:<refunded to>, ...
    kind               text        NOT NULL
                       CHECK (kind IN ('revenue', 'discount', 'tax', 'refund', 'credit_note', 'dispute')),
    month              date        NOT NULL CHECK (extract(day FROM month) = 1),  -- UTC calendar month
    amount_minor       bigint      NOT NULL,
    currency           text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    customer_id        text,       -- manual entries name the customer; Stripe ones resolve through the mapping
    stripe_customer_id text,
    invoice_id         text,
    charge_id          text,
    service_start      timestamptz,  -- the slice of the service period that falls in this month
    service_end        timestamptz,  -- (NULL for one-off amounts, counted when they happen)
    occurred_at        timestamptz NOT NULL,  -- when it was paid, refunded, credited, lost, or dated
    booked_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (source = 'stripe' OR customer_id IS NOT NULL),
    UNIQUE (source, source_id, source_line, kind, month)
);

CREATE INDEX revenue_entries_month_idx ON revenue_entries (month);
CREATE INDEX revenue_entries_stripe_customer_idx ON revenue_entries (stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;

COMMENT ON TABLE revenue_entries IS
    'Recognized revenue per source document, line, kind and UTC month, in minor units (see revenue/README.md).';

-- Every writer of revenue takes this lock first, so bookings that touch the same documents never interleave.
CREATE FUNCTION revenue_lock() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7310593858400000001)
$$;

-- Make a document's entries exactly p_entries (a JSON array of {source_line, kind, month, amount_minor,
-- service_start, service_end, occurred_at}). Returns false, touching nothing, when they are already exactly so.
CREATE FUNCTION revenue_replace_entries(
    p_source text, p_source_id text, p_currency text, p_customer_id text, p_stripe_customer_id text,
    p_invoice_id text, p_charge_id text, p_entries jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    same boolean;
BEGIN
    WITH wanted AS (
        SELECT e.source_line, e.kind, e.month, e.amount_minor, p_currency AS currency, p_customer_id AS customer_id,
               p_stripe_customer_id AS stripe_customer_id, p_invoice_id AS invoice_id, p_charge_id AS charge_id,
               e.service_start, e.service_end, e.occurred_at
        FROM jsonb_to_recordset(p_entries) AS e(
            source_line text, kind text, month date, amount_minor bigint,
            service_start timestamptz, service_end timestamptz, occurred_at timestamptz)
    ), present AS (
        SELECT source_line, kind, month, amount_minor, currency, customer_id, stripe_customer_id, invoice_id,
               charge_id, service_start, service_end, occurred_at
        FROM revenue_entries WHERE source = p_source AND source_id = p_source_id
    )
    SELECT NOT EXISTS (SELECT * FROM wanted EXCEPT ALL SELECT * FROM present)
       AND NOT EXISTS (SELECT * FROM present EXCEPT ALL SELECT * FROM wanted)
    INTO same;
    IF same THEN
        RETURN false;
    END IF;
    DELETE FROM revenue_entries WHERE source = p_source AND source_id = p_source_id;
    INSERT INTO revenue_entries (source, source_id, source_line, kind, month, amount_minor, currency, customer_id,
                                 stripe_customer_id, invoice_id, charge_id, service_start, service_end, occurred_at)
    SELECT p_source, p_source_id, e.source_line, e.kind, e.month, e.amount_minor, p_currency, p_customer_id,
           p_stripe_customer_id, p_invoice_id, p_charge_id, e.service_start, e.service_end, e.occurred_at
    FROM jsonb_to_recordset(p_entries) AS e(
        source_line text, kind text, month date, amount_minor bigint,
        service_start timestamptz, service_end timestamptz, occurred_at timestamptz)
    ORDER BY e.month, e.source_line, e.kind;
    RETURN true;
END
$$;

-- What the ledger holds, per currency and kind (backfill and import report the change they made).
CREATE FUNCTION revenue_totals() RETURNS TABLE (currency text, kind text, amount_minor numeric, entries bigint)
LANGUAGE sql STABLE AS $$
    SELECT currency, kind, sum(amount_minor), count(*) FROM revenue_entries GROUP BY 1, 2 ORDER BY 1, 2
$$;
