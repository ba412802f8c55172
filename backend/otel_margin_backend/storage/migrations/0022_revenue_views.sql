-- Revenue per otel-margin customer: what the P&L, dashboards, CLI and REST read.
--
-- Stripe entries carry the Stripe customer; the otel-margin customer is resolved here, at read time: the explicit
-- mapping (`otel-margin customers map`) first, then the customer's metadata value. So a mapping added later
-- moves every entry of that Stripe customer at once, with nothing rewritten. Entries that resolve to no customer
-- stay visible as '(unmapped)'.

CREATE VIEW revenue_entries_attributed AS
SELECT e.id, e.source, e.source_id, e.source_line, e.kind, e.month, e.amount_minor, e.currency,
       coalesce(e.customer_id, m.customer_id, nullif(c.metadata_customer_id, '')) AS customer_id,
       e.stripe_customer_id, e.invoice_id, e.charge_id, e.service_start, e.service_end, e.occurred_at, e.booked_at
FROM revenue_entries e
LEFT JOIN stripe_customer_map m ON m.stripe_customer_id = e.stripe_customer_id
LEFT JOIN stripe_customers c ON c.stripe_customer_id = e.stripe_customer_id;

COMMENT ON VIEW revenue_entries_attributed IS
    'revenue_entries with the otel-margin customer resolved (explicit mapping, then Stripe customer metadata).';

-- Per customer, UTC month and currency, in major units (12.34 USD, 1234 JPY), exact:
--   revenue   what was invoiced for the month's service, net of discounts, without tax
--   refunds   refunds, credit notes and lost disputes (negative), in the month they happened
--   net       revenue + refunds
--   discounts discounts given (negative; already inside revenue)
--   tax       tax collected less tax refunded (never part of revenue or net)
CREATE VIEW revenue_monthly AS
SELECT coalesce(customer_id, '(unmapped)') AS customer_id,
       (month::timestamp AT TIME ZONE 'UTC') AS month,
       currency,
       minor_to_major(coalesce(sum(amount_minor) FILTER (WHERE kind IN ('revenue', 'discount')), 0), currency)
           AS revenue,
       minor_to_major(coalesce(sum(amount_minor) FILTER (WHERE kind IN ('refund', 'credit_note', 'dispute')), 0),
                      currency) AS refunds,
       minor_to_major(coalesce(sum(amount_minor) FILTER (WHERE kind <> 'tax'), 0), currency) AS net,
       minor_to_major(coalesce(sum(amount_minor) FILTER (WHERE kind = 'discount'), 0), currency) AS discounts,
       minor_to_major(coalesce(sum(amount_minor) FILTER (WHERE kind = 'tax'), 0), currency) AS tax
FROM revenue_entries_attributed
GROUP BY 1, 2, 3;

COMMENT ON VIEW revenue_monthly IS
    'Recognized revenue per customer, UTC month and currency in major units; unmapped Stripe revenue as (unmapped).';

-- Stripe customers whose revenue resolves to no otel-margin customer (`otel-margin customers unmapped`).
CREATE VIEW stripe_customers_unmapped AS
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
GROUP BY 1, 2, 3, 4, 5;

-- Net revenue (minor units, without tax) booked for one Stripe customer, per currency (`customers map` reports it).
CREATE FUNCTION stripe_customer_revenue(p_stripe_customer_id text)
RETURNS TABLE (currency text, net_minor bigint, entries bigint)
LANGUAGE sql STABLE AS $$
    SELECT currency, coalesce(sum(amount_minor) FILTER (WHERE kind <> 'tax'), 0)::bigint, count(*)
    FROM revenue_entries WHERE stripe_customer_id = p_stripe_customer_id
    GROUP BY 1 ORDER BY 1
$$;
