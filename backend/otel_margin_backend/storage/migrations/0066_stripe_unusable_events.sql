-- Signed Stripe events the backend cannot use, and a cap on the webhook's failure log (revenue/README.md,
-- "Hostile input"; docs/limits.md). Shipped migrations stay as they are: 0021's failure table keeps its shape, its
-- record function is replaced by one that prunes.

-- A correctly signed delivery whose body revenue cannot book (not an event, a field of the wrong type, a NUL
-- byte, a time no calendar holds, ...). It is acknowledged with 200 so that Stripe stops redelivering it, and kept
-- here with its reason for `otel-margin stripe unusable`. Nothing of it is booked and its event id is not claimed:
-- once the cause is fixed, a resend from Stripe's dashboard books it.
CREATE TABLE stripe_unusable_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    event_id    text,       -- NULL when the body has no usable id
    event_type  text,
    reason      text        NOT NULL
);

CREATE INDEX stripe_unusable_events_received_idx ON stripe_unusable_events (received_at);

-- Record an unusable event, then keep only the newest p_keep rows and none older than p_keep_days.
CREATE FUNCTION stripe_unusable_record(
    p_event_id text, p_event_type text, p_reason text, p_keep integer, p_keep_days integer
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    INSERT INTO stripe_unusable_events (event_id, event_type, reason)
    VALUES (p_event_id, p_event_type, p_reason)
    RETURNING id INTO newest;
    DELETE FROM stripe_unusable_events
    WHERE id <= newest - p_keep OR received_at < now() - make_interval(days => p_keep_days);
END
$$;

-- The failure log (0021) keeps the newest 10,000 rows and 90 days: unsigned requests are anyone's to send, so the
-- table must not grow with them. The webhook also records at most a few failures per second (revenue/routes.py).
CREATE OR REPLACE FUNCTION stripe_webhook_failure_record(
    p_reason text, p_http_status integer, p_message text, p_event_id text, p_event_type text
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    INSERT INTO stripe_webhook_failures (reason, http_status, message, event_id, event_type)
    VALUES (p_reason, p_http_status, p_message, p_event_id, p_event_type)
    RETURNING id INTO newest;
    DELETE FROM stripe_webhook_failures
    WHERE id <= newest - 10000 OR received_at < now() - interval '90 days';
END
$$;
