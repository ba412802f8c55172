-- Refunds known by their id, pre-basil credit notes waiting for their refund, and what Stripe bookings lack
-- (revenue/README.md, "Refunds" and "Missing data"). Shipped migrations stay as they are: 0021 keeps the charges'
-- amount_refunded steps, which are still recorded; this adds the refunds themselves beside them.

-- Every refund seen (refund.created / refund.updated / refund.failed / charge.refund.updated events, a charge's
-- listed refunds, backfill, or the API), in its latest state. A charge's refund entries are rebuilt from these and
-- from its amount_refunded steps (entries.charge_bookings), so the same refund reaching us by any of those paths,
-- in any order, counts once.
CREATE TABLE stripe_refunds (
    refund_id   text        PRIMARY KEY,
    charge_id   text        NOT NULL REFERENCES stripe_charges,
    amount      bigint      NOT NULL CHECK (amount >= 0),
    status      text,       -- failed and canceled refunds do not count
    created     timestamptz NOT NULL,
    observed_at timestamptz NOT NULL,  -- when Stripe's object was in this state (the event's time, or when fetched)
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX stripe_refunds_charge_idx ON stripe_refunds (charge_id);

-- Record a refund as Stripe showed it at p_observed_at. An older observation changes nothing; at the same second
-- a final status (succeeded, failed, canceled) wins over pending / requires_action. True when its amount or status
-- changed (or it is new).
CREATE FUNCTION stripe_refund_observe(
    p_refund_id text, p_charge_id text, p_amount bigint, p_status text, p_created timestamptz,
    p_observed_at timestamptz
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    known stripe_refunds%ROWTYPE;
    final_now boolean := coalesce(p_status, '') IN ('succeeded', 'failed', 'canceled');
BEGIN
    SELECT * INTO known FROM stripe_refunds WHERE refund_id = p_refund_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO stripe_refunds (refund_id, charge_id, amount, status, created, observed_at)
        VALUES (p_refund_id, p_charge_id, p_amount, p_status, p_created, p_observed_at);
        RETURN true;
    END IF;
    IF p_observed_at < known.observed_at
       OR (p_observed_at = known.observed_at
           AND (NOT final_now OR coalesce(known.status, '') IN ('succeeded', 'failed', 'canceled'))) THEN
        RETURN false;
    END IF;
    UPDATE stripe_refunds SET amount = p_amount, status = p_status, observed_at = p_observed_at, updated_at = now()
    WHERE refund_id = p_refund_id;
    RETURN (known.amount, known.status) IS DISTINCT FROM (p_amount, p_status);
END
$$;

-- A charge's refunds, in a stable order.
CREATE FUNCTION stripe_charge_refunds(p_charge_id text)
RETURNS TABLE (refund_id text, amount bigint, status text, created timestamptz, observed_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT r.refund_id, r.amount, r.status, r.created, r.observed_at FROM stripe_refunds r
    WHERE r.charge_id = p_charge_id ORDER BY r.created, r.refund_id
$$;

-- One refund (its charge, amount, status, created), if known.
CREATE FUNCTION stripe_refund_get(p_refund_id text)
RETURNS TABLE (charge_id text, amount bigint, status text, created timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT r.charge_id, r.amount, r.status, r.created FROM stripe_refunds r WHERE r.refund_id = p_refund_id
$$;

-- Credit notes of API versions before 2025-03-31 that name a refund (credit_note.refund) without saying how much
-- of the credit note it paid back, kept as booked so they can be booked again once the refund is known.
CREATE TABLE stripe_credit_note_refunds (
    credit_note_id text        PRIMARY KEY REFERENCES stripe_documents (object_id),
    refund_id      text        NOT NULL,
    note           jsonb       NOT NULL,  -- the credit note (stripe_objects.CreditNote), to book it again
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX stripe_credit_note_refunds_refund_idx ON stripe_credit_note_refunds (refund_id);

CREATE FUNCTION stripe_credit_note_refund_wait(p_credit_note_id text, p_refund_id text, p_note jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stripe_credit_note_refunds AS w (credit_note_id, refund_id, note)
    VALUES (p_credit_note_id, p_refund_id, p_note)
    ON CONFLICT (credit_note_id) DO UPDATE SET refund_id = EXCLUDED.refund_id, note = EXCLUDED.note,
                                               updated_at = now()
$$;

-- The issued credit notes waiting for a refund.
CREATE FUNCTION stripe_credit_notes_waiting_for(p_refund_id text) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $$
    SELECT w.note FROM stripe_credit_note_refunds w
    JOIN stripe_documents d ON d.object_id = w.credit_note_id AND d.state = 'issued'
    WHERE w.refund_id = p_refund_id
    ORDER BY w.credit_note_id
$$;

-- Why a booking could not be exact: a lost dispute whose charge is unknown (booked whole, without a customer),
-- or a credit note whose refunded part is unknown (only the part surely not refunded is booked).
CREATE TABLE stripe_missing_data (
    object_id          text        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('dispute_charge', 'credit_note_refund')),
    stripe_customer_id text,
    currency           text        NOT NULL,
    amount_minor       bigint      NOT NULL,  -- what is booked inexactly: the dispute, the credit note's unknown part
    reason             text        NOT NULL,
    noted_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object_id, kind)
);

CREATE FUNCTION stripe_missing_data_note(
    p_object_id text, p_kind text, p_stripe_customer_id text, p_currency text, p_amount_minor bigint, p_reason text
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stripe_missing_data AS m (object_id, kind, stripe_customer_id, currency, amount_minor, reason)
    VALUES (p_object_id, p_kind, p_stripe_customer_id, p_currency, p_amount_minor, p_reason)
    ON CONFLICT (object_id, kind) DO UPDATE SET
        stripe_customer_id = EXCLUDED.stripe_customer_id, currency = EXCLUDED.currency,
        amount_minor = EXCLUDED.amount_minor, reason = EXCLUDED.reason, noted_at = now()
$$;

-- What is still missing: a noted dispute while its charge has neither a customer nor an invoice, a noted credit
-- note while it is issued and its refund unknown. Resolved rows drop out by themselves (nothing to clean up).
CREATE VIEW stripe_booking_issues AS
SELECT m.kind, m.object_id, 'dispute'::text AS object_type, d.charge_id AS related_id,
       coalesce(x.stripe_customer_id, m.stripe_customer_id) AS stripe_customer_id, m.currency, m.amount_minor,
       minor_to_major(m.amount_minor, m.currency) AS amount, m.reason, m.noted_at
FROM stripe_missing_data m
JOIN stripe_disputes d ON d.dispute_id = m.object_id
LEFT JOIN LATERAL stripe_charge_context(d.charge_id) x ON true
WHERE m.kind = 'dispute_charge' AND x.stripe_customer_id IS NULL AND x.invoice_id IS NULL
UNION ALL
SELECT m.kind, m.object_id, 'credit_note', w.refund_id, m.stripe_customer_id, m.currency, m.amount_minor,
       minor_to_major(m.amount_minor, m.currency), m.reason, m.noted_at
FROM stripe_missing_data m
JOIN stripe_credit_note_refunds w ON w.credit_note_id = m.object_id
JOIN stripe_documents doc ON doc.object_id = m.object_id AND doc.state = 'issued'
WHERE m.kind = 'credit_note_refund' AND NOT EXISTS (SELECT FROM stripe_refunds r WHERE r.refund_id = w.refund_id);

COMMENT ON VIEW stripe_booking_issues IS
    'Stripe bookings that are not exact, with the reason and what to do (otel-margin customers unmapped).';

-- Unmapped Stripe revenue as in 0022, plus why some of it cannot be mapped or split (the reasons of its open
-- booking issues, e.g. a lost dispute on a charge no event named while no API key is set).
CREATE OR REPLACE VIEW stripe_customers_unmapped AS
SELECT u.*,
       (SELECT string_agg(i.object_id || ': ' || i.reason, '; ' ORDER BY i.object_id)
        FROM stripe_booking_issues i
        WHERE coalesce(i.stripe_customer_id, '(none)') = u.stripe_customer_id AND i.currency = u.currency) AS issues
FROM (
    SELECT coalesce(e.stripe_customer_id, '(none)') AS stripe_customer_id,
           c.name, c.email, coalesce(c.metadata_known, false) AS metadata_known,
           e.currency,
           sum(e.amount_minor) FILTER (WHERE e.kind <> 'tax') AS net_minor,
           minor_to_major(coalesce(sum(e.amount_minor) FILTER (WHERE e.kind <> 'tax'), 0), e.currency) AS net,
           count(DISTINCT e.source_id) AS documents,
           (min(e.month)::timestamp AT TIME ZONE 'UTC') AS first_month,
           (max(e.month)::timestamp AT TIME ZONE 'UTC') AS last_month
    FROM revenue_entries_attributed e
    LEFT JOIN stripe_customers c ON c.stripe_customer_id = e.stripe_customer_id
    WHERE e.customer_id IS NULL
    GROUP BY 1, 2, 3, 4, 5
) u;
