-- What otel-margin knows about Stripe objects, so webhooks and backfill book each object once, in any order
-- (revenue/README.md). Bookings are keyed by Stripe object ids (in_..., ch_..., cn_..., du_...), never by event
-- ids: the same invoice reaching us by webhook and by backfill is booked once.

-- Every webhook event processed, recorded in the same transaction as its booking: a redelivered event id is
-- answered "duplicate" and books nothing.
CREATE TABLE stripe_events (
    event_id    text        PRIMARY KEY,
    type        text        NOT NULL,
    object_id   text,
    created     timestamptz NOT NULL,
    livemode    boolean     NOT NULL,
    api_version text,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome     text        NOT NULL
                CHECK (outcome IN ('booked', 'reversed', 'unchanged', 'stale', 'ignored', 'customer')),
    detail      text
);

CREATE INDEX stripe_events_received_idx ON stripe_events (received_at);

-- Webhook requests that were not processed (for the "Stripe webhook failures" dashboard panel).
CREATE TABLE stripe_webhook_failures (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL
                CHECK (reason IN ('not_configured', 'bad_signature', 'bad_payload', 'unavailable', 'error')),
    http_status integer     NOT NULL,
    message     text        NOT NULL,
    event_id    text,       -- set only once the signature was verified
    event_type  text
);

CREATE INDEX stripe_webhook_failures_received_idx ON stripe_webhook_failures (received_at);

