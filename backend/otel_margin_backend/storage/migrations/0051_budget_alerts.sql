-- Threshold crossings of budgets, and the outbox of webhook notifications (budgets/README.md).
--
-- budget_evaluate() records a crossing once: at most one open alert per budget, period and severity. It resolves
-- an open alert when its period has ended ('period_rolled_over'), when the spend is below the threshold again
-- ('spend_fell_back', e.g. usage deleted or repriced), when a percent-of-revenue limit grew past the spend
-- ('limit_raised'), or when the budget is changed ('budget_changed') or removed ('budget_removed'). Every new
-- crossing and every resolution queues one notification in the same transaction, so none is lost or queued twice.

CREATE TABLE budget_alerts (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    budget              text        NOT NULL,  -- budgets.name; no foreign key: the history outlives the budget
    scope               jsonb       NOT NULL,
    scope_label         text        NOT NULL,
    period              text        NOT NULL CHECK (period IN ('month', 'day')),
    period_start        timestamptz NOT NULL,
    period_end          timestamptz NOT NULL,
    severity            text        NOT NULL CHECK (severity IN ('warning', 'critical', 'exceeded')),
    threshold_percent   numeric     NOT NULL,
    currency            text        NOT NULL,
    crossed_at          timestamptz NOT NULL,
    spend_at_crossing   numeric     NOT NULL,
    limit_at_crossing   numeric     NOT NULL,
    resolved_at         timestamptz,
    resolution          text        CHECK (resolution IN ('period_rolled_over', 'spend_fell_back', 'limit_raised',
                                                          'budget_changed', 'budget_removed')),
    spend_at_resolution numeric,   -- NULL when it could not be measured (budget removed, no exchange rate)
    limit_at_resolution numeric,
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);

CREATE UNIQUE INDEX budget_alerts_open_idx ON budget_alerts (budget, period_start, severity) WHERE resolved_at IS NULL;
CREATE INDEX budget_alerts_budget_idx ON budget_alerts (budget, crossed_at DESC);

COMMENT ON TABLE budget_alerts IS
    'Budget threshold crossings, at most one open per budget, period and severity, with how each was resolved.';

-- The outbox: one row per crossing and per resolution, delivered to the webhook in id order.
CREATE TABLE budget_notifications (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        bigint      NOT NULL REFERENCES budget_alerts (id),
    event           text        NOT NULL CHECK (event IN ('crossed', 'resolved')),
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    UNIQUE (alert_id, event)
);

CREATE INDEX budget_notifications_pending_idx ON budget_notifications (id) WHERE state = 'pending';

COMMENT ON TABLE budget_notifications IS
    'Webhook outbox: one notification per budget alert crossing or resolution, with its delivery state.';