-- Stripe customers seen in payloads, fetched from the API, or sent as customer.* events.
CREATE TABLE stripe_customers (
    stripe_customer_id   text        PRIMARY KEY,
    name                 text,
    email                text,
    metadata_customer_id text,       -- the configured metadata key's value (key customer_id by default)
    metadata_known       boolean     NOT NULL DEFAULT false,  -- false: only an invoice's name/email were seen
    deleted              boolean     NOT NULL DEFAULT false,
    observed_at          timestamptz NOT NULL,  -- when Stripe's object was in the recorded state
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Explicit mappings (`otel-margin customers map cus_... acct_123`); they win over customer metadata.
CREATE TABLE stripe_customer_map (
    stripe_customer_id text        PRIMARY KEY,
    customer_id        text        NOT NULL CHECK (customer_id <> ''),
    mapped_at          timestamptz NOT NULL DEFAULT now()
);

-- Invoices (state paid / void / uncollectible) and credit notes (issued / void): the latest state wins, by the
-- time Stripe says the state began; a state older than the recorded one is stale and changes nothing.
CREATE TABLE stripe_documents (
    object_id          text        PRIMARY KEY,
    object_type        text        NOT NULL CHECK (object_type IN ('invoice', 'credit_note')),
    stripe_customer_id text,
    currency           text        NOT NULL,
    total              bigint      NOT NULL,  -- invoice: after discounts, with all taxes
    tax                bigint      NOT NULL,  -- all taxes, inclusive and exclusive
    invoice_id         text,                  -- a credit note's invoice
    state              text        NOT NULL CHECK (state IN ('paid', 'void', 'uncollectible', 'issued')),
    state_at           timestamptz NOT NULL,
    state_rank         smallint    NOT NULL,  -- breaks ties at the same second: the state that can follow wins
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Which charges and payment intents paid which invoice (the invoice's payments, or the legacy invoice.charge /
-- invoice.payment_intent fields): refunds and disputes of a charge are split into revenue and tax like its invoice.
CREATE TABLE stripe_invoice_payments (
    payment_ref text PRIMARY KEY,  -- ch_... or pi_...
    invoice_id  text NOT NULL
);

CREATE INDEX stripe_invoice_payments_invoice_idx ON stripe_invoice_payments (invoice_id);

CREATE TABLE stripe_charges (
    charge_id          text        PRIMARY KEY,
    stripe_customer_id text,
    currency           text        NOT NULL,
    payment_intent_id  text,
    invoice_id         text,       -- as the charge says (API versions before 2025-03-31 have charge.invoice)
    refunded_booked    bigint      NOT NULL DEFAULT 0,  -- the charge's amount_refunded already booked
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Each increase of a charge's amount_refunded that was booked, dated when it happened.
CREATE TABLE stripe_refund_steps (
    charge_id   text        NOT NULL REFERENCES stripe_charges,
    refunded_to bigint      NOT NULL,  -- the charge's amount_refunded after this step
    amount      bigint      NOT NULL CHECK (amount > 0),
    occurred_at timestamptz NOT NULL,
    refund_id   text,
    PRIMARY KEY (charge_id, refunded_to)
);

-- Lost disputes (the only ones that change revenue).
CREATE TABLE stripe_disputes (
    dispute_id text        PRIMARY KEY,
    charge_id  text        NOT NULL REFERENCES stripe_charges,
    currency   text        NOT NULL,
    amount     bigint      NOT NULL,
    lost_at    timestamptz NOT NULL
);

-- Claim an event id for this transaction; false when it was processed before (or is being processed now: the
-- second claimant waits for the first to commit, then gets false).
CREATE FUNCTION stripe_event_claim(
    p_event_id text, p_type text, p_object_id text, p_created timestamptz, p_livemode boolean, p_api_version text
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stripe_events (event_id, type, object_id, created, livemode, api_version, outcome)
    VALUES (p_event_id, p_type, p_object_id, p_created, p_livemode, p_api_version, 'ignored')
    ON CONFLICT (event_id) DO NOTHING;
    RETURN FOUND;
END
$$;

CREATE FUNCTION stripe_event_finish(p_event_id text, p_outcome text, p_detail text) RETURNS void
LANGUAGE sql AS $$
    UPDATE stripe_events SET outcome = p_outcome, detail = p_detail WHERE event_id = p_event_id
$$;

CREATE FUNCTION stripe_event_seen(p_event_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT FROM stripe_events WHERE event_id = p_event_id)
$$;

CREATE FUNCTION stripe_webhook_failure_record(
    p_reason text, p_http_status integer, p_message text, p_event_id text, p_event_type text
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stripe_webhook_failures (reason, http_status, message, event_id, event_type)
    VALUES (p_reason, p_http_status, p_message, p_event_id, p_event_type)
$$;

-- Record what a payload or the API says about a customer. A full customer object (p_metadata_known) replaces an
-- older one; an invoice's snapshot (name and email only) fills gaps and never touches the metadata. Deletion sticks.
CREATE FUNCTION stripe_customer_observe(
    p_id text, p_name text, p_email text, p_metadata_customer_id text, p_metadata_known boolean,
    p_deleted boolean, p_observed_at timestamptz
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stripe_customers AS c (stripe_customer_id, name, email, metadata_customer_id, metadata_known,
                                       deleted, observed_at)
    VALUES (p_id, p_name, p_email, CASE WHEN p_metadata_known THEN p_metadata_customer_id END, p_metadata_known,
            p_deleted, p_observed_at)
    ON CONFLICT (stripe_customer_id) DO UPDATE SET
        name = CASE WHEN EXCLUDED.metadata_known AND (NOT c.metadata_known OR EXCLUDED.observed_at >= c.observed_at)
                    THEN coalesce(EXCLUDED.name, c.name) ELSE coalesce(c.name, EXCLUDED.name) END,
        email = CASE WHEN EXCLUDED.metadata_known AND (NOT c.metadata_known OR EXCLUDED.observed_at >= c.observed_at)
                     THEN coalesce(EXCLUDED.email, c.email) ELSE coalesce(c.email, EXCLUDED.email) END,
        metadata_customer_id = CASE
            WHEN EXCLUDED.metadata_known AND (NOT c.metadata_known OR EXCLUDED.observed_at >= c.observed_at)
            THEN EXCLUDED.metadata_customer_id ELSE c.metadata_customer_id END,
        observed_at = CASE
            WHEN EXCLUDED.metadata_known AND (NOT c.metadata_known OR EXCLUDED.observed_at >= c.observed_at)
            THEN EXCLUDED.observed_at ELSE c.observed_at END,
        metadata_known = c.metadata_known OR EXCLUDED.metadata_known,
        deleted = c.deleted OR EXCLUDED.deleted,
        updated_at = now()
$$;

-- True when the customer's metadata was never seen (so the API should be asked, if it can be).
CREATE FUNCTION stripe_customer_needs_lookup(p_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT FROM stripe_customers WHERE stripe_customer_id = p_id AND metadata_known)
$$;

-- Map a Stripe customer to an otel-margin customer id; returns the previous mapping (NULL if none).
CREATE FUNCTION stripe_customer_map_set(p_stripe_customer_id text, p_customer_id text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    previous text;
BEGIN
    SELECT customer_id INTO previous FROM stripe_customer_map WHERE stripe_customer_id = p_stripe_customer_id
    FOR UPDATE;
    INSERT INTO stripe_customer_map (stripe_customer_id, customer_id) VALUES (p_stripe_customer_id, p_customer_id)
    ON CONFLICT (stripe_customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, mapped_at = now();
    RETURN previous;
END
$$;

-- Move a document to a new state unless the recorded one is newer. Returns the previous state ('none' for a
-- document not seen before), or 'stale' when nothing changed because the recorded state is newer.
CREATE FUNCTION stripe_document_transition(
    p_object_id text, p_object_type text, p_stripe_customer_id text, p_currency text, p_total bigint, p_tax bigint,
    p_invoice_id text, p_state text, p_state_at timestamptz, p_state_rank integer
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    cur stripe_documents%ROWTYPE;
    previous text := 'none';
BEGIN
    SELECT * INTO cur FROM stripe_documents WHERE object_id = p_object_id FOR UPDATE;
    IF FOUND THEN
        IF (cur.state_at, cur.state_rank) > (p_state_at, p_state_rank) THEN
            RETURN 'stale';
        END IF;
        previous := cur.state;
    END IF;
    INSERT INTO stripe_documents (object_id, object_type, stripe_customer_id, currency, total, tax, invoice_id,
                                  state, state_at, state_rank)
    VALUES (p_object_id, p_object_type, p_stripe_customer_id, p_currency, p_total, p_tax, p_invoice_id,
            p_state, p_state_at, p_state_rank)
    ON CONFLICT (object_id) DO UPDATE SET
        stripe_customer_id = coalesce(EXCLUDED.stripe_customer_id, stripe_documents.stripe_customer_id),
        currency = EXCLUDED.currency, total = EXCLUDED.total, tax = EXCLUDED.tax,
        invoice_id = coalesce(EXCLUDED.invoice_id, stripe_documents.invoice_id),
        state = EXCLUDED.state, state_at = EXCLUDED.state_at, state_rank = EXCLUDED.state_rank, updated_at = now();
    RETURN previous;
END
$$;

CREATE FUNCTION stripe_invoice_link(p_invoice_id text, p_refs text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stripe_invoice_payments (payment_ref, invoice_id)
    SELECT DISTINCT ref, p_invoice_id FROM unnest(p_refs) AS ref WHERE ref IS NOT NULL AND ref <> ''
    ORDER BY 1
    ON CONFLICT (payment_ref) DO UPDATE SET invoice_id = EXCLUDED.invoice_id
$$;

-- Record a charge (filling in what this payload knows); returns its amount_refunded already booked.
CREATE FUNCTION stripe_charge_observe(
    p_charge_id text, p_stripe_customer_id text, p_currency text, p_payment_intent_id text, p_invoice_id text
) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO stripe_charges AS c (charge_id, stripe_customer_id, currency, payment_intent_id, invoice_id)
    VALUES (p_charge_id, p_stripe_customer_id, p_currency, p_payment_intent_id, p_invoice_id)
    ON CONFLICT (charge_id) DO UPDATE SET
        stripe_customer_id = coalesce(EXCLUDED.stripe_customer_id, c.stripe_customer_id),
        payment_intent_id = coalesce(EXCLUDED.payment_intent_id, c.payment_intent_id),
        invoice_id = coalesce(EXCLUDED.invoice_id, c.invoice_id),
        updated_at = now()
    RETURNING refunded_booked
$$;

-- Add booked refund steps (a JSON array of {refunded_to, amount, occurred_at, refund_id}) and raise the charge's
-- high-water mark to the largest refunded_to.
CREATE FUNCTION stripe_refunds_add(p_charge_id text, p_steps jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stripe_refund_steps (charge_id, refunded_to, amount, occurred_at, refund_id)
    SELECT p_charge_id, s.refunded_to, s.amount, s.occurred_at, s.refund_id
    FROM jsonb_to_recordset(p_steps) AS s(refunded_to bigint, amount bigint, occurred_at timestamptz, refund_id text)
    ON CONFLICT (charge_id, refunded_to) DO NOTHING;
    UPDATE stripe_charges
    SET refunded_booked = greatest(refunded_booked,
                                   (SELECT max(s.refunded_to) FROM jsonb_to_recordset(p_steps) AS s(refunded_to bigint))),
        updated_at = now()
    WHERE charge_id = p_charge_id;
$$;

-- Record a lost dispute; false when it was recorded before.
CREATE FUNCTION stripe_dispute_lost(
    p_dispute_id text, p_charge_id text, p_currency text, p_amount bigint, p_lost_at timestamptz
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stripe_disputes (dispute_id, charge_id, currency, amount, lost_at)
    VALUES (p_dispute_id, p_charge_id, p_currency, p_amount, p_lost_at)
    ON CONFLICT (dispute_id) DO NOTHING;
    RETURN FOUND;
END
$$;

-- A charge's customer and currency, and the invoice it paid with that invoice's total and tax when known.
CREATE FUNCTION stripe_charge_context(p_charge_id text)
RETURNS TABLE (stripe_customer_id text, currency text, invoice_id text, invoice_total bigint, invoice_tax bigint)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(c.stripe_customer_id, d.stripe_customer_id), c.currency, l.invoice_id, d.total, d.tax
    FROM stripe_charges c
    CROSS JOIN LATERAL (
        SELECT coalesce(
            c.invoice_id,
            (SELECT p.invoice_id FROM stripe_invoice_payments p WHERE p.payment_ref = c.charge_id),
            (SELECT p.invoice_id FROM stripe_invoice_payments p WHERE p.payment_ref = c.payment_intent_id)
        ) AS invoice_id
    ) l
    LEFT JOIN stripe_documents d ON d.object_id = l.invoice_id AND d.object_type = 'invoice'
    WHERE c.charge_id = p_charge_id
$$;

-- The refund steps and lost disputes of a charge, in a stable order.
CREATE FUNCTION stripe_charge_adjustments(p_charge_id text)
RETURNS TABLE (kind text, source_id text, refunded_to bigint, amount bigint, occurred_at timestamptz, currency text)
LANGUAGE sql STABLE AS $$
    SELECT 'refund', s.charge_id, s.refunded_to, s.amount, s.occurred_at, c.currency
    FROM stripe_refund_steps s JOIN stripe_charges c USING (charge_id)
    WHERE s.charge_id = p_charge_id
    UNION ALL
    SELECT 'dispute', d.dispute_id, NULL, d.amount, d.lost_at, d.currency
    FROM stripe_disputes d WHERE d.charge_id = p_charge_id
    ORDER BY 1, 2, 3
$$;

-- Charges that paid an invoice (to re-split their refunds once the invoice is known).
CREATE FUNCTION stripe_invoice_charges(p_invoice_id text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT c.charge_id FROM stripe_charges c
    WHERE c.invoice_id = p_invoice_id
       OR EXISTS (SELECT FROM stripe_invoice_payments p
                  WHERE p.invoice_id = p_invoice_id AND p.payment_ref IN (c.charge_id, c.payment_intent_id))
    ORDER BY 1
$$;