-- A timestamp as ISO 8601 in UTC with a Z, whatever the session's TimeZone.
CREATE FUNCTION budget_iso(p_t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(p_t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN extract(microseconds FROM p_t)::bigint % 1000000 = 0 THEN ''
                   ELSE to_char(p_t AT TIME ZONE 'UTC', '.US') END
           || 'Z'
$$;

-- The webhook payload of a crossing or resolution, fixed when it is queued. Money and percentages are strings
-- holding exact decimals (JSON numbers are binary floats for most consumers).
CREATE FUNCTION budget_alert_payload(a budget_alerts, p_event text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'event', 'budget.threshold_' || p_event,
        'alert_id', a.id,
        'budget', a.budget,
        'scope', a.scope,
        'scope_label', a.scope_label,
        'period', jsonb_build_object('kind', a.period, 'start', budget_iso(a.period_start),
                                     'end', budget_iso(a.period_end)),
        'severity', a.severity,
        'threshold_percent', trim_scale(a.threshold_percent)::text,
        'currency', a.currency,
        'spend', trim_scale(x.spend)::text,
        'limit', trim_scale(x.lim)::text,
        'percent', CASE WHEN x.lim > 0 THEN trim_scale(trunc(x.spend * 100 / x.lim, 2))::text END,
        'crossed_at', budget_iso(a.crossed_at),
        'resolved_at', budget_iso(a.resolved_at),
        'resolution', a.resolution)
    FROM (SELECT CASE p_event WHEN 'crossed' THEN a.spend_at_crossing ELSE a.spend_at_resolution END AS spend,
                 CASE p_event WHEN 'crossed' THEN a.limit_at_crossing ELSE a.limit_at_resolution END AS lim) x
$$;

-- The threshold (percent of the limit) a budget sets for a severity; NULL when that threshold is off.
CREATE FUNCTION budget_threshold(b budgets, p_severity text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_severity WHEN 'warning' THEN b.warning_percent
                           WHEN 'critical' THEN b.critical_percent
                           ELSE b.exceeded_percent END
$$;

-- Resolve one open alert and queue its notification.
CREATE FUNCTION budget_alert_resolve(p_alert_id bigint, p_reason text, p_at timestamptz, p_spend numeric,
                                     p_limit numeric) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a budget_alerts;
BEGIN
    UPDATE budget_alerts
    SET resolved_at = p_at, resolution = p_reason, spend_at_resolution = p_spend, limit_at_resolution = p_limit
    WHERE id = p_alert_id AND resolved_at IS NULL
    RETURNING * INTO a;
    IF FOUND THEN
        INSERT INTO budget_notifications (alert_id, event, payload)
        VALUES (a.id, 'resolved', budget_alert_payload(a, 'resolved'));
    END IF;
END
$$;

-- Resolve every open alert of a budget (before it is changed or removed); returns how many. p_at NULL means the
-- database clock once the lock is held.
CREATE FUNCTION budget_resolve_open(p_budget text, p_reason text, p_at timestamptz DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    a budget_alerts;
    b budgets;
    v_spend numeric;
    v_limit numeric;
    n integer := 0;
BEGIN
    PERFORM budget_lock();
    p_at := coalesce(p_at, clock_timestamp());
    SELECT * INTO b FROM budgets WHERE name = p_budget;
    FOR a IN SELECT * FROM budget_alerts WHERE budget = p_budget AND resolved_at IS NULL ORDER BY id LOOP
        v_spend := NULL;
        v_limit := NULL;
        IF b.name IS NOT NULL THEN
            SELECT m.spend, m.limit_amount INTO v_spend, v_limit FROM budget_measure(b, a.period_start, a.period_end) m;
        END IF;
        PERFORM budget_alert_resolve(a.id, p_reason, p_at, v_spend, v_limit);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Evaluate every budget as of p_at: resolve open alerts that no longer hold, then record each threshold newly
-- reached in the current period. Idempotent: evaluating again with nothing changed records nothing.
--
-- p_at NULL (the default) means the database clock read once the lock is held, so evaluations from several
-- processes see time in the order they run (the transaction's now() may lag behind an evaluation that won the
-- lock first, and an evaluation still in November must not reopen alerts December has rolled over).
CREATE FUNCTION budget_evaluate(p_at timestamptz DEFAULT NULL, OUT crossed integer, OUT resolved integer)
LANGUAGE plpgsql AS $$
DECLARE
    a budget_alerts;
    b budgets;
    s record;
    v_severity text;
    v_percent numeric;
    v_spend numeric;
    v_limit numeric;
    v_reason text;
    v_resolved_at timestamptz;
BEGIN
    crossed := 0;
    resolved := 0;
    PERFORM budget_lock();
    p_at := coalesce(p_at, clock_timestamp());

    FOR a IN SELECT * FROM budget_alerts WHERE resolved_at IS NULL AND period_start <= p_at ORDER BY id LOOP
        v_spend := NULL;
        v_limit := NULL;
        v_reason := NULL;
        v_resolved_at := p_at;
        SELECT * INTO b FROM budgets WHERE name = a.budget;
        IF NOT FOUND THEN
            v_reason := 'budget_removed';
        ELSE
            SELECT m.spend, m.limit_amount INTO v_spend, v_limit FROM budget_measure(b, a.period_start, a.period_end) m;
            v_percent := budget_threshold(b, a.severity);
            IF a.period_end <= p_at THEN
                v_reason := 'period_rolled_over';
                v_resolved_at := a.period_end;
            ELSIF a.period_start <> (budget_period_bounds(b.period, p_at)).period_start OR v_percent IS NULL THEN
                v_reason := 'budget_changed';
            ELSIF v_spend IS NOT NULL AND NOT budget_crossed(v_spend, v_limit, v_percent) THEN
                v_reason := CASE WHEN budget_crossed(v_spend, a.limit_at_crossing, v_percent) THEN 'limit_raised'
                                 ELSE 'spend_fell_back' END;
            END IF;
        END IF;
        IF v_reason IS NOT NULL THEN
            PERFORM budget_alert_resolve(a.id, v_reason, v_resolved_at, v_spend, v_limit);
            resolved := resolved + 1;
        END IF;
    END LOOP;

    FOR s IN SELECT * FROM budget_status_at(p_at) st WHERE st.spend IS NOT NULL ORDER BY st.budget LOOP
        FOREACH v_severity IN ARRAY ARRAY['warning', 'critical', 'exceeded'] LOOP
            v_percent := CASE v_severity WHEN 'warning' THEN s.warning_percent
                                         WHEN 'critical' THEN s.critical_percent
                                         ELSE s.exceeded_percent END;
            CONTINUE WHEN v_percent IS NULL OR NOT budget_crossed(s.spend, s.limit_amount, v_percent);
            INSERT INTO budget_alerts (budget, scope, scope_label, period, period_start, period_end, severity,
                                       threshold_percent, currency, crossed_at, spend_at_crossing, limit_at_crossing)
            VALUES (s.budget, s.scope, s.scope_label, s.period, s.period_start, s.period_end, v_severity,
                    v_percent, s.currency, p_at, s.spend, s.limit_amount)
            ON CONFLICT (budget, period_start, severity) WHERE resolved_at IS NULL DO NOTHING
            RETURNING * INTO a;
            IF FOUND THEN
                INSERT INTO budget_notifications (alert_id, event, payload)
                VALUES (a.id, 'crossed', budget_alert_payload(a, 'crossed'));
                crossed := crossed + 1;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
